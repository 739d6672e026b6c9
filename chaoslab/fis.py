"""Operating AWS FIS from `chaoslab`: start a template, follow the run, stop it, stop the stack's runs, the lever.

Written for `run`, `halt` and `resume` to call; each function takes a boto3 FIS client, so the caller
decides the region, credentials and endpoint (tests point it at moto's server on loopback).

- `start` starts a template with the stack's tags, so `stop_all` finds the run later.
- `follow` polls GetExperiment and hands every change of the experiment's or an action's state to a
  display callback, until the run ends or `should_stop()` turns true (Ctrl-C, a breach, an abort).
  Then it sends StopExperiment and waits for a final state within a deadline.
- `stop_all` stops every running experiment of the stack (by its tag or its template IDs), for `halt`.
- `engage_lever` / `disengage_lever`: the account's safety lever (one per account and Region,
  https://docs.aws.amazon.com/fis/latest/userguide/safety-lever.html). Engaging it stops every running
  experiment in the account and cancels new starts, so it is behind an explicit flag. The lever's
  `reason` records which stack engaged it; `disengage_lever` releases it only when that stack did.

States and their meaning: https://docs.aws.amazon.com/fis/latest/userguide/experiment-states.html (via the
API model, botocore `fis/2020-12-01`: pending, initiating, running, completed, stopping, stopped, failed,
cancelled).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chaoslab.experiments.errors import ActionFailed
from chaoslab.experiments.fis import STACK_TAG

# The experiment keeps moving through these...
ACTIVE_STATES = frozenset({"pending", "initiating", "running", "stopping"})
# ...and ends in one of these.
FINAL_STATES = frozenset({"completed", "stopped", "failed", "cancelled"})
STOPPABLE_STATES = frozenset({"pending", "initiating", "running"})
# FIS answers in about a second; polling faster only spends API calls.
DEFAULT_POLL_S = 2.0
# FIS restores what it changed (a network ACL, a chaos object) before it reports `stopped`.
DEFAULT_STOP_DEADLINE_S = 120.0
LEVER_ID = "default"
LEVER_MARK = "chaos-lab stack "


class FisError(ActionFailed):
    """A FIS call that did not do what was asked: a stop that did not finish in time, a lever held by another."""


@dataclass(frozen=True)
class Snapshot:
    """One poll: the experiment's state and each action's, as FIS reports them."""

    experiment_id: str
    status: str
    reason: str
    actions: Mapping[str, str]  # action name -> status

    def line(self) -> str:
        """One line for the terminal: `running (interrupt: running)`, with FIS's reason once it ends."""
        actions = ", ".join(f"{name}: {status}" for name, status in sorted(self.actions.items()))
        text = f"{self.status} ({actions})" if actions else self.status
        return f"{text}: {self.reason}" if self.status in FINAL_STATES and self.reason else text

    @classmethod
    def of(cls, experiment: Mapping[str, Any]) -> Snapshot:
        state = experiment.get("state") or {}
        return cls(
            experiment_id=experiment["id"],
            status=state.get("status", ""),
            reason=state.get("reason", ""),
            actions={
                name: (action.get("state") or {}).get("status", "")
                for name, action in (experiment.get("actions") or {}).items()
            },
        )


@dataclass
class Outcome:
    """What the journal records of a FIS run."""

    experiment_id: str
    final_status: str
    reason: str
    # Each distinct state seen, in order: (seconds since start, experiment status, action statuses).
    states: list[tuple[float, str, dict[str, str]]] = field(default_factory=list)
    stop_requested_at_s: float | None = None  # when `chaoslab` sent StopExperiment, if it did
    stop_reason: str | None = None  # why it did

    def to_journal(self) -> dict[str, Any]:
        return {
            "fisExperimentId": self.experiment_id,
            "finalState": self.final_status,
            "stateReason": self.reason,
            "states": [
                {"atSeconds": round(at, 3), "status": status, "actions": actions} for at, status, actions in self.states
            ],
            "stopRequestedAtSeconds": self.stop_requested_at_s,
            "stopReason": self.stop_reason,
        }


def start(client: Any, template_id: str, stack: str, entry: str) -> str:
    """Start the template; the run is tagged with the stack so `stop_all` finds it. Returns its ID."""
    response = client.start_experiment(
        experimentTemplateId=template_id, tags={STACK_TAG: stack, "chaos-lab:experiment": entry}
    )
    experiment_id: str = response["experiment"]["id"]
    return experiment_id


def snapshot(client: Any, experiment_id: str) -> Snapshot:
    return Snapshot.of(client.get_experiment(id=experiment_id)["experiment"])


