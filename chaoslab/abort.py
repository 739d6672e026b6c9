"""Abort conditions: stop the chaos as soon as the probe sees the app hurt beyond a stated bound.

A condition is `METRIC OP VALUE/WINDOW`, judged on the requests that completed in the last WINDOW:

    success<90%/10s     fewer than 90 % of them succeeded
    p95>800ms/10s       their 95th percentile latency is above 800 ms (p1 to p99, or max)

Success counts a request the probe could not send (concurrency cap) as a failure at its due time, as
the summary's success rate does; latency is over the sent ones, failures included. A condition is judged
only once its window holds MIN_WINDOW_REQUESTS requests, so one unlucky request at the start of a probe
cannot stop an experiment.

AbortWatch judges the conditions on its own thread, fed by the probe's workers, so no worker ever
waits for it before sending its next request: the open-loop schedule holds. When one holds it stops the probe and,
right there, calls the halt it was given, timing the breach (the completion of the request that made
the condition hold) to the moment the halt request was issued.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from chaoslab.experiments.durations import format_duration, parse_duration

from .errors import UsageError
from .journal import iso, one_line, utc_now
from .samples import MAX_PERCENTILE, MS_PER_S, REPORTED_PERCENTILES, Sample, latencies_ms, percentile, percentile_key

SUCCESS = "success"
# A window with fewer requests is not judged: one or two unlucky requests as a probe starts must not
# stop an experiment. Five is a quarter of a second at the lab's usual 20/s.
MIN_WINDOW_REQUESTS = 5
GRAMMAR = "success<PERCENT%/WINDOW or LATENCY>DURATION/WINDOW, LATENCY one of p1..p99 or max, e.g. success<90%/10s or p95>800ms/10s"
_CONDITION = re.compile(r"(?P<metric>success|p\d{1,2}|max)(?P<op>[<>])(?P<value>[^/]+)/(?P<window>.+)")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)%")


@dataclass(frozen=True)
class AbortCondition:
    text: str  # as the operator wrote it, whitespace removed
    rank: int | None  # None: the success rate; else a latency percentile (100 is the maximum)
    threshold: float  # percent for the success rate, milliseconds for latency
    window_s: float

    @property
    def unit(self) -> str:
        return "%" if self.rank is None else "ms"

    def observe(self, window: Sequence[Sample]) -> float | None:
        """The metric over the window's requests; None when there are too few to judge."""
        if self.rank is None:
            if len(window) < MIN_WINDOW_REQUESTS:
                return None
            return 100 * sum(1 for sample in window if sample.ok) / len(window)
        latencies = latencies_ms(window)  # the sent requests only: one not sent has no latency
        return None if len(latencies) < MIN_WINDOW_REQUESTS else percentile(latencies, self.rank)

    def holds(self, observed: float) -> bool:
        return observed < self.threshold if self.rank is None else observed > self.threshold


def parse_condition(text: str) -> AbortCondition:
    """Raises ValueError naming what was accepted."""
    written = "".join(text.split())
    match = _CONDITION.fullmatch(written)
    if match is None:
        raise ValueError(f"got {text!r}; accepted {GRAMMAR}")
    metric, op, value, window = match.group("metric", "op", "value", "window")
    try:
        window_s = parse_duration(window)
    except ValueError:
        raise ValueError(f"got {text!r}: window {window!r} is not a duration like 10s or 1m") from None
    if window_s <= 0:
        raise ValueError(f"got {text!r}: the window must be longer than zero")
    if metric == SUCCESS:
        percent = _PERCENT.fullmatch(value)
        if op != "<" or percent is None or not 0 < float(percent.group(1)) <= 100:
            raise ValueError(
                f"got {text!r}; a success condition reads success<PERCENT%/WINDOW with a percent above 0 and at most 100"
            )
        return AbortCondition(written, None, float(percent.group(1)), window_s)
    rank = MAX_PERCENTILE if metric == "max" else int(metric[1:])
    if op != ">" or not 1 <= rank <= MAX_PERCENTILE:
        raise ValueError(f"got {text!r}; a latency condition reads p1..p99 or max, then >DURATION/WINDOW")
    try:
        threshold_ms = parse_duration(value) * MS_PER_S
    except ValueError:
        raise ValueError(f"got {text!r}: {value!r} is not a duration like 800ms or 1.5s") from None
    return AbortCondition(written, rank, threshold_ms, window_s)


def check_conditions(conditions: Iterable[AbortCondition], rate: float) -> None:
    """Raises UsageError for a window too short to ever hold MIN_WINDOW_REQUESTS at this rate."""
    short = [condition.text for condition in conditions if rate * condition.window_s < MIN_WINDOW_REQUESTS]
    if short:
        raise UsageError(
            f"--abort-if: {', '.join(short)}: at {rate:g}/s the window holds fewer than {MIN_WINDOW_REQUESTS} requests, "
            "too few to judge; lengthen the window or raise --rate"
        )


