"""`halt` and `resume`: the stop-everything button for the fenced namespace, and its undo.

halt, in this order:
1. issue: list every Chaos Mesh experiment, Schedule and Workflow in the namespace, then pause each
   experiment and Schedule (merge patch of the pause annotation, marked as chaoslab's) and delete each
   Workflow (a Workflow cannot be paused). The lists and then the requests go out in parallel, nothing
   waits between them: pausing is the part that must take seconds.
2. set `chaos-lab:halted=true` in the stack's config (with a stack), so the next `pulumi up` declares
   no chaos object at all;
3. wait, bounded, until Chaos Mesh reports every paused experiment recovered (`AllRecovered` True, or
   the object gone) and every Workflow gone;
4. with `up`, run `pulumi up` (a minute, not seconds: why it comes last and is optional).

A probe's abort calls `issue_halt` from its watch thread and `finish_halt` (steps 2 to 4) after the
probe has stopped. Every object gets its own outcome: one failure is reported and the others proceed.
`resume` removes `chaos-lab:halted` and un-pauses only the objects carrying chaoslab's mark.

Only the namespace given is ever listed or changed: the caller takes it from the stack's config
(`chaos-lab:sandboxNamespace`) or from the operator's --namespace.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from experiments.durations import format_duration

from .cluster import (GROUP, NOT_FOUND, PAUSE_ANNOTATION, PAUSED_BY, PAUSED_BY_ANNOTATION, REQUEST_TIMEOUT_S, VERSION, api_error,
                      conditions, delete_object, get_object, is_recovered, set_paused)
from .display import Display
from .journal import one_line
from .plan import HALTED_KEY
from .stack import StackDriver

# Every kind of Chaos Mesh experiment that takes the pause annotation, and Schedule, whose pause also
# pauses the experiments it started.
PAUSABLE = ("podchaos", "networkchaos", "stresschaos", "iochaos", "timechaos", "dnschaos", "httpchaos",
            "kernelchaos", "jvmchaos", "schedules")
WORKFLOWS = "workflows"
# A Schedule's status has no conditions (only `active` and `time`): there is no recovery of its own to
# wait for. The experiments it started are in the namespace, and are paused and waited for themselves.
NO_STATUS = frozenset({"schedules"})
# Requests in flight at once: the 11 lists, then the pauses, go out in a round or two. (The `kubernetes`
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

    def to_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "name": self.name, "action": self.action, "state": self.state or None,
                "error": self.error}


@dataclass(frozen=True)
class Issued:
    """What step 1 did: the rows, and when it started and issued its last request (monotonic)."""

    started: float
    rows: tuple[Row, ...]
    issued_at: float | None  # None: no request was needed

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
    issued_s: float | None = None  # start to the last pause or delete request issued
    recovered_s: float | None = None  # start to every paused object recovered and every Workflow gone
    config: dict[str, Any] | None = None  # {"key", "change", "error"}; None without a stack
    update: dict[str, Any] | None = None  # the `up` with --up: its outcome, or {"error": ...}
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (all(row.ok for row in self.rows) and not (self.config or {}).get("error")
                and not (self.update or {}).get("error"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "namespace": self.namespace,
            "stack": self.stack,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "objects": [row.to_dict() for row in self.rows],
            "issued_s": _rounded(self.issued_s),
            "recovered_s": _rounded(self.recovered_s),
            "config": self.config,
            "update": self.update,
        }

    def text(self) -> str:
        where = f"namespace {self.namespace}" + (f" (stack {self.stack})" if self.stack else "")
        lines = [f"{self.command}{' --dry-run' if self.dry_run else ''}: {where}"]
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
            lines.append(f"all requests issued {self.issued_s:.3f} s after the start")
        if self.recovered_s is not None:
            lines.append(f"all recovered {self.recovered_s:.3f} s after the start")
        if self.config is not None:
            lines.append(f"{self.config['key']}: {self.config['change']}" + (f" FAILED: {self.config['error']}" if self.config["error"] else ""))
        if self.update is not None:
            lines.append(f"pulumi up: {self.update.get('error') or self.update.get('result')}")
        lines += self.notes
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


def _list(api: Any, namespace: str, resources: Sequence[str], pool: ThreadPoolExecutor) -> tuple[list[_Found], list[Row]]:
    """Every object of these kinds in the namespace, and a failed row for each kind that could not be listed."""
    from kubernetes.client.exceptions import ApiException

    def one_kind(resource: str) -> list[_Found] | Row:
        try:
            listing = api.list_namespaced_custom_object(GROUP, VERSION, namespace, resource, _request_timeout=REQUEST_TIMEOUT_S)
        except Exception as error:
            if isinstance(error, ApiException) and error.status == NOT_FOUND:
                return []  # the kind is not installed on this cluster: nothing of it to stop
            return Row(resource, "*", "list failed", api_error(error))
        return [
            _Found(resource, item["metadata"]["name"], item["metadata"].get("annotations") or {},
                   bool(item["metadata"].get("deletionTimestamp")))
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


def _send_all(pool: ThreadPoolExecutor, requests: Sequence[tuple[Row, Callable[[], None]]]) -> tuple[list[Row], float | None]:
    """Send every request in parallel; each row's action becomes what was done, "gone" on a 404, or a failure.

    Returns the rows and the monotonic moment the last request was issued.
    """
    from kubernetes.client.exceptions import ApiException

    def send(request: tuple[Row, Callable[[], None]]) -> tuple[Row, float]:
        row, call = request
        issued_at = time.monotonic()
        try:
            call()
        except Exception as error:
            if isinstance(error, ApiException) and error.status == NOT_FOUND:
                return replace(row, action="gone", state="gone"), issued_at
            return replace(row, action=f"{row.action} failed", error=api_error(error)), issued_at
        return replace(row, action=_DONE[row.action]), issued_at

    results = list(pool.map(send, requests))
    return [row for row, _ in results], max((issued_at for _, issued_at in results), default=None)


def issue_halt(api: Any, namespace: str, *, dry_run: bool = False) -> Issued:
    """Step 1: list, then pause every experiment and Schedule and delete every Workflow in `namespace`."""
    started = time.monotonic()
    with ThreadPoolExecutor(PARALLEL_REQUESTS, thread_name_prefix="chaoslab-halt") as pool:
        found, failed = _list(api, namespace, (*PAUSABLE, WORKFLOWS), pool)
        rows: list[Row] = []
        requests: list[tuple[Row, Callable[[], None]]] = []
        for item in found:
            if item.resource == WORKFLOWS:
                if item.deleting:
                    rows.append(Row(item.resource, item.name, "already deleting"))
                elif dry_run:
                    rows.append(Row(item.resource, item.name, "would delete"))
                else:
                    requests.append((Row(item.resource, item.name, "delete"), partial(delete_object, api, namespace, item.resource, item.name)))
            elif item.paused:
                # Idempotent: a second halt finds it paused, and leaves someone else's pause unmarked.
                rows.append(Row(item.resource, item.name, "already paused"))
            elif dry_run:
                rows.append(Row(item.resource, item.name, "would pause"))
            else:
                requests.append((Row(item.resource, item.name, "pause"), partial(set_paused, api, namespace, item.resource, item.name, True)))
        sent, issued_at = _send_all(pool, requests)
    return Issued(started, tuple(failed + rows + sent), issued_at)


def _awaits(row: Row) -> bool:
    if row.error is not None or row.state:
        return False
    if row.resource == WORKFLOWS:
        return row.action in ("deleted", "already deleting")
    return row.action in ("paused", "already paused")


def wait_recovered(api: Any, namespace: str, issued: Issued, wait_s: float, poll_s: float = DEFAULT_POLL_S) -> tuple[list[Row], float | None]:
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
                    rows[index] = replace(row, state=f"not {goal}",
                                          error=f"not {goal} within {format_duration(wait_s)}; last seen: {last_seen[index]}")
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
    api: Any, namespace: str, issued: Issued, stack: StackDriver | None, *, wait_s: float = DEFAULT_WAIT_S, up: bool = False,
    poll_s: float = DEFAULT_POLL_S, display: Display | None = None,
) -> HaltReport:
    """Steps 2 to 4. Never raises for a failure of one step: the report carries it, and the next step runs."""
    report = HaltReport("halt", namespace, None if stack is None else stack.name, False, list(issued.rows), issued.issued_s)
    if issued.issued_s is not None and display is not None:
        display.note(f"every pause and delete issued {issued.issued_s:.3f} s after the start; waiting up to "
                     f"{format_duration(wait_s)} for Chaos Mesh to report recovery")
    if stack is not None:
        report.config = _change_config(lambda: stack.set_config(HALTED_KEY, "true", path=True), "set to true")
    rows, recovered_at = wait_recovered(api, namespace, issued, wait_s, poll_s)
    report.rows = rows
    report.recovered_s = None if recovered_at is None else recovered_at - issued.started
    if stack is not None and up:
        report.update = _up(stack, "chaoslab halt: declare no chaos")
    elif stack is not None:
        report.notes.append("the next `pulumi up` declares no chaos object; pass --up to run it now (about a minute)")
    return report


def halt(
    api: Any, namespace: str, stack: StackDriver | None, *, dry_run: bool = False, wait_s: float = DEFAULT_WAIT_S,
    up: bool = False, poll_s: float = DEFAULT_POLL_S, display: Display | None = None,
) -> HaltReport:
    issued = issue_halt(api, namespace, dry_run=dry_run)
    if dry_run:
        report = HaltReport("halt", namespace, None if stack is None else stack.name, True, list(issued.rows))
        if stack is not None:
            report.config = {"key": HALTED_KEY, "change": "would set to true", "error": None}
        return report
    return finish_halt(api, namespace, issued, stack, wait_s=wait_s, up=up, poll_s=poll_s, display=display)


def resume(api: Any, namespace: str, stack: StackDriver | None, *, dry_run: bool = False, up: bool = False) -> HaltReport:
    """Remove `chaos-lab:halted`, then un-pause what chaoslab paused; someone else's pause stays."""
    report = HaltReport("resume", namespace, None if stack is None else stack.name, dry_run, [])
    if stack is not None:
        report.config = ({"key": HALTED_KEY, "change": "would be removed", "error": None} if dry_run
                         else _change_config(lambda: stack.remove_config(HALTED_KEY, path=True), "removed"))
    started = time.monotonic()
    with ThreadPoolExecutor(PARALLEL_REQUESTS, thread_name_prefix="chaoslab-resume") as pool:
        found, failed = _list(api, namespace, PAUSABLE, pool)
        rows = [Row(item.resource, item.name, "left paused (not paused by chaoslab)") for item in found
                if item.paused and not item.paused_by_chaoslab]
        ours = [item for item in found if item.paused_by_chaoslab]
        if dry_run:
            rows += [Row(item.resource, item.name, "would unpause") for item in ours]
        else:
            unpaused, issued_at = _send_all(pool, [
                (Row(item.resource, item.name, "unpause"), partial(set_paused, api, namespace, item.resource, item.name, False))
                for item in ours])
            rows += unpaused
            report.issued_s = None if issued_at is None else issued_at - started
    report.rows = failed + rows
    if stack is not None and up and not dry_run:
        report.update = _up(stack, "chaoslab resume: declare the enabled chaos again")
    return report


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

