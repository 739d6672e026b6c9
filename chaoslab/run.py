"""`run`: baseline, enable, wait for injection, probe during, disable, wait for recovery, probe after.

The orchestration only talks to a StackDriver and a ClusterWatcher, so tests drive it with fakes.
Deleting a chaos object is always safe (style.md, section 4), so once it has tried to enable the
experiment, the run disables it again on every way out: success, failure, Ctrl-C, an abort.

An abort condition is judged during the chaos only: the baseline has its own check, and after the chaos
there is nothing left to halt. When one holds, the probe's watch pauses the chaos object at once through
the Kubernetes API (an `up` takes a minute), and the run then disables the experiment as its rollback.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType

from experiments.errors import ExperimentError

from .abort import AbortWatch, Breach, Halted
from .cluster import INJECT_TIMEOUT_S, RECOVER_TIMEOUT_S, ClusterWatcher
from .display import Display
from .hypotheses import RECOVERED_AFTER, STEADY_STATE_BEFORE, Evidence, Tolerance, Verdict, judge
from .journal import ActivityType, Journal, RunStatus, iso, utc_now
from .plan import RunPlan
from .files import private_directory
from .probe import ProbeInterrupted, ProbeResult, probe, redact_url
from .samples import Summary, write_samples
from .stack import StackDriver


class RollbackError(ExperimentError):
    """The run could not disable its experiment again: it may still be enabled."""


class AbortConditionMet(Exception):
    """An --abort-if condition held during the chaos; the journal's `abort` has the numbers."""

    def __init__(self, message: str, *, deviated: bool) -> None:
        super().__init__(message)
        self.deviated = deviated


def samples_file(phase: str) -> str:
    return f"{phase}.samples.jsonl"


def execute(plan: RunPlan, stack: StackDriver, watcher: ClusterWatcher, url: str, display: Display) -> Journal:
    """Run the plan against the app at `url`, writing the journal into plan.out_dir as it goes.

    Returns the journal of a run that completed, stopped because the steady state did not hold
    before, or was stopped by an abort condition (and rolled back). Re-raises whatever stopped it
    otherwise (KeyboardInterrupt included) after recording it and disabling the experiment; raises
    RollbackError, chained to it, if disabling failed.
    """
    private_directory(plan.out_dir)
    return _Run(plan, stack, watcher, url, display).execute()


