"""The in-cluster prober's figures, read back from CloudWatch with GetMetricData: the same truth the alarms judge.

`run --samples-from cloudwatch` judges each phase on them instead of a local probe (no port-forward
through the chaos); `report --cloudwatch` reads them over a finished run's window and overlays them on
its chart. Names come from chaoslab.prober.figures, which the prober publishes under.

What aggregates can and cannot say: the prober publishes one datum per figure per 10-second interval.
Counts (requests, not sent, errors by kind) add up exactly over a phase. Percentiles cannot be merged,
so a phase's p50/p95/p99 are the worst interval's (an upper bound of the phase's own), and its maximum
latency is unknown. A phase is judged on the intervals that overlap it, so its edges are widened to the
prober's 10-second grid.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .files import write_json
from .prober.figures import (
    ERROR_KIND_DIMENSION,
    ERRORS,
    LATENCY_PERCENTILES,
    NOT_SENT,
    PERCENT,
    PUBLISH_INTERVAL_S,
    REQUESTS,
    SUCCESS_RATE,
    cloudwatch_namespace,
    dimensions,
    latency_metric,
)
from .samples import ErrorKind, Summary, percentile_key

CLOUDWATCH_FILE = "cloudwatch.json"
_LATENCY = {rank: latency_metric(rank) for rank in LATENCY_PERCENTILES}
# The error kinds the prober counts: all but INTERRUPTED, which only an interrupted local probe records.
_ERROR_KINDS = tuple(kind.value for kind in ErrorKind if kind is not ErrorKind.INTERRUPTED)


def cloudwatch_file(phase: str) -> str:
    return f"{phase}.cloudwatch.json"


@dataclass(frozen=True)
class Interval:
    """One 10-second interval as the prober published it."""

    at: datetime
    requests: float
    success_percent: float | None
    not_sent: float
    latency_ms: Mapping[int, float | None]
    errors: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at),
            "requests": self.requests,
            "success_percent": self.success_percent,
            "not_sent": self.not_sent,
            "latency_ms": {percentile_key(rank): value for rank, value in self.latency_ms.items()},
            "errors": dict(self.errors),
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def read_intervals(cloudwatch: Any, stack: str, target: str, start: datetime, end: datetime) -> list[Interval]:
    """Every interval that started in [start, end), oldest first."""
    series = _metric_series(cloudwatch, _queries(stack, target), start, end)
    requests = series.get("requests", {})
    return [
        Interval(
            at=moment,
            requests=requests[moment],
            success_percent=series.get("success", {}).get(moment),
            not_sent=series.get("notsent", {}).get(moment, 0.0),
            latency_ms={rank: series.get(f"p{rank}", {}).get(moment) for rank in _LATENCY},
            errors={
                kind: count
                for index, kind in enumerate(_ERROR_KINDS)
                if (count := series.get(f"e{index}", {}).get(moment, 0.0))
            },
        )
        for moment in sorted(requests)
    ]


def _queries(stack: str, target: str) -> list[dict[str, Any]]:
    """A GetMetricData query for each figure the prober publishes about `target`; each Id names its series.

    Three, plus one per percentile and one per error kind: far below the 500 one call takes."""
    named = [{"Name": key, "Value": value} for key, value in dimensions(stack, target).items()]

    def query(query_id: str, metric: str, stat: str, extra: Sequence[Mapping[str, str]] = ()) -> dict[str, Any]:
        return {
            "Id": query_id,
            "ReturnData": True,
            "MetricStat": {
                "Metric": {
                    "Namespace": cloudwatch_namespace(stack),
                    "MetricName": metric,
                    "Dimensions": [*named, *extra],
                },
                "Period": PUBLISH_INTERVAL_S,
                "Stat": stat,
            },
        }

    return [
        query("requests", REQUESTS, "Sum"),
        query("success", SUCCESS_RATE, "Average"),
        query("notsent", NOT_SENT, "Sum"),
        *(query(f"p{rank}", metric, "Maximum") for rank, metric in _LATENCY.items()),
        *(
            query(f"e{index}", ERRORS, "Sum", [{"Name": ERROR_KIND_DIMENSION, "Value": kind}])
            for index, kind in enumerate(_ERROR_KINDS)
        ),
    ]


def _metric_series(
    cloudwatch: Any, queries: Sequence[Mapping[str, Any]], start: datetime, end: datetime
) -> dict[str, dict[datetime, float]]:
    """Each query's values by timestamp, gathered over every page GetMetricData answers with."""
    series: dict[str, dict[datetime, float]] = {}
    token = None
    while True:
        page = cloudwatch.get_metric_data(
            MetricDataQueries=queries,
            StartTime=start,
            EndTime=end,
            ScanBy="TimestampAscending",
            **({"NextToken": token} if token else {}),
        )
        for result in page["MetricDataResults"]:
            series.setdefault(result["Id"], {}).update(zip(result["Timestamps"], result["Values"], strict=True))
        token = page.get("NextToken")
        if not token:
            return series


def summarize_intervals(intervals: Sequence[Interval], requested_rate: float, duration_s: float) -> Summary:
    """The phase's Summary from its intervals: exact counts, worst-interval percentiles, no maximum."""
    scheduled = round(sum(interval.requests for interval in intervals))
    not_sent = round(sum(interval.not_sent for interval in intervals))
    ok = round(sum(interval.requests * (interval.success_percent or 0.0) / PERCENT for interval in intervals))
    errors: dict[str, int] = {}
    for interval in intervals:
        for kind, count in interval.errors.items():
            errors[kind] = errors.get(kind, 0) + round(count)

    def worst(rank: int) -> float | None:
        values = [value for interval in intervals if (value := interval.latency_ms.get(rank)) is not None]
        return max(values) if values else None

    latency: dict[str, float | None] = {percentile_key(rank): worst(rank) for rank in LATENCY_PERCENTILES}
    latency[percentile_key(100)] = None
    sent = scheduled - not_sent
    span_s = len(intervals) * PUBLISH_INTERVAL_S
    return Summary(
        scheduled=scheduled,
        sent=sent,
        ok=ok,
        requested_rate=requested_rate,
        achieved_rate=sent / span_s if span_s else 0.0,
        duration_s=duration_s,
        latency_ms=latency,
        start_lateness_ms=dict.fromkeys(latency),
        errors={kind: count for kind, count in errors.items() if count},
    )


def window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """[start, end) widened to the prober's 10-second grid: the intervals that overlap the window."""
    epoch = start.timestamp()
    floor = datetime.fromtimestamp(epoch - epoch % PUBLISH_INTERVAL_S, tz=UTC)
    return floor, max(end, floor + timedelta(seconds=PUBLISH_INTERVAL_S))


def write_series(path: Path, stack: str, target: str, region: str, intervals: Iterable[Interval]) -> None:
    write_json(
        path,
        {
            "namespace": cloudwatch_namespace(stack),
            "dimensions": dimensions(stack, target),
            "region": region,
            "period_s": PUBLISH_INTERVAL_S,
            "intervals": [interval.to_dict() for interval in intervals],
        },
    )


def read_series(path: Path) -> list[dict[str, Any]]:
    """The intervals a run or `report --cloudwatch` wrote; [] when there is no such file."""
    return json.loads(path.read_text())["intervals"] if path.is_file() else []
