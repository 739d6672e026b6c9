"""`halt` and `resume`: the stop-everything button for the fenced namespace, and its undo.

halt, in this order:
1. issue, as passes over the namespace until one finds nothing active or the deadline passes:
   - the first pass lists the Schedules and Workflows, which spawn new chaos objects, and stops them
     (a Schedule is paused, a Workflow, which cannot be paused, deleted), then lists and pauses
     every experiment: nothing new is spawned behind the list;
   - every later pass lists every kind again and stops whatever is active: a Schedule's child or a
     concurrent `up`'s object created after the previous list;
   - every list and request is retried on connection errors, 429 and 5xx (chaoslab.retrying), and
     everything happens within one deadline (default HALT_DEADLINE_S, `--deadline`).
   A pause is a merge patch of Chaos Mesh's pause annotation, marked as chaoslab's and with this
   halt's ID. The requests of one pass go out in parallel: pausing is the part that must take seconds.
2. set `chaos-lab:halted=true` in the stack's config (with a stack), so the next `pulumi up` declares
   no chaos object at all; also when step 1 failed: the more that holds the better;
3. wait, bounded, until Chaos Mesh reports every paused experiment recovered (`AllRecovered` True, or
   the object gone) and every Workflow gone;
4. with `up`, run `pulumi up` (a minute, not seconds: why it comes last and is optional).

A halt succeeds only when a full pass found nothing active, every object it stopped is recovered or
gone, and the config was set; otherwise it says "halt FAILED" and names each object still active and
why. A probe's abort calls `issue_halt` from its watch thread and `finish_halt` (steps 2 to 4) after
the probe has stopped. `resume` removes `chaos-lab:halted` and un-pauses what one halt paused (the
latest, or the one named), or with every_halt all that chaoslab paused; someone else's pause stays.

Only the namespace given is ever listed or changed: the caller takes it from the stack's config
(`chaos-lab:sandboxNamespace`) or from the operator's --namespace.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from chaoslab.experiments.durations import format_duration

from .cluster import (
    GROUP,
    HALT_ID_ANNOTATION,
    NOT_FOUND,
    PAUSE_ANNOTATION,
    PAUSED_BY,
    PAUSED_BY_ANNOTATION,
    VERSION,
    api_error,
    conditions,
    delete_object,
    get_object,
    is_recovered,
    new_halt_id,
    set_paused,
)
from .display import Display
from .fis_halt import FisHalt
from .journal import one_line
from .kinds import EXPERIMENT_RESOURCES, SCHEDULES, WORKFLOWS
from .plan import HALTED_KEY
from .retrying import BACKOFF, HALT_DEADLINE_S, Deadline, RetriesExhausted, call_with_retries
from .stack import StackDriver

# A Schedule's pause also stops it starting new experiments.
PAUSABLE = (*EXPERIMENT_RESOURCES, SCHEDULES)
# What spawns new chaos objects: stopped first, so that the experiments listed next are all there are.
SPAWNERS = (SCHEDULES, WORKFLOWS)
ALL_KINDS = (*SPAWNERS, *EXPERIMENT_RESOURCES)
# A Schedule's status has no conditions (only `active` and `time`): there is no recovery of its own to
# wait for. The experiments it started are in the namespace, and are paused and waited for themselves.
NO_STATUS = frozenset({SCHEDULES})
# Requests in flight at once: the lists, then the pauses, go out in a round or two. (The `kubernetes`
# client keeps 5 connections per CPU; a request beyond them opens one that is then dropped.)
PARALLEL_REQUESTS = 8
DEFAULT_WAIT_S = 60.0
# Finer than `run`'s waits: the time to recovery is a figure halt reports.
DEFAULT_POLL_S = 0.25


@dataclass(frozen=True)
class Row:
    """One object and what was done to it; name "*" stands for a whole kind that could not be listed."""

    resource: str  # the plural, as kubectl names it: podchaos, schedules, workflows, ...
    name: str
    action: str  # paused, already paused, deleted, already deleting, gone, unpaused, left paused, would ...
    error: str | None = None
    state: str = ""  # after the wait: recovered, gone, paused (a Schedule: no status), not recovered, not gone

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def key(self) -> tuple[str, str]:
        return self.resource, self.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "name": self.name,
            "action": self.action,
            "state": self.state or None,
            "error": self.error,
        }


@dataclass(frozen=True)
class Issued:
    """What step 1 did: the rows, when it started and issued its last request (monotonic), and whether
    a full pass found nothing active before the deadline."""

    started: float
    rows: tuple[Row, ...]
    issued_at: float | None  # None: no request was needed
    halt_id: str
    deadline_s: float
    verified: bool  # a full pass listed every kind and found nothing active

    @property
    def issued_s(self) -> float | None:
        return None if self.issued_at is None else self.issued_at - self.started


@dataclass
class HaltReport:
    command: str  # "halt" or "resume"
    namespace: str
    stack: str | None
    dry_run: bool
    rows: list[Row]
    halt_id: str | None = None  # the halt made, or the one resume undid (None: every halt, or none found)
    deadline_s: float | None = None
    verified: bool = True  # halt: a full pass found nothing active within the deadline
    issued_s: float | None = None  # start to the last pause or delete request issued
    recovered_s: float | None = (
        None  # start to every paused object recovered and every Workflow gone; None: not all were
    )
    config: dict[str, Any] | None = None  # {"key", "change", "error"}; None without a stack
    update: dict[str, Any] | None = None  # the `up` with --up: its outcome, or {"error": ...}
    fis: FisHalt | None = None  # the stack's FIS runs and the safety lever; None: the stack has no AWS
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.verified
            and all(row.ok for row in self.rows)
            and not (self.config or {}).get("error")
            and not (self.update or {}).get("error")
            and (self.fis is None or self.fis.ok)
        )

    def problems(self) -> list[str]:
        """One line per object still active or unknown, and per step that failed, each with its reason."""
        lines = [f"{row.resource}/{row.name}: {row.action}: {row.error}" for row in self.rows if row.error is not None]
        if not self.verified and not lines:
            lines.append(
                f"no full pass found the namespace clear within the {format_duration(self.deadline_s or 0)} deadline"
            )
        if self.config is not None and self.config.get("error"):
            lines.append(f"{self.config['key']}: {self.config['error']}")
        if self.update is not None and self.update.get("error"):
            lines.append(f"pulumi up: {self.update['error']}")
        if self.fis is not None:
            lines += self.fis.problems()
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "namespace": self.namespace,
            "stack": self.stack,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "halt_id": self.halt_id,
            "deadline_s": self.deadline_s,
            "objects": [row.to_dict() for row in self.rows],
            "problems": self.problems(),
            "issued_s": _rounded(self.issued_s),
            "recovered_s": _rounded(self.recovered_s),
            "config": self.config,
            "update": self.update,
            "fis": None if self.fis is None else self.fis.to_dict(),
        }

    def text(self) -> str:
        where = f"namespace {self.namespace}" + (f" (stack {self.stack})" if self.stack else "")
        identity = "" if self.halt_id is None else f", halt {self.halt_id}"
        lines = [f"{self.command}{' --dry-run' if self.dry_run else ''}: {where}{identity}"]
        if self.rows:
            table = [("OBJECT", "ACTION", "STATE")] + [
                (f"{row.resource}/{row.name}", row.action + (f": {row.error}" if row.error else ""), row.state or "-")
                for row in self.rows
            ]
            widths = [max(len(line[column]) for line in table) for column in range(2)]
            lines += [f"  {line[0]:<{widths[0]}}  {line[1]:<{widths[1]}}  {line[2]}" for line in table]
        else:
            lines.append("  no Chaos Mesh object found")
        if self.issued_s is not None:
            lines.append(
                f"{'all requests' if self.ok else 'the last request'} issued {self.issued_s:.3f} s after the start"
            )
        if self.recovered_s is not None:
            lines.append(f"all recovered {self.recovered_s:.3f} s after the start")
        if self.config is not None:
            lines.append(
                f"{self.config['key']}: {self.config['change']}"
                + (f" FAILED: {self.config['error']}" if self.config["error"] else "")
            )
        if self.update is not None:
            lines.append(f"pulumi up: {self.update.get('error') or self.update.get('result')}")
        if self.fis is not None:
            lines += self.fis.text()
        lines += self.notes
        if not self.ok:
            # Last, where an operator's eye lands: what is still running, and why.
            lines.append(f"{self.command} FAILED:")
            lines += [f"  {problem}" for problem in self.problems()]
        return "\n".join(lines) + "\n"


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass(frozen=True)
class _Found:
    resource: str
    name: str
    annotations: Mapping[str, str]
    deleting: bool  # metadata.deletionTimestamp is set: the API server is deleting it already

    @property
    def paused(self) -> bool:
        return self.annotations.get(PAUSE_ANNOTATION) == "true"

    @property
    def paused_by_chaoslab(self) -> bool:
        return self.paused and self.annotations.get(PAUSED_BY_ANNOTATION) == PAUSED_BY

    @property
    def halt_id(self) -> str | None:
        return self.annotations.get(HALT_ID_ANNOTATION)

    @property
    def active(self) -> bool:
        """Still doing chaos, as far as halt can tell: a Workflow not being deleted, anything else not paused."""
        return not self.deleting if self.resource == WORKFLOWS else not self.paused


def _list(
    api: Any, namespace: str, resources: Sequence[str], pool: ThreadPoolExecutor, deadline: Deadline
) -> tuple[list[_Found], list[Row]]:
    """Every object of these kinds in the namespace, and a failed row for each kind that could not be listed."""
    from kubernetes.client.exceptions import ApiException

    def one_kind(resource: str) -> list[_Found] | Row:
        try:
            listing = call_with_retries(
                lambda timeout_s: api.list_namespaced_custom_object(
                    GROUP, VERSION, namespace, resource, _request_timeout=timeout_s
                ),
                deadline,
            )
        except Exception as error:
            if isinstance(error, ApiException) and error.status == NOT_FOUND:
                return []  # the kind is not installed on this cluster: nothing of it to stop
            return Row(resource, "*", "list failed", api_error(error))
        return [
            _Found(
                resource,
                item["metadata"]["name"],
                item["metadata"].get("annotations") or {},
                bool(item["metadata"].get("deletionTimestamp")),
            )
            for item in listing.get("items") or []
        ]

    found: list[_Found] = []
    failed: list[Row] = []
    for outcome in pool.map(one_kind, resources):
        if isinstance(outcome, Row):
            failed.append(outcome)
        else:
            found += outcome
    return found, failed


# A request's row carries its verb until it is sent; then what was done.
_DONE = {"pause": "paused", "delete": "deleted", "unpause": "unpaused"}
# A request: its row, and the call, given the timeout of one attempt.
_Request = tuple[Row, Callable[[float], None]]


@dataclass(frozen=True)
class _Sent:
    rows: list[Row]
    issued_at: float | None  # the monotonic moment the last request that counted was issued
    retryable_failure: bool  # a request failed only for want of time: another pass may get it through


def _send_all(pool: ThreadPoolExecutor, requests: Sequence[_Request], deadline: Deadline) -> _Sent:
    """Send every request in parallel, each retried within the deadline; each row's action becomes what
    was done, "gone" on a 404, or a failure with its reason."""
    from kubernetes.client.exceptions import ApiException

    def send(request: _Request) -> tuple[Row, float, bool]:
        row, call = request
        attempts: list[float] = []
        try:
            call_with_retries(call, deadline, on_attempt=lambda: attempts.append(time.monotonic()))
        except Exception as error:
            if isinstance(error, ApiException) and error.status == NOT_FOUND:
                return replace(row, action="gone", state="gone"), attempts[-1], False
            return (
                replace(row, action=f"{row.action} failed", error=api_error(error)),
                attempts[-1],
                isinstance(error, RetriesExhausted),
            )
        return replace(row, action=_DONE[row.action]), attempts[-1], False

    results = list(pool.map(send, requests))
    return _Sent(
        [row for row, _, _ in results],
        max((issued_at for _, issued_at, _ in results), default=None),
        any(retryable for _, _, retryable in results),
    )


def _stop_request(api: Any, namespace: str, item: _Found, halt_id: str) -> _Request:
    if item.resource == WORKFLOWS:
        return Row(item.resource, item.name, "delete"), partial(delete_object, api, namespace, item.resource, item.name)
    return Row(item.resource, item.name, "pause"), partial(_pause, api, namespace, item.resource, item.name, halt_id)


def _pause(api: Any, namespace: str, plural: str, name: str, halt_id: str | None, timeout_s: float) -> None:
    set_paused(api, namespace, plural, name, halt_id=halt_id, timeout_s=timeout_s)


def issue_halt(
    api: Any, namespace: str, *, dry_run: bool = False, deadline_s: float = HALT_DEADLINE_S, halt_id: str | None = None
) -> Issued:
    """Step 1: passes that stop every Schedule, Workflow and experiment in `namespace`, until one finds
    nothing active or `deadline_s` has passed. Never raises for an API failure: the rows carry it."""
    started = time.monotonic()
    halt_id = halt_id or new_halt_id()
    deadline = Deadline(deadline_s)
    rows: dict[tuple[str, str], Row] = {}
    issued_at: float | None = None
    rng = random.Random()
    passes = 0
    past_deadline_passes = 0
    with ThreadPoolExecutor(PARALLEL_REQUESTS, thread_name_prefix="chaoslab-halt") as pool:
        while True:
            passes += 1
            this = _halt_pass(api, namespace, pool, deadline, rows, first=passes == 1, dry_run=dry_run, halt_id=halt_id)
            issued_at = _latest(issued_at, this.issued_at)
            if this.verified or dry_run:
                break
            if this.failed and not this.worth_another_pass and not this.not_listed:
                break  # refused for good (403, 422, ...): asking again until the deadline changes nothing
            if deadline.passed:
                # One pass more after the deadline, when the last one stopped all it found: it may
                # confirm the namespace clear. Never more: something that keeps spawning must not keep us here.
                past_deadline_passes += 1
                if this.failed or this.not_listed or past_deadline_passes > 1:
                    break
            elif this.failed or this.not_listed:
                wait_s = BACKOFF.wait_s(passes, rng)
                if wait_s >= deadline.remaining_s():
                    break
                time.sleep(wait_s)
    return Issued(
        started, tuple(this.not_listed + list(rows.values())), issued_at, halt_id, deadline_s, this.verified or dry_run
    )


@dataclass
class _Pass:
    """One pass of a halt over the namespace: what it could not list, and what its requests did."""

    not_listed: list[Row] = field(default_factory=list)
    acted: bool = False  # it sent a request: something was active
    failed: bool = False  # a request failed
    worth_another_pass: bool = False  # a request failed only for want of time
    issued_at: float | None = None

    @property
    def verified(self) -> bool:
        """It listed every kind and found nothing active."""
        return not self.not_listed and not self.acted


def _halt_pass(
    api: Any,
    namespace: str,
    pool: ThreadPoolExecutor,
    deadline: Deadline,
    rows: dict[tuple[str, str], Row],
    *,
    first: bool,
    dry_run: bool,
    halt_id: str,
) -> _Pass:
    """List and stop: the first pass stops the spawners before it lists the experiments, a later one takes every
    kind at once. `rows` keeps each object's latest row across passes."""
    this = _Pass()
    for kinds in (SPAWNERS, EXPERIMENT_RESOURCES) if first else (ALL_KINDS,):
        found, unlisted = _list(api, namespace, kinds, pool, deadline)
        this.not_listed += unlisted
        _forget_gone(rows, found, {kind for kind in kinds if kind not in {row.resource for row in unlisted}})
        requests = _stop_requests(api, namespace, found, rows, dry_run=dry_run, halt_id=halt_id)
        sent = _send_all(pool, requests, deadline)
        for row in sent.rows:
            rows[row.key] = row
        this.acted = this.acted or bool(requests)
        this.failed = this.failed or any(not row.ok for row in sent.rows)
        this.worth_another_pass = this.worth_another_pass or sent.retryable_failure
        this.issued_at = _latest(this.issued_at, sent.issued_at)
    return this