class _Run:
    def __init__(self, plan: RunPlan, stack: StackDriver, watcher: ClusterWatcher, url: str, display: Display) -> None:
        self.plan = plan
        self.stack = stack
        self.watcher = watcher
        self.url = url
        self.display = display
        self.journal = Journal(plan.out_dir, plan.to_dict())
        # True from the moment the run starts changing the stack until it has undone that change.
        self.enabled = False

    def execute(self) -> Journal:
        self.journal.save()
        try:
            self._method()
        except AbortConditionMet as abort:
            self._stop(RunStatus.ABORTED, abort, deviated=abort.deviated)
        except KeyboardInterrupt as interrupt:
            self._stop(RunStatus.INTERRUPTED, interrupt)
            raise
        except Exception as error:
            self._stop(RunStatus.ABORTED, error)
            raise
        return self.journal

    def _stop(self, status: RunStatus, cause: BaseException, *, deviated: bool = False) -> None:
        """Roll back (as Chaos Toolkit does, before the final status), then close the journal."""
        try:
            if self.enabled:
                self._rollback()
        finally:
            self.journal.finish(status, deviated=deviated, error=cause)

    def _method(self) -> None:
        plan = self.plan
        baseline = self._phase("baseline", plan.baseline_s)
        before = self._judge("before", STEADY_STATE_BEFORE, baseline, baseline.summary)
        if not before.met:
            # As Chaos Toolkit does: no chaos on a system that is not in its steady state.
            self.display.note("the steady state does not hold before the chaos; skipping the experiment")
            self.journal.finish(RunStatus.FAILED)
            return

        with self.journal.activity(ActivityType.ACTION, "enable-experiment") as output:
            self.display.note(f"enabling {plan.experiment}: {plan.enabled_key}=true, pulumi up on {plan.stack}")
            self.enabled = True  # before the first change: a failure half-way must still be undone
            self.stack.set_config(plan.enabled_key, "true", path=True)
            output["update"] = self.stack.up(f"chaoslab run: enable {plan.experiment}").to_dict()
        # Chaos Mesh starts the chaos's clock when the object is created, a moment before `up` returns.
        applied = time.monotonic()

        with self.journal.activity(ActivityType.PROBE, "wait-injected") as output:
            self.display.note(f"waiting for Chaos Mesh to inject {plan.target}")
            output.update(self.watcher.wait_injected(plan.target, INJECT_TIMEOUT_S).to_dict())

        remaining_s = plan.chaos_s - (time.monotonic() - applied)
        if remaining_s * plan.rate < 1:
            raise ExperimentError(f"{plan.target} was injected only as its {plan.chaos_s:g}s were running out; nothing left to probe")
        watch = AbortWatch(plan.abort_conditions, self._halt) if plan.abort_conditions else None
        during = self._phase("during", min(plan.during_s, remaining_s), watch)
        during_verdict = self._judge("during", plan.hypothesis.during, during, baseline.summary)
        if during.abort is not None:
            self.journal.abort(during.abort.to_dict())
            self.display.note(f"abort: {during.abort.describe()}; disabling {plan.experiment}")
            raise AbortConditionMet(during.abort.describe(), deviated=not during_verdict.met)

        with self.journal.activity(ActivityType.ACTION, "disable-experiment") as output:
            self._disable(output)
        with self.journal.activity(ActivityType.PROBE, "wait-recovered") as output:
            self.display.note(f"waiting for Chaos Mesh to recover {plan.target}")
            output.update(self.watcher.wait_recovered(plan.target, RECOVER_TIMEOUT_S).to_dict())

        after = self._phase("after", plan.after_s)
        after_verdict = self._judge("after", RECOVERED_AFTER, after, baseline.summary)
        self.journal.finish(RunStatus.COMPLETED, deviated=not (during_verdict.met and after_verdict.met))

    def _halt(self, breach: Breach) -> Halted:
        """On the abort watch's thread, the moment a condition holds: pause (or delete) the chaos object."""
        target = self.plan.target
        issued_at = self.watcher.halt(target)
        return Halted(issued_at, {"object": str(target), "request": "delete" if target.kind == "Workflow" else "pause"})

    def _phase(self, phase: str, duration_s: float, watch: AbortWatch | None = None) -> ProbeResult:
        """Probe for one phase; its samples go to `<phase>.samples.jsonl`, even when interrupted."""
        with self.journal.activity(ActivityType.PROBE, f"probe-{phase}") as output:
            self.display.note(f"{phase}: probing {redact_url(self.url)} for {duration_s:g}s at {self.plan.rate:g}/s")
            output.update(phase=phase, started_at=iso(utc_now()), planned_s=round(duration_s, 3), samples=samples_file(phase))
            try:
                # Kept: the phase's verdict reads every request (the phase is as long as the chaos, at most).
                result = probe(self.plan.probe_settings(self.url, duration_s), self.display, label=phase, watch=watch,
                               keep_samples=True)
            except ProbeInterrupted as interrupted:
                self._keep(phase, interrupted.result, output)
                raise
            self._keep(phase, result, output)
            return result

    def _keep(self, phase: str, result: ProbeResult, output: dict[str, object]) -> None:
        write_samples(self.plan.out_dir / samples_file(phase), result.samples)
        output["summary"] = result.summary.to_dict()

    def _judge(self, when: str, tolerances: tuple[Tolerance, ...], result: ProbeResult, baseline: Summary) -> Verdict:
        evidence = Evidence(result.samples, result.summary, baseline, self.plan.parameters, self.plan.app)
        verdict = judge(tolerances, evidence)
        self.journal.steady_state(when, verdict.to_dict())
        return verdict

    def _disable(self, output: dict[str, object]) -> None:
        plan = self.plan
        self.display.note(f"disabling {plan.experiment}: pulumi up on {plan.stack}")
        if plan.entry_existed:
            self.stack.set_config(plan.enabled_key, "false", path=True)
        else:
            # Leave the stack's config as the run found it.
            self.stack.remove_config(plan.entry_key, path=True)
        output["update"] = self.stack.up(f"chaoslab run: disable {plan.experiment}").to_dict()
        self.enabled = False

    def _rollback(self) -> None:
        """Disable after a failure or Ctrl-C. Raises RollbackError when that fails too."""
        try:
            with _sigint_deferred(self.display), self.journal.activity(
                ActivityType.ACTION, "disable-experiment", rollback=True
            ) as output:
                self._disable(output)
        except BaseException as error:
            raise RollbackError(
                f"could not disable {self.plan.experiment} ({type(error).__name__}: {error}); it may still be "
                f"enabled: {self.plan.manual_disable()}"
            ) from error


@contextlib.contextmanager
def _sigint_deferred(display: Display) -> Iterator[None]:
    """Ignore Ctrl-C while the experiment is being disabled: stopping half-way would leave it on.

    The pulumi CLI is in the same process group and still sees a second Ctrl-C, which cancels its
    update; the RollbackError then names the commands to finish by hand.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def remind(signum: int, frame: FrameType | None) -> None:
        display.note("still disabling the experiment; Ctrl-C is ignored until that is done")

    previous = signal.signal(signal.SIGINT, remind)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
