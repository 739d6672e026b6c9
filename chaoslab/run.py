"""`run`: baseline, enable, wait for injection, probe during, disable, wait for recovery, probe after.

The orchestration only talks to a StackDriver and a ClusterWatcher, so tests drive it with fakes.
Deleting a chaos object always recovers its fault (Chaos Mesh runs the recovery on deletion), so once it has tried to enable the
experiment, the run disables it again on every way out: success, failure, Ctrl-C, an abort.

An abort condition is judged during the chaos only: the baseline has its own check, and after the chaos
there is nothing left to halt. When one holds, the probe's watch pauses the chaos object at once through
the Kubernetes API (an `up` takes a minute), and the run then disables the experiment as its rollback.

A FIS entry is enabled the same way (`up` declares its experiment template, so the fence, the policy
pack and the preview see it), then started with StartExperiment; a thread follows it while the probe
runs. A breach, a steady-state alarm in ALARM (with abort_on_alarm) or Ctrl-C sends StopExperiment and
waits for `stopped` within a deadline, before the template is removed again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chaoslab.experiments.errors import ActionFailed, RollbackFailed

from . import fis as fis_ops
from .abort import AbortWatch, Breach, Halted
from .aws import alarm_arns, template_ids
from .cloudwatch_samples import cloudwatch_file, read_intervals, summarize_intervals, window, write_series
from .cluster import INJECT_TIMEOUT_S, RECOVER_TIMEOUT_S, ClusterWatcher
from .display import Display
from .files import private_directory
from .hypotheses import RECOVERED_AFTER, STEADY_STATE_BEFORE, Evidence, Tolerance, Verdict, judge
from .interrupts import sigint_deferred
from .journal import ActivityType, Journal, RunStatus, iso, one_line, utc_now
from .plan import RunPlan
from .probe import ProbeInterrupted, ProbeResult, probe, redact_url
from .prober.figures import PUBLISH_INTERVAL_S
from .samples import Summary, write_samples
from .stack import StackDriver


class AbortConditionMet(Exception):
    """An --abort-if condition held during the chaos; the journal's `abort` has the numbers."""

    def __init__(self, message: str, *, deviated: bool) -> None:
        super().__init__(message)
        self.deviated = deviated


def samples_file(phase: str) -> str:
    return f"{phase}.samples.jsonl"


# A FIS client, or a CloudWatch one, in the stack's Region: `aws("fis")`. One per thread that calls it.
AwsClients = Callable[[str], Any]


@dataclass(frozen=True)
class AwsTiming:
    """How often a FIS run is polled, how long a stop may take to reach a final state, and how long after a
    phase its last in-cluster interval is read from CloudWatch."""

    poll_s: float = fis_ops.DEFAULT_POLL_S
    stop_deadline_s: float = fis_ops.DEFAULT_STOP_DEADLINE_S
    # The prober publishes an interval once it has ended (10 s); CloudWatch documents no ingestion delay,
    # so the phase's last interval is read another 10 s later.
    metrics_lag_s: float = 2.0 * PUBLISH_INTERVAL_S


def execute(
    plan: RunPlan,
    stack: StackDriver,
    watcher: ClusterWatcher | None,
    url: str,
    display: Display,
    aws: AwsClients | None = None,
    aws_timing: AwsTiming = AwsTiming(),
) -> Journal:
    """Run the plan against the app at `url`, writing the journal into plan.out_dir as it goes.

    Returns the journal of a run that completed, stopped because the steady state did not hold
    before, or was stopped by an abort condition (and rolled back). Re-raises whatever stopped it
    otherwise (KeyboardInterrupt included) after recording it and disabling the experiment; raises
    RollbackFailed, chained to it, if disabling or stopping its FIS run failed.
    """
    private_directory(plan.out_dir)
    if (plan.through_fis or plan.from_cloudwatch) and aws is None:
        raise ValueError("a FIS run, and samples from CloudWatch, need AWS clients")
    return _Run(plan, stack, watcher, url, display, aws, aws_timing).execute()