def _stop_requests(
    api: Any, namespace: str, found: Sequence[_Found], rows: dict[tuple[str, str], Row], *, dry_run: bool, halt_id: str
) -> list[_Request]:
    """A request for each active object; an object already stopped, or only listed by a dry run, gets its row now."""
    requests: list[_Request] = []
    for item in found:
        if not item.active:
            # Idempotent: a second halt finds it paused, and leaves someone else's pause unmarked.
            rows.setdefault(
                (item.resource, item.name),
                Row(item.resource, item.name, "already deleting" if item.resource == WORKFLOWS else "already paused"),
            )
        elif dry_run:
            verb = "would delete" if item.resource == WORKFLOWS else "would pause"
            rows[(item.resource, item.name)] = Row(item.resource, item.name, verb)
        else:
            requests.append(_stop_request(api, namespace, item, halt_id))
    return requests


def _latest(first: float | None, second: float | None) -> float | None:
    return max((moment for moment in (first, second) if moment is not None), default=None)


def _forget_gone(rows: dict[tuple[str, str], Row], found: Sequence[_Found], listed: set[str]) -> None:
    """A failed request's object that a later list no longer shows is gone: nothing of it is left to stop."""
    present = {(item.resource, item.name) for item in found}
    for key, row in list(rows.items()):
        if row.resource in listed and key not in present and row.error is not None:
            rows[key] = replace(row, action="gone", state="gone", error=None)


