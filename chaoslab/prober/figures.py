"""What the prober publishes each interval, and the names it publishes under.

The stack's alarms and dashboard (components/steady_state.py) read these names, so they are defined
once, here. One CloudWatch namespace per stack: IAM can condition PutMetricData on the namespace but
not on dimensions, so this is what keeps one stack's prober from writing another stack's figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chaoslab.samples import MS_PER_S, ErrorKind, Summary

# One aggregate per 10 s: the shortest high-resolution alarm period CloudWatch accepts
# (PutMetricAlarm's Period: "Valid values are 10, 20, 30, and any multiple of 60").
PUBLISH_INTERVAL_S = 10
# PutMetricData's StorageResolution: 1 stores the datapoint at one-second resolution, which a
# 10-second alarm period needs; the default, 60, would be averaged into the minute.
HIGH_RESOLUTION_S = 1
LATENCY_PERCENTILES = (50, 95, 99)
PERCENT = 100.0

# Where the prober serves its figures and its health; the stack's pod spec and Service point at them.
METRICS_PATH = "/metrics"
LIVENESS_PATH = "/livez"
READINESS_PATH = "/readyz"

NAMESPACE_PREFIX = "ChaosLab/SteadyState"
SUCCESS_RATE = "SuccessRate"
REQUESTS = "Requests"
NOT_SENT = "NotSent"
ERRORS = "Errors"
STACK_DIMENSION = "Stack"
TARGET_DIMENSION = "Target"
ERROR_KIND_DIMENSION = "ErrorKind"


def latency_metric(rank: int) -> str:
    return f"LatencyP{rank}"


def cloudwatch_namespace(stack: str) -> str:
    return f"{NAMESPACE_PREFIX}/{stack}"


def dimensions(stack: str, target: str) -> dict[str, str]:
    return {STACK_DIMENSION: stack, TARGET_DIMENSION: target}


@dataclass(frozen=True)
class IntervalFigures:
    """One interval's aggregate, as `chaoslab probe` summarises a run (chaoslab/samples.py definitions)."""

    started_at: float  # the interval's start, seconds since the epoch
    requests: int  # scheduled by the constant-rate schedule
    ok: int
    not_sent: int
    latency_ms: Mapping[int, float | None]  # by percentile rank; None when no request was sent
    errors: Mapping[ErrorKind, int]  # every kind, zero included, so each series is continuous

    @classmethod
    def from_summary(cls, summary: Summary, started_at: float) -> IntervalFigures:
        return cls(
            started_at=started_at,
            requests=summary.scheduled,
            ok=summary.ok,
            not_sent=summary.not_sent,
            latency_ms={rank: summary.latency(rank) for rank in LATENCY_PERCENTILES},
            errors={kind: summary.errors.get(kind.value, 0) for kind in ErrorKind},
        )

    @property
    def success_percent(self) -> float:
        # As Summary.success_rate: a request the probe could not send is not a success.
        return PERCENT * self.ok / self.requests if self.requests else 0.0


def metric_data(figures: IntervalFigures, stack: str, target: str) -> list[dict[str, Any]]:
    """The interval as PutMetricData's MetricData: one call carries all of it (one datum per figure, far below the limit of 1,000)."""
    timestamp = datetime.fromtimestamp(figures.started_at, tz=UTC)
    base = [{"Name": name, "Value": value} for name, value in dimensions(stack, target).items()]

    def datum(name: str, value: float, unit: str, extra: Mapping[str, str] | None = None) -> dict[str, Any]:
        more = [{"Name": key, "Value": item} for key, item in (extra or {}).items()]
        return {
            "MetricName": name,
            "Dimensions": base + more,
            "Timestamp": timestamp,
            "Value": value,
            "Unit": unit,
            "StorageResolution": HIGH_RESOLUTION_S,
        }

    data = [
        datum(SUCCESS_RATE, figures.success_percent, "Percent"),
        datum(REQUESTS, figures.requests, "Count"),
        datum(NOT_SENT, figures.not_sent, "Count"),
    ]
    # No latency datum when nothing was sent: the p95 alarm then sees missing data, which it treats
    # as breaching; a made-up 0 ms would read as perfectly healthy.
    data += [
        datum(latency_metric(rank), value, "Milliseconds")
        for rank, value in figures.latency_ms.items()
        if value is not None
    ]
    data += [
        datum(ERRORS, count, "Count", {ERROR_KIND_DIMENSION: kind.value}) for kind, count in figures.errors.items()
    ]
    return data


