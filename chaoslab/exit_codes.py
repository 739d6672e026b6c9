"""The CLI's exit codes, one place, so `--help`, the docs and the tests agree."""

from __future__ import annotations

from enum import IntEnum, unique


@unique
class ExitCode(IntEnum):
    # The command did what was asked; for `run`, the hypothesis held before, during and after.
    OK = 0
    # A runtime or API error (Pulumi, Kubernetes, the network, the file system), including a run that
    # could not disable its experiment again (the experiment may still be enabled) and a partial halt:
    # some object could not be paused, deleted or seen recovered, or the config could not be set.
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
    # through `pulumi up`, which takes a minute; check the chaos is gone.
    ABORTED_HALT_FAILED = 5
    # Interrupted with Ctrl-C (128 + SIGINT, as shells report it); `run` still disabled its experiment.
    INTERRUPTED = 130


EXIT_CODE_HELP = {
    ExitCode.OK: "success; for run, the hypothesis held",
    ExitCode.ERROR: "runtime or API error (Pulumi, Kubernetes, network, files), the experiment could not be disabled "
                    "again, or a partial halt",
    ExitCode.USAGE: "bad command line or unusable stack configuration; nothing was changed",
    ExitCode.HYPOTHESIS_NOT_MET: "run finished but the steady-state hypothesis was not met",
    ExitCode.ABORTED: "an --abort-if condition held (or, with --abort-on-alarm, a steady-state alarm): the probe stopped "
                      "and the chaos was halted (a FIS run: stopped)",
    ExitCode.ABORTED_HALT_FAILED: "an --abort-if condition or alarm held and the fast stop (pause, halt or StopExperiment) "
                                  "FAILED; run still disabled its experiment with pulumi up",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); run still disabled its experiment and wrote a partial report",
}