def _awaits(row: Row) -> bool:
    if row.error is not None or row.state:
        return False
    if row.resource == WORKFLOWS:
        return row.action in ("deleted", "already deleting")
    return row.action in ("paused", "already paused")


def wait_recovered(
    api: Any, namespace: str, issued: Issued, wait_s: float, poll_s: float = DEFAULT_POLL_S
) -> tuple[list[Row], float | None]:
    """Step 3: poll until every paused experiment is recovered or gone and every Workflow gone.

    Returns the rows with their state, and the monotonic moment the last one got there (None when one
    did not within wait_s: its row then has the error, with what was last seen).
    """
    rows = [replace(row, state="paused") if row.resource in NO_STATUS and _awaits(row) else row for row in issued.rows]
    deadline = time.monotonic() + wait_s
    last_seen: dict[int, str] = {}
    while True:
        for index in [index for index, row in enumerate(rows) if _awaits(row)]:
            rows[index], last_seen[index] = _look(api, namespace, rows[index])
        if not any(_awaits(row) for row in rows):
            return rows, time.monotonic()
        if time.monotonic() >= deadline:
            for index, row in enumerate(rows):
                if _awaits(row):
                    goal = "gone" if row.resource == WORKFLOWS else "recovered"
                    rows[index] = replace(
                        row,
                        state=f"not {goal}",
                        error=f"not {goal} within {format_duration(wait_s)}; last seen: {last_seen[index]}",
                    )
            return rows, None
        time.sleep(poll_s)


