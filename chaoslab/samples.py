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
- `interrupted`: the probe was stopped by Ctrl-C; requests still in flight then (it waits about a
  second for them) are failed with the error kind `interrupted`.

Percentiles come from a Tally: fixed-size log-bucket histograms (the idea of HdrHistogram,
http://hdrhistogram.org/), so a probe of any length holds a few kilobytes, not every sample. A
reported percentile is never below the exact nearest-rank one and at most RELATIVE_ERROR above it;
the maximum is exact.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from .errors import UsageError
from .files import LineFile, write_atomic

# The percentiles every summary carries; 100 stands for the maximum.
REPORTED_PERCENTILES = (50, 95, 99, 100)
MAX_PERCENTILE = 100
# Answers below this status are successes: 2xx, and 3xx (the probe does not follow redirects).
FIRST_FAILING_STATUS = 400
FIRST_SERVER_ERROR_STATUS = 500
MS_PER_S = 1000.0


class ErrorKind(StrEnum):
    """Why a sent request failed."""

    TIMEOUT = "timeout"
    CONNECTION_REFUSED = "connection_refused"
    CONNECTION_RESET = "connection_reset"
    DNS = "dns"
    HTTP_5XX = "http_5xx"
    HTTP_4XX = "http_4xx"
    OTHER = "other"
    INTERRUPTED = "interrupted"  # still in flight when Ctrl-C stopped the probe


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


# Histogram buckets grow by this factor: a value is reported as its bucket's upper edge, at most 1 %
# above it. Bucket 0 holds everything below SMALLEST_MS; from 1 microsecond to a day that is about
# 2,300 buckets at most, whatever the number of samples.
RELATIVE_ERROR = 0.01
SMALLEST_MS = 1e-3
_LOG_GROWTH = math.log1p(RELATIVE_ERROR)


class LogHistogram:
    """Counts of values (milliseconds) in logarithmic buckets, and the exact extremes."""

    def __init__(self) -> None:
        self.count = 0
        self.lowest = math.inf
        self.highest = -math.inf
        self._buckets: Counter[int] = Counter()

    def add(self, value: float) -> None:
        self.count += 1
        self.lowest = min(self.lowest, value)
        self.highest = max(self.highest, value)
        self._buckets[0 if value < SMALLEST_MS else int(math.log(value / SMALLEST_MS) / _LOG_GROWTH) + 1] += 1

    @property
    def size(self) -> int:
        """Buckets in use: bounded by the range of the values, not their number."""
        return len(self._buckets)

    def percentile(self, rank: float) -> float | None:
        """Nearest-rank percentile (100: the exact maximum), as its bucket's upper edge clipped to the
        extremes; None when empty."""
        if not self.count:
            return None
        if rank >= MAX_PERCENTILE:
            return self.highest
        wanted = max(1, math.ceil(rank / 100 * self.count))
        seen = 0
        for bucket in sorted(self._buckets):
            seen += self._buckets[bucket]
            if seen >= wanted:
                upper = SMALLEST_MS * math.exp(bucket * _LOG_GROWTH)
                return max(self.lowest, min(upper, self.highest))
        return self.highest  # unreachable: the buckets hold `count` values

    def percentiles(self) -> dict[str, float | None]:
        return {percentile_key(rank): self.percentile(rank) for rank in REPORTED_PERCENTILES}


class Tally:
    """Everything a Summary needs, kept as samples arrive: counts and two histograms, a fixed size."""

    def __init__(self) -> None:
        self.scheduled = 0
        self.sent = 0
        self.ok = 0
        self.errors: Counter[ErrorKind] = Counter()
        self.last_start_s: float | None = None
        self.latency = LogHistogram()
        self.lateness = LogHistogram()

    def add(self, sample: Sample) -> None:
        self.scheduled += 1
        if sample.started_s is None:
            return
        self.sent += 1
        if sample.error is None:
            self.ok += 1
        else:
            self.errors[sample.error] += 1
        self.last_start_s = sample.started_s if self.last_start_s is None else max(self.last_start_s, sample.started_s)
        if sample.latency_ms is not None:
            self.latency.add(sample.latency_ms)
        self.lateness.add((sample.started_s - sample.scheduled_s) * MS_PER_S)

    def summary(self, requested_rate: float, duration_s: float, *, interrupted: bool = False) -> Summary:
        # The span from the first due time (0) to the last actual start, plus one interval for that
        # last request's own slot: a probe that keeps its schedule exactly achieves the requested rate.
        span_s = 0.0 if self.last_start_s is None else self.last_start_s + 1 / requested_rate
        return Summary(
            scheduled=self.scheduled,
            sent=self.sent,
            ok=self.ok,
            requested_rate=requested_rate,
            achieved_rate=self.sent / span_s if span_s > 0 else 0.0,
            duration_s=duration_s,
            latency_ms=self.latency.percentiles(),
            start_lateness_ms=self.lateness.percentiles(),
            errors={kind.value: self.errors[kind] for kind in ErrorKind if self.errors[kind]},
            interrupted=interrupted,
        )


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
    interrupted: bool = False  # stopped by Ctrl-C before its schedule ended

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
            "interrupted": self.interrupted,
        }


