"""Fakes of the two interfaces `run` talks to, for orchestration tests.

FakeStack keeps config the way `pulumi config` does (objects as JSON text; with path=True, "true"
and "false" become booleans) and, on `up`, tells the test which experiments are now enabled, so a
test can make its local app server misbehave as the chaos would. FakeWatcher answers at once and
records when `halt` was called.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from chaoslab.cluster import ChaosTarget, Observation
from chaoslab.display import Progress
from chaoslab.stack import UpdateOutcome


def _split(key: str) -> tuple[str, list[str]]:
    parts = key.split(".")
    return parts[0], parts[1:]


class FakeStack:
    def __init__(
        self,
        config: dict[str, str],
        *,
        on_up: Callable[[set[str]], None] = lambda enabled: None,
        failing_up_calls: frozenset[int] = frozenset(),
    ) -> None:
        self.name = "test"
        self.config = dict(config)
        self.calls: list[tuple[Any, ...]] = []
        self._on_up = on_up
        self._failing_up_calls = failing_up_calls  # 1-based numbers of the `up` calls that fail
        self._ups = 0

    def get_all_config(self) -> dict[str, str]:
        return dict(self.config)

    def set_config(self, key: str, value: str, *, path: bool) -> None:
        self.calls.append(("set_config", key, value, path))
        top, rest = _split(key)
        if not rest:  # a top-level key, e.g. chaos-lab:halted: get_all_config gives it as text
            self.config[top] = value
            return
        tree = json.loads(self.config.get(top, "{}"))
        node = tree
        for part in rest[:-1]:
            node = node.setdefault(part, {})
        node[rest[-1]] = {"true": True, "false": False}.get(value, value)
        self.config[top] = json.dumps(tree)

    def remove_config(self, key: str, *, path: bool) -> None:
        self.calls.append(("remove_config", key, path))
        top, rest = _split(key)
        if not rest:
            self.config.pop(top, None)  # as `pulumi config rm` does, a key that is not set is fine
            return
        tree = json.loads(self.config[top])
        node = tree
        for part in rest[:-1]:
            node = node[part]
        del node[rest[-1]]
        self.config[top] = json.dumps(tree)

    def up(self, message: str) -> UpdateOutcome:
        self._ups += 1
        self.calls.append(("up", message))
        if self._ups in self._failing_up_calls:
            raise RuntimeError(f"pulumi up #{self._ups} failed: error: update failed")
        experiments = json.loads(self.config.get("chaos-lab:experiments", "{}"))
        enabled = {name for name, entry in experiments.items() if entry.get("enabled") is True}
        self._on_up(enabled)
        return UpdateOutcome("succeeded", self._ups, {"same": 40, "create" if enabled else "delete": 1})

    def outputs(self) -> dict[str, Any]:
        return {}


class FakeWatcher:
    def __init__(self, *, on_wait_injected: Callable[[], None] = lambda: None) -> None:
        self.calls: list[tuple[str, ChaosTarget]] = []
        self._on_wait_injected = on_wait_injected

    def wait_injected(self, target: ChaosTarget, timeout_s: float) -> Observation:
        self.calls.append(("wait_injected", target))
        self._on_wait_injected()
        return Observation("injected", {"Selected": "True", "AllInjected": "True"}, 0.0)

    def wait_recovered(self, target: ChaosTarget, timeout_s: float) -> Observation:
        self.calls.append(("wait_recovered", target))
        return Observation("gone", {}, 0.0)

    def halt(self, target: ChaosTarget) -> float:
        self.calls.append(("halt", target))
        return time.monotonic()


def press_ctrl_c() -> None:
    raise KeyboardInterrupt


class CtrlCDisplay:
    """Presses Ctrl-C at the first progress update, from the probe's own (main) thread, as a
    terminal's SIGINT would arrive."""

    def note(self, text: str) -> None:
        pass

    def progress(self, label: str, progress: Progress) -> None:
        raise KeyboardInterrupt

    def done(self) -> None:
        pass