def stop(
    client: Any,
    experiment_id: str,
    *,
    deadline_s: float = DEFAULT_STOP_DEADLINE_S,
    poll_s: float = DEFAULT_POLL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Snapshot:
    """Send StopExperiment (unless the run already ended) and wait for a final state.

    Raises FisError when the run is still not final after `deadline_s`.
    """
    current = snapshot(client, experiment_id)
    if current.status in STOPPABLE_STATES:
        client.stop_experiment(id=experiment_id)
    give_up = clock() + deadline_s
    while current.status not in FINAL_STATES:
        if clock() >= give_up:
            raise FisError(
                f"FIS experiment {experiment_id} is still {current.status!r} {deadline_s:g}s after StopExperiment; "
                "check it in the FIS console, or engage the safety lever with `chaoslab halt --fis-safety-lever`"
            )
        sleep(poll_s)
        current = snapshot(client, experiment_id)
    return current


def follow(
    client: Any,
    experiment_id: str,
    *,
    display: Callable[[Snapshot], None],
    should_stop: Callable[[], str | None],
    poll_s: float = DEFAULT_POLL_S,
    stop_deadline_s: float = DEFAULT_STOP_DEADLINE_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Poll the run until it ends; `display` sees every change of state. When `should_stop()` returns a
    reason (a breach, an abort, Ctrl-C), stop the run and wait for it within `stop_deadline_s`.
    A KeyboardInterrupt while polling stops the run too, then propagates."""
    started = clock()
    outcome = Outcome(experiment_id=experiment_id, final_status="", reason="")
    last: Snapshot | None = None

    def record(current: Snapshot) -> None:
        nonlocal last
        if last is None or (current.status, dict(current.actions)) != (last.status, dict(last.actions)):
            outcome.states.append((clock() - started, current.status, dict(current.actions)))
            display(current)
        last = current

    def stop_for(reason: str) -> Snapshot:
        outcome.stop_requested_at_s = clock() - started
        outcome.stop_reason = reason
        return stop(client, experiment_id, deadline_s=stop_deadline_s, poll_s=poll_s, clock=clock, sleep=sleep)

    try:
        current = snapshot(client, experiment_id)
        record(current)
        while current.status not in FINAL_STATES:
            reason = should_stop()
            if reason is not None:
                current = stop_for(reason)
                break
            sleep(poll_s)
            current = snapshot(client, experiment_id)
            record(current)
    except KeyboardInterrupt:
        record(stop_for("interrupted (Ctrl-C)"))
        raise
    record(current)
    outcome.final_status, outcome.reason = current.status, current.reason
    return outcome


def _running_experiments(client: Any) -> Iterable[Mapping[str, Any]]:
    token = None
    while True:
        page = client.list_experiments(**({"nextToken": token} if token else {}))
        yield from page.get("experiments", [])
        token = page.get("nextToken")
        if not token:
            return


def running_experiments(client: Any, stack: str, template_ids: Iterable[str] = ()) -> list[str]:
    """The IDs of the stack's unfinished experiments: tagged with it, or started from one of its templates."""
    ours = set(template_ids)
    return [
        experiment["id"]
        for experiment in _running_experiments(client)
        if (experiment.get("state") or {}).get("status") in ACTIVE_STATES
        and ((experiment.get("tags") or {}).get(STACK_TAG) == stack or experiment.get("experimentTemplateId") in ours)
    ]


def stop_all(
    client: Any,
    stack: str,
    template_ids: Iterable[str] = (),
    *,
    deadline_s: float = DEFAULT_STOP_DEADLINE_S,
    poll_s: float = DEFAULT_POLL_S,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, str]:
    """Stop every unfinished experiment of the stack: tagged with it, or started from one of its templates.

    Returns {experiment ID: final state}. Experiments of other stacks and accounts' other runs are left alone.
    """
    targets = running_experiments(client, stack, template_ids)
    for experiment_id in targets:
        if snapshot(client, experiment_id).status in STOPPABLE_STATES:
            client.stop_experiment(id=experiment_id)
    return {
        experiment_id: stop(client, experiment_id, deadline_s=deadline_s, poll_s=poll_s, sleep=sleep).status
        for experiment_id in targets
    }


def _lever_reason(stack: str) -> str:
    return f"{LEVER_MARK}{stack} (chaoslab halt --fis-safety-lever)"


def lever_state(client: Any) -> tuple[str, str]:
    state = client.get_safety_lever(id=LEVER_ID)["safetyLever"]["state"]
    return state["status"], state.get("reason", "")


def engage_lever(client: Any, stack: str) -> bool:
    """Engage the account's safety lever for this stack. Returns False when it was engaged already
    (by anyone), in which case this stack does not claim it and `disengage_lever` will leave it."""
    status, _ = lever_state(client)
    if status in ("engaged", "engaging"):
        return False
    client.update_safety_lever_state(id=LEVER_ID, state={"status": "engaged", "reason": _lever_reason(stack)})
    return True


def disengage_lever(client: Any, stack: str) -> bool:
    """Disengage the lever only if this stack engaged it. Returns whether it did.

    Raises FisError when another stack or a person engaged it: their reason is quoted, and nothing is changed.
    """
    status, reason = lever_state(client)
    if status == "disengaged":
        return False
    if reason != _lever_reason(stack):
        raise FisError(
            f"the FIS safety lever was engaged by someone else ({reason!r}); left engaged. Disengage it "
            "yourself once they agree: aws fis update-safety-lever-state --id default --state status=disengaged,reason=..."
        )
    client.update_safety_lever_state(
        id=LEVER_ID, state={"status": "disengaged", "reason": f"released by {LEVER_MARK}{stack}"}
    )
    return True


def alarm_breach(cloudwatch: Any, alarm_arns: Iterable[str]) -> str | None:
    """The stop reason when any of the stack's steady-state alarms is in ALARM, else None.

    `chaoslab` stops the run itself on a breach, besides FIS's own stop condition, whose reaction time
    AWS does not document (https://docs.aws.amazon.com/fis/latest/userguide/stop-conditions.html).
    """
    names = [arn.split(":alarm:", 1)[1] for arn in alarm_arns]
    if not names:
        return None
    breached = [
        alarm["AlarmName"]
        for alarm in cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
        if alarm["StateValue"] == "ALARM"
    ]
    return f"steady-state alarm in ALARM: {', '.join(breached)}" if breached else None