def _rounded(values: Mapping[str, float | None]) -> dict[str, float | None]:
    return {key: None if value is None else round(value, 3) for key, value in values.items()}


def summarize(
    samples: Iterable[Sample], requested_rate: float, duration_s: float, *, interrupted: bool = False
) -> Summary:
    tally = Tally()
    for sample in samples:
        tally.add(sample)
    return tally.summary(requested_rate, duration_s, interrupted=interrupted)


def sample_line(sample: Sample) -> str:
    return json.dumps(sample.to_dict()) + "\n"


class SampleFile:
    """Samples streamed to `path` as JSON Lines while a probe runs, in the order they finished; a
    probe sink (chaoslab.probe.SampleSink). close() raises OSError naming `path` if a write failed."""

    def __init__(self, path: Path) -> None:
        self._file = LineFile(path)

    def add(self, sample: Sample) -> None:
        self._file.write(sample_line(sample))

    def close(self) -> None:
        self._file.close()


def write_samples(path: Path, samples: Iterable[Sample]) -> None:
    """All samples as JSON Lines, one request per line, in the order given."""
    write_atomic(path, "".join(sample_line(sample) for sample in samples))


def read_samples(path: Path) -> list[Sample]:
    """Raises OSError for a missing file, MalformedFile naming the line and field that is not a sample's."""
    samples = []
    with path.open() as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except ValueError as error:
                raise MalformedFile(path, f"line {number}", f"not JSON ({error})") from None
            if not isinstance(raw, dict):
                raise MalformedFile(path, f"line {number}", "not a JSON object")
            for key, (accepts, accepted) in SAMPLE_FIELDS.items():
                if key not in raw:
                    raise MalformedFile(path, f"line {number}: {key}", "missing")
                if not accepts(raw[key]):
                    raise MalformedFile(path, f"line {number}: {key}", f"got {raw[key]!r}; accepted {accepted}")
            samples.append(Sample.from_dict(raw))
    return samples


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# Each field of a sample line: what it accepts, and how an error message says so.
SAMPLE_FIELDS: dict[str, tuple[Any, str]] = {
    "scheduled_s": (_is_number, "a number of seconds"),
    "started_s": (lambda value: value is None or _is_number(value), "null or a number of seconds"),
    "latency_ms": (lambda value: value is None or _is_number(value), "null or a number of milliseconds"),
    "status": (
        lambda value: value is None or (isinstance(value, int) and not isinstance(value, bool)),
        "null or an HTTP status",
    ),
    "error": (
        lambda value: value is None or value in {kind.value for kind in ErrorKind},
        "null or one of " + ", ".join(kind.value for kind in ErrorKind),
    ),
}


class MalformedFile(UsageError):
    """A run file that cannot be read as what it should be: names the file, the field and what is wrong."""

    def __init__(self, path: Path, field: str, problem: str) -> None:
        super().__init__(f"{path}: {field}: {problem}")
        self.path = path
        self.field = field
