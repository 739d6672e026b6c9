"""A phase's Summary from the prober's 10-second intervals: exact counts, worst-interval percentiles, no maximum."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chaoslab.cloudwatch_samples import Interval, summarize_intervals, window
from chaoslab.prober.figures import PUBLISH_INTERVAL_S

AT = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_counts_add_up_and_each_percentile_is_the_worst_intervals() -> None:
    calm = Interval(
        AT, requests=100, success_percent=100.0, not_sent=0, latency_ms={50: 10.0, 95: 40.0, 99: 80.0}, errors={}
    )
    hurt = Interval(
        AT + timedelta(seconds=PUBLISH_INTERVAL_S),
        requests=100,
        success_percent=70.0,
        not_sent=10,
        latency_ms={50: 5.0, 95: 900.0, 99: None},
        errors={"http_5xx": 20},
    )
    summary = summarize_intervals([calm, hurt], requested_rate=10.0, duration_s=20.0)
    assert (summary.scheduled, summary.sent, summary.ok, summary.not_sent) == (200, 190, 170, 10)
    assert summary.errors == {"http_5xx": 20}
    assert summary.latency_ms == {"p50": 10.0, "p95": 900.0, "p99": 80.0, "max": None}
    assert summary.success_rate == 170 / 200


def test_a_phase_window_is_widened_to_the_intervals_it_overlaps() -> None:
    start = AT + timedelta(seconds=3.5)
    assert window(start, start + timedelta(seconds=1)) == (AT, AT + timedelta(seconds=PUBLISH_INTERVAL_S))
    assert window(start, start + timedelta(seconds=30)) == (AT, start + timedelta(seconds=30))
