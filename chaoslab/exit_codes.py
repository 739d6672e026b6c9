"""The CLI's exit codes, one place, so `--help`, the docs and the tests agree."""

from __future__ import annotations

from enum import IntEnum, unique

from chaoslab.experiments.errors import ActionFailed, ChaosLabError, InvalidDefinition, MissingTool, RollbackFailed


@unique
class ExitCode(IntEnum):
    # The command did what was asked; for `run`, the hypothesis held before, during and after.
    OK = 0
    # An action failed: a call to Pulumi, Kubernetes, AWS, the network or the file system, or a partial
    # `resume`. The chaos, if any, was undone (otherwise ROLLBACK_FAILED).
    ERROR = 1
    # The command line or the stack's configuration cannot be used; nothing was changed.
    USAGE = 2
    # The run finished, but the steady-state hypothesis was not met (before, during or after).
    HYPOTHESIS_NOT_MET = 3
    # An --abort-if condition held, or with --abort-on-alarm a steady-state alarm was in ALARM (or FIS's own
    # stop condition stopped the run): the probe stopped early, and the chaos was halted (`run` paused
    # and disabled its experiment, or stopped its FIS experiment; `probe` halted the stack or namespace
    # it was given, if any).
    ABORTED = 4
    # An --abort-if condition (or alarm) held, and the fast stop failed: the pause, the FIS experiment's
    # stop within its deadline (or, for `probe`, the halt of the stack or namespace) could not be made
    # or confirmed. `run` still disabled its experiment
    # through `pulumi up`, which takes a minute; check the chaos is gone. If that disable failed too: ROLLBACK_FAILED.
    ABORTED_HALT_FAILED = 5
    # The chaos could not be undone and may still be running: `run` could not disable its experiment or stop
    # its FIS run, or `halt` left an object not paused, deleted or seen recovered, a FIS run not stopped, or
    # the config not set. Its own code, not 1: it is the one failure that leaves chaos behind, and a script
    # must be able to tell it from a failed call that left nothing behind.
    ROLLBACK_FAILED = 6
    # A tool the lab drives (pulumi, kubectl) is not on PATH; nothing was changed.
    MISSING_TOOL = 7
    # Interrupted with Ctrl-C (128 + SIGINT, as shells report it); `run` still disabled its experiment.
    INTERRUPTED = 130


EXIT_CODE_HELP = {
    ExitCode.OK: "success; for run, the hypothesis held",
    ExitCode.ERROR: "an action failed: Pulumi, Kubernetes, AWS, network or files, or a partial resume",
    ExitCode.USAGE: "bad command line, stack configuration or experiment definition; nothing was changed",
    ExitCode.HYPOTHESIS_NOT_MET: "run finished but the steady-state hypothesis was not met",
    ExitCode.ABORTED: "an --abort-if condition held (or, with --abort-on-alarm, a steady-state alarm): the probe stopped "
    "and the chaos was halted (a FIS run: stopped)",
    ExitCode.ABORTED_HALT_FAILED: "an --abort-if condition or alarm held and the fast stop (pause, halt or StopExperiment) "
    "FAILED; run still disabled its experiment with pulumi up",
    ExitCode.ROLLBACK_FAILED: "the chaos could not be undone and may still be running: run could not disable its "
    "experiment or stop its FIS run, or halt did not complete; the message says what to do",
    ExitCode.MISSING_TOOL: "pulumi or kubectl is not on PATH; nothing was changed",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); run still disabled its experiment and wrote a partial report",
}

# Each kind of the lab's errors (chaoslab.experiments.errors) exits with one code; the CLI, --help and docs/operator.md use this.
ERROR_EXIT_CODES: dict[type[ChaosLabError], ExitCode] = {
    InvalidDefinition: ExitCode.USAGE,
    MissingTool: ExitCode.MISSING_TOOL,
    ActionFailed: ExitCode.ERROR,
    RollbackFailed: ExitCode.ROLLBACK_FAILED,
}


def exit_code_for(error: BaseException) -> ExitCode:
    """The code of the error's kind; any other exception came from a call the lab made, so an action failed."""
    for kind, code in ERROR_EXIT_CODES.items():
        if isinstance(error, kind):
            return code
    return ExitCode.ERROR