@dataclass(frozen=True)
class Window:
    """The numbers of the requests that completed in a condition's window, for the report."""

    requests: int
    ok: int
    latency_ms: Mapping[str, float | None]

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> Window:
        latencies = latencies_ms(samples)
        return cls(
            len(samples),
            sum(1 for sample in samples if sample.ok),
            {percentile_key(rank): percentile(latencies, rank) for rank in REPORTED_PERCENTILES},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "ok": self.ok,
            "success_percent": round(100 * self.ok / self.requests, 3) if self.requests else None,
            "latency_ms": {key: None if value is None else round(value, 3) for key, value in self.latency_ms.items()},
        }


@dataclass(frozen=True)
class Breach:
    condition: AbortCondition
    observed: float
    window: Window
    at: float  # monotonic: when the request that made the condition hold completed
    at_s: float  # the same, in seconds since the probe started
    at_utc: str


@dataclass(frozen=True)
class Halted:
    issued_at: float | None  # monotonic: when the last pause or delete request was issued; None: nothing to halt
    detail: Mapping[str, Any]  # what was halted, for the journal


# Called on the watch's thread the moment a condition holds; raises whatever the halt raises.
OnBreach = Callable[[Breach], Halted]


@dataclass(frozen=True)
class Abort:
    breach: Breach
    halted: Halted | None  # None: no halt was asked for, or it failed
    halt_error: str | None = None

    @property
    def breach_to_halt_s(self) -> float | None:
        if self.halted is None or self.halted.issued_at is None:
            return None
        return self.halted.issued_at - self.breach.at

    def describe(self) -> str:
        condition, window = self.breach.condition, self.breach.window
        seen = (
            f"{self.breach.observed:.1f} % of {window.requests} requests succeeded"
            if condition.rank is None
            else f"{percentile_key(condition.rank)} {self.breach.observed:.1f} ms over {window.requests} requests"
        )
        return f"{condition.text} held: {seen} in the last {format_duration(condition.window_s)}"

    def to_dict(self) -> dict[str, Any]:
        gap = self.breach_to_halt_s
        return {
            "condition": self.breach.condition.text,
            "observed": round(self.breach.observed, 3),
            "threshold": self.breach.condition.threshold,
            "unit": self.breach.condition.unit,
            "window_s": self.breach.condition.window_s,
            "window": self.breach.window.to_dict(),
            "breach_at": self.breach.at_utc,
            "breach_at_s": round(self.breach.at_s, 3),
            "breach_to_halt_s": None if gap is None else round(gap, 6),
            "halt": None if self.halted is None else dict(self.halted.detail),
            "halt_error": self.halt_error,
        }


_CLOSE = None  # the queue's end marker


class AbortWatch:
    """Judges the conditions on every completed request, on a thread of its own; one breach at most.

    `on_breach` None: only stop the probe. `tripped` is set the moment a condition holds; the probe
    stops scheduling requests then.
    """

    def __init__(self, conditions: Sequence[AbortCondition], on_breach: OnBreach | None = None) -> None:
        self.conditions = tuple(conditions)
        self.on_breach = on_breach
        self.tripped = threading.Event()
        self.abort: Abort | None = None
        self._queue: queue.SimpleQueue[tuple[float, Sample] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = 0.0

    def start(self, start: float) -> None:
        """Start judging; `start` is the probe's monotonic start, which samples are relative to."""
        self._start = start
        self._thread = threading.Thread(target=self._judge, name="chaoslab-abort", daemon=True)
        self._thread.start()

    def completed(self, sample: Sample) -> None:
        """A request finished, or could not be sent (it counts at its due time); any thread, never blocks."""
        if sample.started_s is None or sample.latency_ms is None:
            ended_s = sample.scheduled_s
        else:
            ended_s = sample.started_s + sample.latency_ms / MS_PER_S
        self._queue.put((self._start + ended_s, sample))

    def close(self) -> Abort | None:
        """Judge what is queued, stop the thread, and return the abort, if one happened."""
        if self._thread is not None:
            self._queue.put(_CLOSE)
            self._thread.join()
        return self.abort

    def _judge(self) -> None:
        longest_s = max(condition.window_s for condition in self.conditions)
        recent: deque[tuple[float, Sample]] = deque()
        closing = False
        while not closing:
            # Everything that completed since the last look, judged at once: when requests complete
            # faster than they are judged, the batch's newest is the one that made a condition hold.
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            closing = _CLOSE in batch
            if self.tripped.is_set():
                continue
            recent.extend(item for item in batch if item is not _CLOSE)
            if not recent:
                continue
            now = max(ended for ended, _ in recent)
            while recent[0][0] <= now - longest_s:
                recent.popleft()
            for condition in self.conditions:
                window = [sample for ended, sample in recent if ended > now - condition.window_s]
                observed = condition.observe(window)
                if observed is not None and condition.holds(observed):
                    self._trip(Breach(condition, observed, Window.of(window), now, now - self._start, _utc(now)))
                    break

    def _trip(self, breach: Breach) -> None:
        self.tripped.set()
        if self.on_breach is None:
            self.abort = Abort(breach, None)
            return
        try:
            self.abort = Abort(breach, self.on_breach(breach))
        except Exception as error:  # the abort stands; the report says the halt failed and why
            self.abort = Abort(breach, None, one_line(error))


def _utc(moment: float) -> str:
    """A monotonic moment as UTC wall-clock time, for the report."""
    return iso(utc_now() - timedelta(seconds=time.monotonic() - moment))