def _look(api: Any, namespace: str, row: Row) -> tuple[Row, str]:
    """The row with its state once recovered or gone (else unchanged), and what was seen."""
    try:
        chaos_object = get_object(api, namespace, row.resource, row.name)
    except Exception as error:  # one failed read is no verdict: the next round reads again
        return row, f"read failed: {api_error(error)}"
    if chaos_object is None:
        return replace(row, state="gone"), "gone"
    seen = conditions(chaos_object)
    if row.resource != WORKFLOWS and is_recovered(chaos_object.get("kind", ""), seen):
        return replace(row, state="recovered"), "recovered"
    return row, f"conditions {json.dumps(seen, sort_keys=True)}"


def finish_halt(
    api: Any,
    namespace: str,
    issued: Issued,
    stack: StackDriver | None,
    *,
    wait_s: float = DEFAULT_WAIT_S,
    up: bool = False,
    poll_s: float = DEFAULT_POLL_S,
    display: Display | None = None,
) -> HaltReport:
    """Steps 2 to 4. Never raises for a failure of one step: the report carries it, and the next step runs."""
    report = HaltReport(
        "halt",
        namespace,
        None if stack is None else stack.name,
        False,
        list(issued.rows),
        issued.halt_id,
        issued.deadline_s,
        issued.verified,
        issued.issued_s,
    )
    if issued.issued_s is not None and display is not None:
        display.note(
            f"every pause and delete issued {issued.issued_s:.3f} s after the start; waiting up to "
            f"{format_duration(wait_s)} for Chaos Mesh to report recovery"
        )
    if stack is not None:
        report.config = _change_config(lambda: stack.set_config(HALTED_KEY, "true", path=True), "set to true")
    rows, recovered_at = wait_recovered(api, namespace, issued, wait_s, poll_s)
    report.rows = rows
    # "All recovered" only when nothing is left running: a time to recovery of half the objects is no such time.
    everything_stopped = issued.verified and all(row.ok for row in rows)
    report.recovered_s = recovered_at - issued.started if recovered_at is not None and everything_stopped else None
    if stack is not None and up:
        report.update = _up(stack, "chaoslab halt: declare no chaos")
    elif stack is not None:
        report.notes.append("the next `pulumi up` declares no chaos object; pass --up to run it now (about a minute)")
    report.notes.append(
        f"undo this halt only: chaoslab resume --halt-id {issued.halt_id} "
        + (f"--stack {stack.name}" if stack is not None else f"--namespace {namespace}")
    )
    return report


