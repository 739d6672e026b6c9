"""The stack, as `run` needs it: read its config, switch one experiment's config, run `up`.

`StackDriver` is what the orchestration talks to; `AutomationStack` is the real one, on the Pulumi
Automation API, which drives the `pulumi` CLI (so the CLI must be installed and logged in to the
stack's backend).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from chaoslab.experiments.errors import MissingTool

from .errors import UsageError


@dataclass(frozen=True)
class UpdateOutcome:
    """What one `pulumi up` did, for the run's journal and report."""

    result: str  # "succeeded", or how it ended otherwise
    version: int | None  # the stack's update number
    resource_changes: Mapping[str, int]  # e.g. {"create": 1, "same": 42}

    def to_dict(self) -> dict[str, Any]:
        return {"result": self.result, "version": self.version, "resource_changes": dict(self.resource_changes)}


class StackDriver(Protocol):
    name: str

    def get_all_config(self) -> dict[str, str]:
        """Every config value of the stack as the CLI prints it: objects as JSON text."""

    def set_config(self, key: str, value: str, *, path: bool) -> None:
        """With path=True, "true"/"false" are stored as booleans and whole numbers as numbers."""

    def remove_config(self, key: str, *, path: bool) -> None: ...

    def up(self, message: str) -> UpdateOutcome: ...

    def outputs(self) -> dict[str, Any]: ...


class AutomationStack:
    """A stack of the Pulumi project in `work_dir`, through the Automation API."""

    def __init__(self, stack: Any) -> None:
        self._stack = stack
        self.name: str = stack.name

    @classmethod
    def select(cls, stack_name: str, work_dir: Path) -> AutomationStack:
        """Raises MissingTool when the pulumi CLI is missing, UsageError when there is no such stack."""
        # Imported here: `probe` and `report` must work where only the CLI's light dependencies are.
        from pulumi import automation

        if shutil.which("pulumi") is None:
            raise MissingTool(
                "pulumi",
                "the Automation API drives it: install it from https://www.pulumi.com/docs/install/ "
                "and log in to the stack's backend",
            )
        try:
            return cls(automation.select_stack(stack_name=stack_name, work_dir=str(work_dir)))
        except automation.StackNotFoundError:
            raise UsageError(
                f"stack {stack_name!r} not found in {work_dir}; list them with `pulumi stack ls`"
            ) from None

    def get_all_config(self) -> dict[str, str]:
        return {key: value.value for key, value in self._stack.get_all_config().items()}

    def set_config(self, key: str, value: str, *, path: bool) -> None:
        from pulumi.automation import ConfigValue

        self._stack.set_config(key, ConfigValue(value=value), path=path)

    def remove_config(self, key: str, *, path: bool) -> None:
        self._stack.remove_config(key, path=path)

    def up(self, message: str) -> UpdateOutcome:
        summary = self._stack.up(message=message).summary
        return UpdateOutcome(
            result=summary.result,
            version=summary.version,
            resource_changes=dict(summary.resource_changes or {}),
        )

    def outputs(self) -> dict[str, Any]:
        return {key: output.value for key, output in self._stack.outputs().items()}
