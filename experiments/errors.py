"""One exception tree for the whole lab, so callers (the Pulumi program, the CLI) can map it to exit codes.

Four kinds of failure, each a different thing for the operator to do, so each has its own exit code
(the CLI's table is chaoslab/exit_codes.py ERROR_EXIT_CODES):

- InvalidDefinition: the configuration, an experiment or the command line cannot be used; nothing was changed.
- MissingTool: a command the lab drives (pulumi, kubectl) is not installed; nothing was changed.
- ActionFailed: a call to Pulumi, Kubernetes, AWS or the file system did not do what was asked.
- RollbackFailed: the chaos could not be undone (disabled, stopped, halted); it may still be running.

Chaos Toolkit draws the same line between a definition it refuses and an activity that failed
(chaostoolkit/chaostoolkit-lib chaoslib/exceptions.py: InvalidExperiment and ActivityFailed off one
ChaosException); a failed rollback is the lab's addition, because it is the one failure that leaves chaos behind.
"""

from __future__ import annotations

from collections.abc import Sequence


class ChaosLabError(Exception):
    """Base of every error the lab raises on purpose; raise one of its four kinds, never this."""


class InvalidDefinition(ChaosLabError):
    """Configuration, an experiment or a command line that cannot be used as given; nothing was started or changed."""


class ConfigError(InvalidDefinition):
    """Stack configuration that cannot be used; lists every problem found, not just the first."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        listing = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"invalid chaos-lab configuration ({len(self.problems)} problem(s)):\n{listing}")


class ExperimentError(InvalidDefinition):
    """An experiment definition the model or the catalog cannot render; names the field and what is wrong."""


class MissingTool(ChaosLabError):
    """A command-line tool the lab drives is not on PATH; nothing was started or changed."""

    def __init__(self, tool: str, remedy: str) -> None:
        super().__init__(f"{tool} is not on PATH; {remedy}")
        self.tool = tool


class ActionFailed(ChaosLabError):
    """A call to Pulumi, Kubernetes, AWS or the file system failed, or did not reach the state asked for in time."""


class RollbackFailed(ChaosLabError):
    """The chaos could not be undone: an experiment not disabled, a FIS run not stopped, a halt not completed.

    The chaos may still be running; the message says what is left and how to finish by hand."""