class _Run:
    def __init__(
        self,
        plan: RunPlan,
        stack: StackDriver,
        watcher: ClusterWatcher | None,
        url: str,
        display: Display,
        aws: AwsClients | None,
        aws_timing: AwsTiming,
    ) -> None:
        self.plan = plan
        self.stack = stack
        self.watcher = watcher
        self.url = url
        self.display = display
        self.aws = aws
        self.aws_timing = aws_timing
        self.journal = Journal(plan.out_dir, plan.to_dict())
        # True from the moment the run starts changing the stack until it has undone that change.
        self.enabled = False
        # The FIS run follower, from StartExperiment until the experiment ended.
        self.follower: _FisFollower | None = None

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
            stop_error: BaseException | None = None
            if self.follower is not None:
                experiment_id = self.follower.experiment_id
                try:
                    self._stop_fis_run(f"run {status.value}: {one_line(cause)}")
                except Exception as error:  # still remove the template; then say the stop failed
                    stop_error = RollbackFailed(
                        f"could not stop FIS experiment {experiment_id} ({one_line(error)}); it may still be running: "
                        f"chaoslab halt --stack {self.plan.stack} --fis-safety-lever"
                    )
                    stop_error.__cause__ = error
                except BaseException as error:  # a second Ctrl-C: still remove the template, then stop
                    stop_error = error
            if self.enabled:
                self._rollback()
            if stop_error is not None:
                raise stop_error
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
        if plan.through_fis:
            during_verdict, abort = self._fis_during(baseline)
        else:
            during, during_verdict = self._chaos_mesh_during(baseline)
            abort = None if during.abort is None else (during.abort.to_dict(), during.abort.describe())
        if abort is not None:
            record, text = abort
            self.journal.abort(record)
            self.display.note(f"abort: {text}; disabling {plan.experiment}")
            raise AbortConditionMet(text, deviated=not during_verdict.met)

        with self.journal.activity(ActivityType.ACTION, "disable-experiment") as output:
            self._disable(output)
        if plan.target is not None:
            with self.journal.activity(ActivityType.PROBE, "wait-recovered") as output:
                self.display.note(f"waiting for Chaos Mesh to recover {plan.target}")
                output.update(self._watcher().wait_recovered(plan.target, RECOVER_TIMEOUT_S).to_dict())

        after = self._phase("after", plan.after_s)
        after_verdict = self._judge("after", RECOVERED_AFTER, after, baseline.summary)
        self.journal.finish(RunStatus.COMPLETED, deviated=not (during_verdict.met and after_verdict.met))

    def _watcher(self) -> ClusterWatcher:
        assert self.watcher is not None, "a Chaos Mesh run watches the cluster"
        return self.watcher

    def _chaos_mesh_during(self, baseline: ProbeResult) -> tuple[ProbeResult, Verdict]:
        plan = self.plan
        target = plan.target
        assert target is not None
        # Chaos Mesh starts the chaos's clock when the object is created, a moment before `up` returns.
        applied = time.monotonic()
        with self.journal.activity(ActivityType.PROBE, "wait-injected") as output:
            self.display.note(f"waiting for Chaos Mesh to inject {target}")
            output.update(self._watcher().wait_injected(target, INJECT_TIMEOUT_S).to_dict())

        remaining_s = plan.chaos_s - (time.monotonic() - applied)
        if remaining_s * plan.rate < 1:
            raise ActionFailed(
                f"{target} was injected only as its {plan.chaos_s:g}s were running out; nothing left to probe"
            )
        watch = AbortWatch(plan.abort_conditions, self._halt) if plan.abort_conditions else None
        during = self._phase("during", min(plan.during_s, remaining_s), watch)
        return during, self._judge("during", plan.hypothesis.during, during, baseline.summary)

    def _fis_during(self, baseline: ProbeResult) -> tuple[Verdict, tuple[dict[str, Any], str] | None]:
        """Start the stack's template, follow the run on a thread while probing, until both have ended."""
        plan = self.plan
        follower = self._start_fis_follower()
        during = self._phase("during", plan.during_s, follower.stop_probe)
        if during.abort is not None:
            follower.request_stop(f"abort: {during.abort.describe()}")
        elif not follower.ended():
            self.display.note(
                f"the probe's {plan.during_s:g}s are over; "
                f"following FIS experiment {follower.experiment_id} until it ends"
            )
        stop_error = self._follow_to_the_end(follower)
        verdict = self._judge("during", plan.hypothesis.during, during, baseline.summary)
        return verdict, _fis_abort(follower, during, stop_error)

    def _start_fis_follower(self) -> _FisFollower:
        """Start the stack's FIS template and a follower of the run, which also stops it on an abort."""
        plan = self.plan
        assert self.aws is not None
        outputs = self.stack.outputs()
        template_id = template_ids(outputs).get(plan.experiment)
        if template_id is None:
            raise ActionFailed(
                f"stack {plan.stack}: its fisTemplateIds output has no {plan.experiment} after `pulumi up`; "
                "the template was not declared (see the update's log)"
            )
        alarms = alarm_arns(plan.stack, outputs) if plan.abort_on_alarm else ()
        fis = self.aws("fis")
        with self.journal.activity(ActivityType.ACTION, "start-fis-experiment") as output:
            self.display.note(f"starting FIS template {template_id} ({plan.experiment})")
            experiment_id = fis_ops.start(fis, template_id, plan.stack, plan.experiment)
            output.update(templateId=template_id, fisExperimentId=experiment_id)
        watch = AbortWatch(plan.abort_conditions, self._halt) if plan.abort_conditions else None
        self.follower = _FisFollower(
            fis,
            experiment_id,
            self.aws("cloudwatch") if alarms else None,
            alarms,
            self.display,
            stop_probe=(watch or _Tripwire()),
            timing=self.aws_timing,
        )
        self.follower.start()
        return self.follower

    def _follow_to_the_end(self, follower: _FisFollower) -> str | None:
        """Wait for the FIS run to end. A stop that failed after an abort is returned, not raised: the abort stands."""
        try:
            self._finish_follow()
        except fis_ops.FisError as error:
            if follower.reason is None:
                raise
            return one_line(error)
        return None

    def _finish_follow(self) -> None:
        """Wait for the follower; record the FIS outcome. Raises FisError when the stop did not finish in time."""
        follower = self.follower
        assert follower is not None
        try:
            follower.join()
        finally:
            if follower.ended():  # not on a Ctrl-C while waiting: the way out still stops the run
                self.follower = None
                if follower.outcome is not None:
                    self.journal.fis(follower.outcome.to_journal())

    def _stop_fis_run(self, reason: str) -> None:
        """On the way out of a failed or interrupted run: stop the FIS experiment first, within its deadline."""
        assert self.follower is not None
        self.follower.request_stop(reason)
        with (
            sigint_deferred(self.display, "still stopping the FIS experiment"),
            self.journal.activity(ActivityType.ACTION, "stop-fis-experiment", rollback=True) as output,
        ):
            experiment_id = self.follower.experiment_id
            self._finish_follow()
            output.update(fisExperimentId=experiment_id, finalState=self.journal.data["fis"]["finalState"])

    def _halt(self, breach: Breach) -> Halted:
        """On the abort watch's thread, the moment a condition holds: pause (or delete) the chaos object,
        or send StopExperiment for a FIS run (its follower then waits for `stopped`)."""
        if self.follower is not None:
            assert self.aws is not None
            experiment_id = self.follower.experiment_id
            self.follower.request_stop(f"abort: {breach.condition.text} held")
            # Its own client: the follower's is busy on its thread.
            self.aws("fis").stop_experiment(id=experiment_id)
            return Halted(time.monotonic(), {"object": f"FIS experiment {experiment_id}", "request": "StopExperiment"})
        target = self.plan.target
        assert target is not None
        issued_at = self._watcher().halt(target)
        return Halted(issued_at, {"object": str(target), "request": "delete" if target.kind == "Workflow" else "pause"})

    def _phase(self, phase: str, duration_s: float, watch: AbortWatch | _Tripwire | None = None) -> ProbeResult:
        """Probe for one phase; its samples go to `<phase>.samples.jsonl`, even when interrupted."""
        if self.plan.from_cloudwatch:
            return self._cloudwatch_phase(phase, duration_s, None if watch is None else watch.tripped)
        with self.journal.activity(ActivityType.PROBE, f"probe-{phase}") as output:
            self.display.note(f"{phase}: probing {redact_url(self.url)} for {duration_s:g}s at {self.plan.rate:g}/s")
            output.update(
                phase=phase, started_at=iso(utc_now()), planned_s=round(duration_s, 3), samples=samples_file(phase)
            )
            try:
                # Kept: the phase's verdict reads every request (the phase is as long as the chaos, at most).
                result = probe(
                    self.plan.probe_settings(self.url, duration_s),
                    self.display,
                    label=phase,
                    watch=watch,
                    keep_samples=True,
                )
            except ProbeInterrupted as interrupted:
                self._keep(phase, interrupted.result, output)
                raise
            self._keep(phase, result, output)
            return result

    def _cloudwatch_phase(self, phase: str, duration_s: float, stopped: threading.Event | None) -> ProbeResult:
        """Let the phase pass (or end early, when the FIS follower stops the run), then judge it on the
        in-cluster prober's intervals that overlap it, read from CloudWatch once the last one is published."""
        plan = self.plan
        assert self.aws is not None and plan.region is not None
        with self.journal.activity(ActivityType.PROBE, f"probe-{phase}") as output:
            self.display.note(
                f"{phase}: {duration_s:g}s of the in-cluster prober's figures for {plan.steady_state_target}"
            )
            started = utc_now()
            output.update(
                phase=phase,
                started_at=iso(started),
                planned_s=round(duration_s, 3),
                samples=samples_file(phase),
                source="cloudwatch",
                cloudwatch=cloudwatch_file(phase),
            )
            (stopped or threading.Event()).wait(duration_s)
            ended = utc_now()
            self.display.note(
                f"{phase}: waiting {self.aws_timing.metrics_lag_s:g}s for the last interval to reach CloudWatch"
            )
            time.sleep(self.aws_timing.metrics_lag_s)
            intervals = read_intervals(
                self.aws("cloudwatch"), plan.stack, plan.steady_state_target, *window(started, ended)
            )
            write_series(
                plan.out_dir / cloudwatch_file(phase), plan.stack, plan.steady_state_target, plan.region, intervals
            )
            summary = summarize_intervals(intervals, plan.rate, (ended - started).total_seconds())
            write_samples(plan.out_dir / samples_file(phase), [])  # no request of run's own
            output["summary"] = summary.to_dict()
            return ProbeResult(summary)

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
        """Disable after a failure or Ctrl-C. Raises RollbackFailed when that fails too."""
        try:
            with (
                sigint_deferred(self.display, "still disabling the experiment"),
                self.journal.activity(ActivityType.ACTION, "disable-experiment", rollback=True) as output,
            ):
                self._disable(output)
        except BaseException as error:
            raise RollbackFailed(
                f"could not disable {self.plan.experiment} ({type(error).__name__}: {error}); it may still be "
                f"enabled: {self.plan.manual_disable()}"
            ) from error


