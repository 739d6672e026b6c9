"""The prober's parts: what it publishes (through botocore into moto, and as Prometheus text read by the
Prometheus project's own parser), its health, and its continuous open loop against a real HTTP server.

The whole prober, installed from the lock and run against real nginx, is in test_prober_e2e.py.
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from chaoslab.errors import UsageError
from chaoslab.prober import figures
from chaoslab.prober.figures import IntervalFigures, metric_data, prometheus_text
from chaoslab.prober.service import (
    LIVE_SLACK_INTERVALS,
    READY_SLACK_INTERVALS,
    CloudWatchPublisher,
    Health,
    ProberSettings,
    SteadyStateProber,
)
from chaoslab.samples import ErrorKind, Sample, summarize
from chaoslab_servers import Answer, app_server
from moto_cloudwatch import client, moto_server, series

STACK = "test"
TARGET = "http://frontend-service.chaos-sandbox.svc.cluster.local/api/"
RATE = 10.0
INTERVAL_S = figures.PUBLISH_INTERVAL_S
# Three answered requests (one a 503), one reset, and one the probe could not send.
SAMPLES = (
    Sample(0.0, 0.0, 4.0, 200, None),
    Sample(0.1, 0.1, 6.0, 200, None),
    Sample(0.2, 0.2, 9.0, 503, ErrorKind.HTTP_5XX),
    Sample(0.3, 0.3, 1.0, None, ErrorKind.CONNECTION_RESET),
    Sample(0.4, None, None, None, None),
)


def interval(started_at: float) -> IntervalFigures:
    return IntervalFigures.from_summary(summarize(SAMPLES, RATE, INTERVAL_S), started_at)


def test_figures_are_the_probes_summary_of_the_interval():
    summary = summarize(SAMPLES, RATE, INTERVAL_S)
    result = interval(0.0)
    assert result.success_percent == pytest.approx(100 * summary.success_rate)
    assert (result.requests, result.ok, result.not_sent) == (summary.scheduled, summary.ok, summary.not_sent)
    assert result.latency_ms == {rank: summary.latency(rank) for rank in figures.LATENCY_PERCENTILES}
    assert result.errors == {kind: summary.errors.get(kind.value, 0) for kind in ErrorKind}


def test_one_put_metric_data_per_interval_stores_every_figure_at_high_resolution():
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    start -= timedelta(seconds=start.second % INTERVAL_S)
    published = [interval(start.timestamp()), interval((start + timedelta(seconds=INTERVAL_S)).timestamp())]
    with moto_server() as endpoint:
        cloudwatch = client(endpoint)
        calls: list[str] = []
        cloudwatch.meta.events.register("before-call.cloudwatch.*", lambda model, **_: calls.append(model.name))
        publish = CloudWatchPublisher(cloudwatch, ProberSettings(url=TARGET, rate=RATE, timeout_s=1.0, stack=STACK))
        for figures_of_interval in published:
            publish(figures_of_interval)
        assert calls == ["PutMetricData", "PutMetricData"]
        dims = figures.dimensions(STACK, TARGET)
        namespace = figures.cloudwatch_namespace(STACK)
        window = (start, start + timedelta(seconds=3 * INTERVAL_S))

        def read(metric: str, stat: str, extra: dict[str, str] | None = None) -> list[float]:
            return [
                value
                for _, value in series(
                    cloudwatch, namespace, metric, {**dims, **(extra or {})}, stat, INTERVAL_S, *window
                )
            ]

        expected = published[0]
        assert read(figures.SUCCESS_RATE, "Minimum") == [pytest.approx(expected.success_percent)] * 2
        assert read(figures.REQUESTS, "Sum") == [expected.requests] * 2
        assert read(figures.NOT_SENT, "Sum") == [expected.not_sent] * 2
        for rank in figures.LATENCY_PERCENTILES:
            assert read(figures.latency_metric(rank), "Maximum") == [expected.latency_ms[rank]] * 2
        for kind in ErrorKind:
            assert (
                read(figures.ERRORS, "Sum", {figures.ERROR_KIND_DIMENSION: kind.value}) == [expected.errors[kind]] * 2
            )
        # Ten seconds apart, each in a period of its own: what a 10-second alarm needs.
        stored = series(cloudwatch, namespace, figures.SUCCESS_RATE, dims, "SampleCount", INTERVAL_S, *window)
        assert [value for _, value in stored] == [1, 1]


def test_every_datum_is_high_resolution_and_an_interval_with_nothing_sent_has_no_latency():
    nothing_sent = IntervalFigures.from_summary(
        summarize((Sample(0.0, None, None, None, None),), RATE, INTERVAL_S), 0.0
    )
    data = metric_data(nothing_sent, STACK, TARGET)
    assert all(datum["StorageResolution"] == figures.HIGH_RESOLUTION_S == 1 for datum in data)
    assert not any(datum["MetricName"].startswith("LatencyP") for datum in data)
    assert next(datum["Value"] for datum in data if datum["MetricName"] == figures.SUCCESS_RATE) == 0


def test_prometheus_serves_the_same_figures_in_base_units():
    expected = interval(1_700_000_000.0)
    text = prometheus_text(expected, STACK, 'say "hi"\\', last_publish_at=1_700_000_011.0, publish_failures=2)
    samples = {
        (
            sample.name,
            tuple(sorted((key, value) for key, value in sample.labels.items() if key not in ("stack", "target"))),
        ): sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    any_sample = next(iter(samples.values()))
    assert any_sample.labels["target"] == 'say "hi"\\' and any_sample.labels["stack"] == STACK
    assert samples[("chaoslab_steady_state_success_ratio", ())].value == pytest.approx(expected.success_percent / 100)
    assert samples[("chaoslab_steady_state_requests", ())].value == expected.requests
    for rank in figures.LATENCY_PERCENTILES:
        quantile = samples[("chaoslab_steady_state_latency_seconds", (("quantile", f"{rank / 100:g}"),))]
        assert quantile.value == pytest.approx(expected.latency_ms[rank] / 1000)
    for kind in ErrorKind:
        assert samples[("chaoslab_steady_state_errors", (("kind", kind.value),))].value == expected.errors[kind]
    assert samples[("chaoslab_steady_state_publish_failures_total", ())].value == 2


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_readiness_and_liveness_follow_publishing_not_the_target():
    settings = ProberSettings(url=TARGET, rate=RATE, timeout_s=2.0, stack=STACK)
    clock = FakeClock()
    health = Health(settings, clock=clock, wall=clock)
    assert health.ready()[0] is False and health.live()[0] is True
    # A target that fails every request is still a prober that publishes: healthy.
    broken_target = IntervalFigures.from_summary(
        summarize((Sample(0.0, 0.0, 1.0, 503, ErrorKind.HTTP_5XX),), RATE, INTERVAL_S), clock.now
    )
    health.measured(broken_target)
    health.published()
    assert health.ready()[0] is True and health.live()[0] is True
    clock.now += settings.stale_after_s(READY_SLACK_INTERVALS) + 0.1
    health.failed(ConnectionError("CloudWatch unreachable"))
    ready, why = health.ready()
    assert ready is False and "CloudWatch unreachable" in why
    assert health.live()[0] is True
    clock.now += settings.stale_after_s(LIVE_SLACK_INTERVALS)
    assert health.live()[0] is False
    health.published()
    assert health.ready()[0] is True and health.live()[0] is True


def test_a_prober_that_never_publishes_stops_being_live():
    settings = ProberSettings(url=TARGET, rate=RATE, timeout_s=2.0, stack=STACK)
    clock = FakeClock()
    health = Health(settings, clock=clock, wall=clock)
    clock.now += settings.stale_after_s(LIVE_SLACK_INTERVALS) + 0.1
    assert health.live()[0] is False


def run_intervals(settings: ProberSettings, count: int) -> list[IntervalFigures]:
    published: list[IntervalFigures] = []
    stop = threading.Event()
    health = Health(settings)

    def publish(result: IntervalFigures) -> None:
        published.append(result)
        if len(published) >= count:
            stop.set()

    prober = SteadyStateProber(settings, [publish], health)
    runner = threading.Thread(target=prober.run, args=(stop,))
    runner.start()
    runner.join(timeout=(count + 2) * (settings.interval_s + settings.timeout_s))
    stop.set()
    runner.join()
    return published


def test_intervals_start_on_wall_clock_boundaries_one_after_another():
    with app_server(Answer()) as server:
        settings = ProberSettings(url=server.url, rate=20.0, timeout_s=0.5, stack=STACK, interval_s=1.0)
        published = run_intervals(settings, 3)
    starts = [result.started_at for result in published[:3]]
    assert all(start == int(start) for start in starts)
    assert [later - earlier for earlier, later in itertools.pairwise(starts)] == [1.0, 1.0]
    assert all(result.requests == 20 and result.ok == 20 for result in published)


def test_a_hanging_target_does_not_delay_the_next_interval():
    """Open loop across intervals: each starts at its boundary while the last one's requests still hang."""
    with app_server(Answer(delay_s=1.5)) as server:
        settings = ProberSettings(url=server.url, rate=4.0, timeout_s=1.0, stack=STACK, interval_s=1.0)
        published = run_intervals(settings, 3)
    starts = sorted(result.started_at for result in published)
    assert [later - earlier for earlier, later in itertools.pairwise(starts)][:2] == [1.0, 1.0]
    assert all(result.errors[ErrorKind.TIMEOUT] == result.requests for result in published)


def test_an_interval_whose_publishing_fails_is_counted_and_the_loop_goes_on():
    attempts: list[float] = []
    stop = threading.Event()

    def failing(result: IntervalFigures) -> None:
        attempts.append(result.started_at)
        if len(attempts) >= 2:
            stop.set()
        raise ConnectionError("throttled")

    with app_server(Answer()) as server:
        settings = ProberSettings(url=server.url, rate=5.0, timeout_s=0.5, stack=STACK, interval_s=1.0)
        health = Health(settings)
        runner = threading.Thread(target=SteadyStateProber(settings, [failing], health).run, args=(stop,))
        runner.start()
        runner.join(timeout=10)
        stop.set()
        runner.join()
    assert len(attempts) >= 2
    assert "publish_failures_total" in health.prometheus() and health.ready()[0] is False
    assert "ConnectionError: throttled" in health.ready()[1]


def test_settings_the_probe_refuses_are_refused_before_the_loop_starts():
    settings = ProberSettings(url=TARGET, rate=0.0, timeout_s=1.0, stack=STACK)
    with pytest.raises(UsageError, match="rate"):
        SteadyStateProber(settings, [], Health(settings))
