"""The FIS part of `halt` and `resume`: stop the stack's FIS runs, and the account's safety lever.

halt, with a stack that has AWS (its `region` output): with `engage_lever`, engages the account's FIS
safety lever first (it stops every experiment in the account and Region and refuses new ones), then
stops every unfinished experiment of the stack (tagged with it, or started from its templates) and
waits for each to reach a final state. resume, with `disengage_lever`, releases the lever only when
this stack engaged it (chaoslab.fis records the stack in the lever's reason).

Never raises for an AWS failure: the outcome carries it, named, so the Chaos Mesh part still runs and
the report says what did not happen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import fis as fis_ops
from .journal import one_line


@dataclass
class FisHalt:
    region: str
    dry_run: bool
    experiments: dict[str, str] = field(default_factory=dict)  # experiment ID -> final state, or what would be done
    lever: str | None = None  # what happened to the lever; None: not asked
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and all(
            state in fis_ops.FINAL_STATES or self.dry_run for state in self.experiments.values()
        )

    def problems(self) -> list[str]:
        lines = [
            f"FIS experiment {experiment_id}: still {state}"
            for experiment_id, state in self.experiments.items()
            if not self.dry_run and state not in fis_ops.FINAL_STATES
        ]
        return lines + [f"FIS: {error}" for error in self.errors]

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "experiments": dict(self.experiments),
            "safety_lever": self.lever,
            "errors": list(self.errors),
        }

    def text(self) -> list[str]:
        lines = [
            f"FIS ({self.region}): "
            + (
                ", ".join(f"{experiment_id} {state}" for experiment_id, state in self.experiments.items())
                or "no running experiment of the stack"
            )
        ]
        if self.lever is not None:
            lines.append(f"FIS safety lever: {self.lever}")
        return lines


def halt_fis(
    fis: Any,
    stack: str,
    template_ids: Iterable[str],
    region: str,
    *,
    dry_run: bool,
    engage_lever: bool,
    deadline_s: float = fis_ops.DEFAULT_STOP_DEADLINE_S,
    poll_s: float = fis_ops.DEFAULT_POLL_S,
) -> FisHalt:
    outcome = FisHalt(region, dry_run)
    ours = list(template_ids)
    if engage_lever:
        try:
            if dry_run:
                status, reason = fis_ops.lever_state(fis)
                outcome.lever = f"would engage (now {status}{': ' + reason if reason else ''})"
            elif fis_ops.engage_lever(fis, stack):
                outcome.lever = (
                    f"engaged by stack {stack}; `chaoslab resume --stack {stack} --fis-safety-lever` releases it"
                )
            else:
                status, reason = fis_ops.lever_state(fis)
                outcome.lever = f"already {status} ({reason or 'no reason given'}); not claimed by this stack"
        except Exception as error:  # the stack's own runs are still stopped below
            outcome.errors.append(f"could not engage the safety lever: {one_line(error)}")
    try:
        if dry_run:
            outcome.experiments = dict.fromkeys(fis_ops.running_experiments(fis, stack, ours), "would stop")
        else:
            outcome.experiments = fis_ops.stop_all(fis, stack, ours, deadline_s=deadline_s, poll_s=poll_s)
    except Exception as error:
        outcome.errors.append(f"could not stop the stack's experiments: {one_line(error)}")
    return outcome


def resume_fis(fis: Any, stack: str, region: str, *, dry_run: bool) -> FisHalt:
    """Release the safety lever if this stack engaged it; someone else's stays, and is named as a problem."""
    outcome = FisHalt(region, dry_run)
    try:
        if dry_run:
            status, reason = fis_ops.lever_state(fis)
            outcome.lever = (
                "not engaged"
                if status == "disengaged"
                else f"would disengage if this stack engaged it ({status}: {reason})"
            )
        elif fis_ops.disengage_lever(fis, stack):
            outcome.lever = f"disengaged (it was engaged by stack {stack})"
        else:
            outcome.lever = "not engaged"
    except Exception as error:
        outcome.errors.append(f"safety lever: {one_line(error)}")
    return outcome
