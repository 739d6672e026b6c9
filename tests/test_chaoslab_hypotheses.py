"""Steady-state hypotheses: thresholds from the baseline, the experiment's parameters and the app's
timeouts; verdicts that pass and fail for the stated reason. The database-partition verdict is
judged on samples from the demo app's real tiers with a partitioned Redis.

Not covered: what the hypotheses conclude on a real cluster with Chaos Mesh injecting the faults
(the real partition is netem dropping packets, simulated here by a Redis that never answers SYNs).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping, Sequence

import pytest

from chaoslab.config import topology
from chaoslab.config.model import AppConfig
from chaoslab.config.topology import Timeouts
from chaoslab.experiments import CATALOG
from chaoslab.experiments.durations import parse_duration
from chaoslab.hypotheses import (
    ANSWER_MARGIN_MS,
    DELAYED_REDIS_ROUND_TRIPS,
    HYPOTHESES,
    RAMP_SLO_P95_MS,
    Evidence,
    Verdict,
    judge,
)
from chaoslab.plan import experiment_parameters
from chaoslab.probe import ProbeSettings, probe
from chaoslab.samples import Sample, Summary, status_error, summarize
from demo_app_stack import DemoLab

RATE = 10.0
MS_PER_S = 1000.0
BASELINE_MS = 10.0


def _samples(latencies_ms: Sequence[float], *, status: int = 200, start_s: float = 0.0) -> list[Sample]:
    return [
        Sample(start_s + index / RATE, start_s + index / RATE, latency, status, status_error(status))
        for index, latency in enumerate(latencies_ms)
    ]


def _summary(samples: Sequence[Sample]) -> Summary:
    return summarize(samples, RATE, len(samples) / RATE)


BASELINE = _summary(_samples([BASELINE_MS] * 100))


def _judge(
    name: str, samples: Sequence[Sample], overrides: Mapping[str, object] | None = None, summary: Summary | None = None
) -> Verdict:
    parameters = experiment_parameters(name, overrides or {})
    evidence = Evidence(samples, summary or _summary(samples), BASELINE, parameters, Timeouts())
    return judge(HYPOTHESES[name].during, evidence)


def test_every_catalog_experiment_has_a_hypothesis_and_nothing_else_does() -> None:
    assert list(HYPOTHESES) == list(CATALOG)


POD_KILL_BOUND_MS = Timeouts().proxy_connect_ms + ANSWER_MARGIN_MS


def test_pod_kill_holds_when_requests_that_met_the_killed_pod_waited_one_connect_timeout() -> None:
    met_the_killed_pod = _samples([POD_KILL_BOUND_MS] * 10, start_s=10)
    verdict = _judge("basic-pod-kill", _samples([BASELINE_MS] * 90) + met_the_killed_pod)

    assert verdict.met
    assert [check.threshold for check in verdict.checks] == [100.0, POD_KILL_BOUND_MS]


def test_pod_kill_fails_on_a_single_lost_request() -> None:
    samples = _samples([BASELINE_MS] * 99) + _samples([BASELINE_MS], status=502, start_s=10)

    success, latency = _judge("basic-pod-kill", samples).checks

    assert not success.met and success.observed == 99.0
    assert success.detail == "failed: 502 x1"
    assert latency.met


def test_pod_kill_fails_when_a_request_waits_longer_than_one_connect_timeout() -> None:
    samples = _samples([BASELINE_MS] * 99) + _samples([POD_KILL_BOUND_MS + 1], start_s=10)

    success, latency = _judge("basic-pod-kill", samples).checks

    assert success.met
    assert not latency.met and latency.observed == POD_KILL_BOUND_MS + 1


@pytest.mark.parametrize("overrides", [{}, {"latency": "300ms", "jitter": "50ms"}])
def test_api_latency_threshold_is_the_injected_latency_minus_jitter(overrides: dict[str, str]) -> None:
    parameters = experiment_parameters("api-high-latency", overrides)
    injected_ms = (parse_duration(parameters["latency"]) - parse_duration(parameters["jitter"])) * MS_PER_S
    rise, no_failures = _judge("api-high-latency", _samples([BASELINE_MS + injected_ms + 1] * 50), overrides).checks

    assert rise.met and rise.threshold == injected_ms and rise.observed == injected_ms + 1
    assert no_failures.met and no_failures.threshold == 100.0


def test_api_latency_fails_when_the_latency_does_not_arrive() -> None:
    rise, _ = _judge("api-high-latency", _samples([BASELINE_MS] * 50)).checks

    assert not rise.met and rise.observed == 0


def _ramp(step_p95_ms: Sequence[float], step_s: float) -> list[Sample]:
    per_step = math.floor(step_s * RATE)
    return [
        sample
        for number, latency in enumerate(step_p95_ms)
        for sample in _samples([latency] * per_step, start_s=number * step_s)
    ]


RAMP_STEP = "2s"


def test_the_ramp_holds_when_it_breaks_where_its_redis_round_trips_outlast_the_deadline() -> None:
    steps = CATALOG["progressive-delay"].parameters()["steps"]  # 50ms, 100ms, 500ms, 1000ms, 3000ms
    design_point_ms = topology.REDIS_TIMEOUT_MS / DELAYED_REDIS_ROUND_TRIPS
    breaking_step = next(
        number for number, step in enumerate(steps) if parse_duration(step) * MS_PER_S >= design_point_ms
    )
    latencies = [RAMP_SLO_P95_MS / 2 if number < breaking_step else RAMP_SLO_P95_MS * 2 for number in range(len(steps))]

    [check] = _judge(
        "progressive-delay", _ramp(latencies, parse_duration(RAMP_STEP)), {"stepDuration": RAMP_STEP}
    ).checks

    assert check.met
    assert check.observed == parse_duration(steps[breaking_step]) * MS_PER_S and check.threshold == design_point_ms
    assert (
        f"step {breaking_step + 1} ({steps[breaking_step]}): p95 {RAMP_SLO_P95_MS * 2:.0f} ms, 100 % ok <- first breach"
        in check.detail
    )


def test_the_ramp_fails_naming_the_step_that_broke_too_early() -> None:
    latencies = [RAMP_SLO_P95_MS / 2, RAMP_SLO_P95_MS * 2]  # breaks at 100ms; 3 steps unobserved

    [check] = _judge(
        "progressive-delay", _ramp(latencies, parse_duration(RAMP_STEP)), {"stepDuration": RAMP_STEP}
    ).checks

    assert not check.met and check.observed == parse_duration("100ms") * MS_PER_S
    assert "step 2 (100ms): p95 2000 ms, 100 % ok <- first breach" in check.detail
    assert "step 5 (3000ms): not observed" in check.detail


def test_judging_leaves_the_hypothesis_as_it_was() -> None:
    before = copy.deepcopy(HYPOTHESES["database-partition"])

    first = _judge("database-partition", _samples([BASELINE_MS] * 10, status=503))
    second = _judge("database-partition", _samples([BASELINE_MS] * 10, status=503))

    assert HYPOTHESES["database-partition"] == before
    assert first == second


# database-partition on the demo app's real tiers.

PARTITION_RATE = 5.0
PARTITION_DURATION_S = 1.0


@pytest.fixture
def lab() -> Iterator[DemoLab]:
    with DemoLab(topology.Timeouts()) as lab:
        yield lab


def _probe_demo(lab: DemoLab, redis_port: int) -> Verdict:
    frontend = lab.frontend([lab.backend(redis_port).address])
    url = f"http://{frontend.address}/api/"
    result = probe(ProbeSettings(url, PARTITION_RATE, PARTITION_DURATION_S), keep_samples=True)
    return _judge("database-partition", result.samples, summary=result.summary)


def test_a_partitioned_redis_meets_the_graceful_degradation_hypothesis(lab: DemoLab) -> None:
    partitioned = lab.blackhole(completes_handshake=False)  # SYNs dropped, as a partition does

    verdict = _probe_demo(lab, partitioned.port)

    all_503, no_timeouts, bounded = verdict.checks
    assert verdict.met
    assert all_503.observed == 100.0
    assert no_timeouts.observed == 0
    # Each answer waited out the Redis deadline, and stayed within it plus the margin.
    assert bounded.observed is not None and bounded.threshold is not None
    assert topology.REDIS_TIMEOUT_MS <= bounded.observed <= bounded.threshold


def test_a_reachable_redis_fails_the_partition_hypothesis_because_answers_are_200(lab: DemoLab) -> None:
    requests = math.floor(PARTITION_RATE * PARTITION_DURATION_S)

    verdict = _probe_demo(lab, lab.redis().port)

    all_503, no_timeouts, bounded = verdict.checks
    assert not verdict.met
    assert not all_503.met and all_503.observed == 0 and all_503.detail == f"others: 200 x{requests}"
    assert no_timeouts.met and bounded.met  # only the status is wrong


# basic-pod-kill on the demo app's real tiers. nginx starts each request at a random one of the three
# pods, so none of this many starts at the silent one with probability (2/3)**40, under 1e-7.
POD_KILL_RATE = 10.0
POD_KILL_DURATION_S = 4.0
BACKEND_REPLICAS = AppConfig.backend_replicas


def test_a_killed_pod_whose_ip_went_silent_meets_the_pod_kill_hypothesis(lab: DemoLab) -> None:
    """One of three backend pods killed while DNS still lists it, its IP silent: what a pod kill does."""
    redis = lab.redis()
    pods = [lab.backend(redis.port) for _ in range(BACKEND_REPLICAS)]
    frontend = lab.frontend([pod.address for pod in pods])
    lab.silence(pods[0])

    result = probe(ProbeSettings(f"http://{frontend.address}/api/", POD_KILL_RATE, POD_KILL_DURATION_S))
    verdict = _judge("basic-pod-kill", result.samples, summary=result.summary)

    _no_loss, slowest = verdict.checks
    assert verdict.met, verdict.to_dict()
    # Some requests did meet the silent pod and waited out the connect timeout.
    assert slowest.observed >= Timeouts().proxy_connect_ms
