"""One exception tree for the whole lab, so callers (the Pulumi program, the CLI) can map it to exit codes."""

from __future__ import annotations

from collections.abc import Sequence


class ChaosLabError(Exception):
    """Base of every error the lab raises on purpose."""


class ConfigError(ChaosLabError):
    """Stack configuration that cannot be used; lists every problem found, not just the first."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        listing = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"invalid chaos-lab configuration ({len(self.problems)} problem(s)):\n{listing}")


class ExperimentError(ChaosLabError):
    """An experiment that cannot be rendered or run as asked."""