class _Tripwire:
    """Stops the probe when the FIS follower stops the run for an alarm; judges nothing itself.

    What the probe calls of an AbortWatch, for a run without --abort-if conditions."""

    def __init__(self) -> None:
        self.tripped = threading.Event()

    def start(self, start: float) -> None:
        pass

    def completed(self, sample: object) -> None:
        pass

    def close(self) -> None:
        return None


def _fis_abort(
    follower: _FisFollower, during: ProbeResult, stop_error: str | None
) -> tuple[dict[str, Any], str] | None:
    """The abort record and its one-line cause, or None when the FIS run completed; raises ActionFailed when it
    ended any other way."""
    if during.abort is not None:
        record = during.abort.to_dict()
        record["halt_error"] = record["halt_error"] or stop_error
        return record, during.abort.describe()
    outcome = follower.outcome
    assert outcome is not None
    if follower.stopped_for_alarm or (outcome.final_status == "stopped" and outcome.stop_reason is None):
        # Stopped on a steady-state alarm: seen by chaoslab, or by FIS's own stop condition first.
        record = follower.alarm_abort(stop_error)
        return record, str(record["condition"])
    if outcome.final_status != "completed":
        raise ActionFailed(f"FIS experiment {follower.experiment_id} ended {outcome.final_status}: {outcome.reason}")
    return None


