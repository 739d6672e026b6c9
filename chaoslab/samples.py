"""One record per scheduled request, and the summary every command prints and every verdict reads.

Definitions (docs/operator.md repeats them):
- `scheduled`: requests the constant-rate schedule called for; `sent` of them started; `not_sent`
  could not start at their time because the concurrency cap was reached. They are counted, not
  hidden: an open-loop probe that silently skipped them would under-report an overloaded target.
- `ok`: answered with a status below 400. `failed` = sent - ok, each with one error kind.
- `success_rate` = ok / scheduled: a request the probe could not send is not a success.
- latency: from a request's actual start to its full answer or its error, for every sent request
  (failed ones included: a user waits for a timeout too).
- `achieved_rate`: sent requests per second over the span in which they started.
- start lateness: how far behind its scheduled time a request actually started.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from .files import write_atomic

# The percentiles every summary carries; 100 stands for the maximum.
REPORTED_PERCENTILES = (50, 95, 99, 100)
MAX_PERCENTILE = 100
# Answers below this status are successes: 2xx, and 3xx (the probe does not follow redirects).
FIRST_FAILING_STATUS = 400
FIRST_SERVER_ERROR_STATUS = 500
MS_PER_S = 1000.0


class ErrorKind(str, Enum):
    """Why a sent request failed."""

    TIMEOUT = "timeout"
    CONNECTION_REFUSED = "connection_refused"
    CONNECTION_RESET = "connection_reset"
    DNS = "dns"
    HTTP_5XX = "http_5xx"
    HTTP_4XX = "http_4xx"
    OTHER = "other"


def status_error(status: int) -> ErrorKind | None:
    """The error kind of an HTTP answer, or None when it is a success."""
    if status >= FIRST_SERVER_ERROR_STATUS:
        return ErrorKind.HTTP_5XX
    if status >= FIRST_FAILING_STATUS:
        return ErrorKind.HTTP_4XX
    return None


@dataclass(frozen=True)
class Sample:
    scheduled_s: float  # when the request was due, seconds after the phase started
    started_s: float | None  # when it started; None when it was not sent (concurrency cap reached)
    latency_ms: float | None  # actual start to full answer or error; None when not sent
    status: int | None  # the HTTP status; None when there was no answer
    error: ErrorKind | None  # None for a success

    @property
    def sent(self) -> bool:
        return self.started_s is not None

    @property
    def ok(self) -> bool:
        return self.sent and self.error is None

    @property
    def whole_answer_status(self) -> int | None:
        """The HTTP status when the whole answer arrived; None when there was none or it was cut short."""
        if self.error in (None, ErrorKind.HTTP_4XX, ErrorKind.HTTP_5XX):
            return self.status
        return None

    @property
    def lateness_ms(self) -> float | None:
        return None if self.started_s is None else (self.started_s - self.scheduled_s) * MS_PER_S

    def to_dict(self) -> dict[str, Any]:
        return {
            "scheduled_s": round(self.scheduled_s, 6),
            "started_s": None if self.started_s is None else round(self.started_s, 6),
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "status": self.status,
            "error": None if self.error is None else self.error.value,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Sample:
        """Raises KeyError or ValueError for a record that is not a sample."""
        error = raw["error"]
        return cls(
            scheduled_s=float(raw["scheduled_s"]),
            started_s=None if raw["started_s"] is None else float(raw["started_s"]),
            latency_ms=None if raw["latency_ms"] is None else float(raw["latency_ms"]),
            status=raw["status"],
            error=None if error is None else ErrorKind(error),
        )


def percentile(values: Sequence[float], rank: float) -> float | None:
    """Nearest-rank percentile of `values` (rank 100 is the maximum); None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    index = max(0, math.ceil(rank / 100 * len(ordered)) - 1)
    return ordered[index]


def percentile_key(rank: int) -> str:
    return "max" if rank == MAX_PERCENTILE else f"p{rank}"


def latencies_ms(samples: Iterable[Sample]) -> list[float]:
    return [sample.latency_ms for sample in samples if sample.latency_ms is not None]


@dataclass(frozen=True)
class Summary:
    scheduled: int
    sent: int
    ok: int
    requested_rate: float  # per second
    achieved_rate: float  # per second
    duration_s: float  # the schedule's length
    latency_ms: Mapping[str, float | None]  # p50, p95, p99, max
    start_lateness_ms: Mapping[str, float | None]  # p50, p95, p99, max
    errors: Mapping[str, int]  # error kind -> count, kinds that occurred only

    @property
    def not_sent(self) -> int:
        return self.scheduled - self.sent

    @property
    def failed(self) -> int:
        return self.sent - self.ok

    @property
    def success_rate(self) -> float | None:
        return None if self.scheduled == 0 else self.ok / self.scheduled

    def latency(self, rank: int) -> float | None:
        """Raises KeyError for a rank that is not one of REPORTED_PERCENTILES."""
        return self.latency_ms[percentile_key(rank)]

    def to_dict(self) -> dict[str, Any]:
        """The `--json` object: the issue's keys first, then what this probe adds."""
        return {
            "sent": self.sent,
            "ok": self.ok,
            "failed": self.failed,
            "success_rate": None if self.success_rate is None else round(self.success_rate, 6),
            "achieved_rate": round(self.achieved_rate, 3),
            "latency_ms": _rounded(self.latency_ms),
            "errors": dict(self.errors),
            "not_sent": self.not_sent,
            "scheduled": self.scheduled,
            "requested_rate": self.requested_rate,
            "duration_s": self.duration_s,
            "start_lateness_ms": _rounded(self.start_lateness_ms),
        }


def _rounded(values: Mapping[str, float | None]) -> dict[str, float | None]:
    return {key: None if value is None else round(value, 3) for key, value in values.items()}


def _percentiles(values: Sequence[float]) -> dict[str, float | None]:
    return {percentile_key(rank): percentile(values, rank) for rank in REPORTED_PERCENTILES}


def summarize(samples: Sequence[Sample], requested_rate: float, duration_s: float) -> Summary:
    sent = [sample for sample in samples if sample.sent]
    errors = Counter(sample.error for sample in sent if sample.error is not None)
    starts = [sample.started_s for sample in sent if sample.started_s is not None]
    # The span from the first due time (0) to the last actual start, plus one interval for that
    # last request's own slot: a probe that keeps its schedule exactly achieves the requested rate.
    span_s = max(starts) + 1 / requested_rate if starts else 0.0
    return Summary(
        scheduled=len(samples),
        sent=len(sent),
        ok=sum(1 for sample in sent if sample.ok),
        requested_rate=requested_rate,
        achieved_rate=len(sent) / span_s if span_s > 0 else 0.0,
        duration_s=duration_s,
        latency_ms=_percentiles(latencies_ms(sent)),
        start_lateness_ms=_percentiles([late for sample in sent if (late := sample.lateness_ms) is not None]),
        errors={kind.value: errors[kind] for kind in ErrorKind if errors[kind]},
    )


def write_samples(path: Path, samples: Iterable[Sample]) -> None:
    """All samples as JSON Lines, one request per line, in schedule order."""
    write_atomic(path, "".join(json.dumps(sample.to_dict()) + "\n" for sample in samples))


def read_samples(path: Path) -> list[Sample]:
    """Raises OSError for a missing file, ValueError or KeyError for a line that is not a sample."""
    with path.open() as stream:
        return [Sample.from_dict(json.loads(line)) for line in stream if line.strip()]