PROMETHEUS_PREFIX = "chaoslab_steady_state"


def _label_value(value: str) -> str:
    # The text exposition format escapes backslash, double quote and line feed in label values.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Mapping[str, str]) -> str:
    return "{" + ",".join(f'{key}="{_label_value(value)}"' for key, value in labels.items()) + "}"


# A metric family: its name after PROMETHEUS_PREFIX, its type, its HELP text, and its samples (labels, value).
_Family = tuple[str, str, str, list[tuple[dict[str, str], float]]]


def prometheus_text(
    figures: IntervalFigures | None, stack: str, target: str, last_publish_at: float, publish_failures: int
) -> str:
    """The Prometheus text exposition (format 0.0.4) of the last published interval and the prober's health.

    The same figures as CloudWatch, in Prometheus' base units: a ratio instead of a percent, seconds
    instead of milliseconds. Before the first interval only the health series are served.
    """
    common = {"stack": stack, "target": target}
    interval = [] if figures is None else _interval_families(figures, common)
    return _exposition([*interval, *_health_families(common, last_publish_at, publish_failures)])


def _interval_families(figures: IntervalFigures, common: dict[str, str]) -> list[_Family]:
    return [
        (
            "success_ratio",
            "gauge",
            "Share of the interval's scheduled requests that succeeded.",
            [(common, figures.success_percent / PERCENT)],
        ),
        (
            "requests",
            "gauge",
            "Requests the interval's constant-rate schedule called for.",
            [(common, figures.requests)],
        ),
        (
            "not_sent",
            "gauge",
            "Scheduled requests not sent because every worker was busy.",
            [(common, figures.not_sent)],
        ),
        (
            "latency_seconds",
            "gauge",
            "Latency percentiles of the interval's sent requests.",
            [
                ({**common, "quantile": f"{rank / PERCENT:g}"}, value / MS_PER_S)
                for rank, value in figures.latency_ms.items()
                if value is not None
            ],
        ),
        (
            "errors",
            "gauge",
            "Failed requests in the interval, by error kind.",
            [({**common, "kind": kind.value}, count) for kind, count in figures.errors.items()],
        ),
        (
            "interval_start_timestamp_seconds",
            "gauge",
            "When the published interval started.",
            [(common, figures.started_at)],
        ),
    ]


def _health_families(common: dict[str, str], last_publish_at: float, publish_failures: int) -> list[_Family]:
    return [
        (
            "last_publish_timestamp_seconds",
            "gauge",
            "When the prober last published an interval everywhere it publishes; 0: never.",
            [(common, last_publish_at)],
        ),
        (
            "publish_failures_total",
            "counter",
            "Intervals the prober failed to publish since it started.",
            [(common, publish_failures)],
        ),
    ]


def _exposition(families: list[_Family]) -> str:
    lines: list[str] = []
    for name, kind, help_text, samples in families:
        full = f"{PROMETHEUS_PREFIX}_{name}"
        lines += [f"# HELP {full} {help_text}", f"# TYPE {full} {kind}"]
        # repr keeps every digit of a float; Prometheus parses "12.0" as well as "12".
        lines += [f"{full}{_labels(labels)} {float(value)!r}" for labels, value in samples]
    return "\n".join(lines) + "\n"