class _FisFollower:
    """Follows one FIS run on its own thread (chaoslab.fis.follow) while the main thread probes.

    Stops the run when asked (a breach, Ctrl-C, a failure) or, with alarm ARNs, as soon as a
    steady-state alarm is in ALARM; then the probe is stopped too.
    """

    def __init__(
        self,
        fis: Any,
        experiment_id: str,
        cloudwatch: Any,
        alarms: Any,
        display: Display,
        stop_probe: AbortWatch | _Tripwire,
        timing: AwsTiming,
    ) -> None:
        self.fis = fis
        self.timing = timing
        self.experiment_id = experiment_id
        self.cloudwatch = cloudwatch
        self.alarms = tuple(alarms)
        self.display = display
        self.stop_probe = stop_probe
        self.reason: str | None = None
        self.stopped_for_alarm = False
        self.alarm_seen_at: str | None = None  # UTC, when DescribeAlarms first answered ALARM
        self.outcome: fis_ops.Outcome | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._follow, name="chaoslab-fis", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def ended(self) -> bool:
        return not self._thread.is_alive()

    def request_stop(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    def join(self) -> None:
        """Wait for the run to end (a stop included); raises what stopped the follower, e.g. FisError."""
        while self._thread.is_alive():
            self._thread.join(0.2)  # in slices: the main thread stays responsive to Ctrl-C
        if self.error is not None:
            raise self.error

    def alarm_abort(self, stop_error: str | None) -> dict[str, Any]:
        """The journal's abort record for a stop on a steady-state alarm (chaoslab's check, or FIS's own)."""
        assert self.outcome is not None
        by_fis = not self.stopped_for_alarm
        return {
            "source": "alarm",
            "condition": "FIS stop condition: " + self.outcome.reason if by_fis else self.reason,
            "breach_at": self.alarm_seen_at,
            "stop_sent_at_s": self.outcome.stop_requested_at_s,
            "halt": {
                "object": f"FIS experiment {self.experiment_id}",
                "request": "FIS's own stop" if by_fis else "StopExperiment",
            },
            "final_state": self.outcome.final_status,
            "halt_error": stop_error,
        }

    def _should_stop(self) -> str | None:
        if self.reason is None and self.alarms:
            breached = fis_ops.alarm_breach(self.cloudwatch, self.alarms)
            if breached is not None:
                self.alarm_seen_at = iso(utc_now())
                self.stopped_for_alarm = True
                self.reason = breached
                self.stop_probe.tripped.set()
        return self.reason

    def _show(self, snapshot: fis_ops.Snapshot) -> None:
        self.display.note(f"FIS {snapshot.experiment_id}: {snapshot.line()}")

    def _follow(self) -> None:
        try:
            self.outcome = fis_ops.follow(
                self.fis,
                self.experiment_id,
                display=self._show,
                should_stop=self._should_stop,
                poll_s=self.timing.poll_s,
                stop_deadline_s=self.timing.stop_deadline_s,
            )
        except BaseException as error:  # handed to the main thread by join()
            self.error = error
            self.outcome = fis_ops.Outcome(self.experiment_id, "unknown", one_line(error), stop_reason=self.reason)