def halt(
    api: Any,
    namespace: str,
    stack: StackDriver | None,
    *,
    dry_run: bool = False,
    wait_s: float = DEFAULT_WAIT_S,
    deadline_s: float = HALT_DEADLINE_S,
    up: bool = False,
    poll_s: float = DEFAULT_POLL_S,
    display: Display | None = None,
) -> HaltReport:
    issued = issue_halt(api, namespace, dry_run=dry_run, deadline_s=deadline_s)
    if dry_run:
        report = HaltReport(
            "halt", namespace, None if stack is None else stack.name, True, list(issued.rows), deadline_s=deadline_s
        )
        if stack is not None:
            report.config = {"key": HALTED_KEY, "change": "would set to true", "error": None}
        return report
    return finish_halt(api, namespace, issued, stack, wait_s=wait_s, up=up, poll_s=poll_s, display=display)


def resume(
    api: Any,
    namespace: str,
    stack: StackDriver | None,
    *,
    dry_run: bool = False,
    up: bool = False,
    halt_id: str | None = None,
    every_halt: bool = False,
    deadline_s: float = HALT_DEADLINE_S,
) -> HaltReport:
    """Remove `chaos-lab:halted`, then un-pause what one halt paused: `halt_id`, else the latest halt
    found in the namespace; with every_halt, everything chaoslab paused. Someone else's pause stays."""
    report = HaltReport("resume", namespace, None if stack is None else stack.name, dry_run, [], deadline_s=deadline_s)
    if stack is not None:
        report.config = (
            {"key": HALTED_KEY, "change": "would be removed", "error": None}
            if dry_run
            else _change_config(lambda: stack.remove_config(HALTED_KEY, path=True), "removed")
        )
    started = time.monotonic()
    deadline = Deadline(deadline_s)
    with ThreadPoolExecutor(PARALLEL_REQUESTS, thread_name_prefix="chaoslab-resume") as pool:
        found, failed = _list(api, namespace, PAUSABLE, pool, deadline)
        ours = [item for item in found if item.paused_by_chaoslab]
        if not every_halt and halt_id is None:
            # Halt IDs begin with their UTC start: the greatest is the latest halt.
            halt_id = max((item.halt_id for item in ours if item.halt_id is not None), default=None)
        report.halt_id = None if every_halt else halt_id
        chosen = [item for item in ours if every_halt or item.halt_id == halt_id]
        others = [item for item in ours if item not in chosen]
        rows = _left_paused(found, others)
        if dry_run:
            rows += [Row(item.resource, item.name, "would unpause") for item in chosen]
        else:
            unpaused = _send_all(pool, [_unpause_request(api, namespace, item) for item in chosen], deadline)
            rows += unpaused.rows
            report.issued_s = None if unpaused.issued_at is None else unpaused.issued_at - started
    report.rows = failed + rows
    if others:
        report.notes.append(
            f"{len(others)} object(s) paused by other halts stay paused; "
            "resume them with --halt-id ID, or every chaoslab pause with --all"
        )
    if halt_id is not None and not chosen and not every_halt:
        report.notes.append(f"no object carries halt ID {halt_id}")
    if stack is not None and up and not dry_run:
        report.update = _up(stack, "chaoslab resume: declare the enabled chaos again")
    return report


def _left_paused(found: Sequence[_Found], other_halts: Sequence[_Found]) -> list[Row]:
    """The rows of what resume leaves paused: someone else's pauses, then those of other halts."""
    return [
        Row(item.resource, item.name, "left paused (not paused by chaoslab)")
        for item in found
        if item.paused and not item.paused_by_chaoslab
    ] + [Row(item.resource, item.name, f"left paused (halt {item.halt_id or 'without an ID'})") for item in other_halts]


def _unpause_request(api: Any, namespace: str, item: _Found) -> _Request:
    return Row(item.resource, item.name, "unpause"), partial(_pause, api, namespace, item.resource, item.name, None)


def _change_config(change: Callable[[], None], done: str) -> dict[str, Any]:
    try:
        change()
    except Exception as error:  # the pause stands: the report carries the error, and the exit code is 1
        return {"key": HALTED_KEY, "change": done, "error": one_line(error)}
    return {"key": HALTED_KEY, "change": done, "error": None}


def _up(stack: StackDriver, message: str) -> dict[str, Any]:
    try:
        return stack.up(message).to_dict()
    except Exception as error:
        return {"error": one_line(error)}
