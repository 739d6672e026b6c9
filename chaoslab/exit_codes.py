"""The CLI's exit codes, one place, so `--help`, the docs and the tests agree."""

from __future__ import annotations

from enum import IntEnum, unique


@unique
class ExitCode(IntEnum):
    # The command did what was asked; for `run`, the hypothesis held before, during and after.
    OK = 0
    # A runtime or API error (Pulumi, Kubernetes, the network, the file system), including a run that
    # could not disable its experiment again: the experiment may still be enabled.
    ERROR = 1
    # The command line or the stack's configuration cannot be used; nothing was changed.
    USAGE = 2
    # The run finished, but the steady-state hypothesis was not met (before, during or after).
    HYPOTHESIS_NOT_MET = 3
    # Interrupted with Ctrl-C (128 + SIGINT, as shells report it); `run` still disabled its experiment.
    INTERRUPTED = 130


EXIT_CODE_HELP = {
    ExitCode.OK: "success; for run, the hypothesis held",
    ExitCode.ERROR: "runtime or API error (Pulumi, Kubernetes, network, files), or the experiment could not be disabled again",
    ExitCode.USAGE: "bad command line or unusable stack configuration; nothing was changed",
    ExitCode.HYPOTHESIS_NOT_MET: "run finished but the steady-state hypothesis was not met",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); run still disabled its experiment and wrote a partial report",
}
