"""Each catalog experiment's steady-state hypothesis, as data, and the pure functions that judge it.

As in Chaos Toolkit, a hypothesis is a list of typed tolerances, each judged by its own kind. A run
judges three of them: the app is healthy before (baseline), the experiment's own hypothesis during
the chaos, and the app is back after. Thresholds are relative to the measured baseline where a
relative bound means something (latency), and read from the experiment's parameters (catalog
defaults merged with the stack's overrides) or from the app's configured timeouts where the
experiment is built around them. Judging returns every number (observed and threshold) and never
changes the hypothesis.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from chaoslab.config.topology import Timeouts
from chaoslab.experiments.durations import parse_duration

from .samples import MS_PER_S, ErrorKind, Sample, Summary, latencies_ms, percentile, percentile_key

# At most one request in a hundred may fail while the app rides out a fault that slows a backend:
# nginx does not retry a request a backend has not answered within the read timeout, since that
# backend may still be running it.
SUCCESS_TARGET_PERCENT = 99.0
# Latency may double, or grow by 200 ms, whichever is more lenient: doubling a few-millisecond
# baseline is noise, while 200 ms on top of any baseline is a slowdown users start to notice.
LATENCY_FACTOR = 2.0
LATENCY_ALLOWANCE_MS = 200.0
# What an answer may take beyond the timeout that bounds it (a backend's 503 beyond its Redis
# deadline, a retried request beyond the connect timeout it waited out): a perl start per CGI request
# (tens of ms) and scheduling. Half the room nginx leaves between the Redis deadline and its own read
# timeout (1 s by default), the bound tests/test_demo_app_e2e.py also uses.
ANSWER_MARGIN_MS = 500.0
# The progressive delay's SLO: a p95 above a second is an app users call broken.
RAMP_SLO_P95_MS = 1000.0
# The ramp delays every packet a backend pod sends, and each request waits on two of them on its way to
# Redis (the connection's SYN, then the INCR command), so the Redis deadline is crossed once one step's
# delay reaches half of it.
DELAYED_REDIS_ROUND_TRIPS = 2


class AppLimit(StrEnum):
    """A timeout of the demo app, named by its `chaos-lab:app` config key."""

    REDIS_DEADLINE = "redisTimeout"
    PROXY_CONNECT = "proxyConnectTimeout"
    PROXY_READ = "proxyReadTimeout"

    def of(self, timeouts: Timeouts) -> float:
        return {
            AppLimit.REDIS_DEADLINE: timeouts.redis_ms,
            AppLimit.PROXY_CONNECT: timeouts.proxy_connect_ms,
            AppLimit.PROXY_READ: timeouts.proxy_read_ms,
        }[self]


_LIMIT_WORDS = {
    AppLimit.REDIS_DEADLINE: "the backend's Redis deadline (app.redisTimeout)",
    AppLimit.PROXY_CONNECT: "nginx's connect timeout (app.proxyConnectTimeout)",
    AppLimit.PROXY_READ: "nginx's read timeout (app.proxyReadTimeout)",
}


@dataclass(frozen=True)
class Evidence:
    """What a phase is judged on."""

    samples: Sequence[Sample]  # the phase's requests, scheduled_s counted from the phase's start
    summary: Summary  # of those samples
    baseline: Summary
    parameters: Mapping[str, Any]  # the experiment's, as CatalogEntry.parameters() keys them
    app: Timeouts


@dataclass(frozen=True)
class Check:
    requirement: str  # the tolerance in words
    observed: float | None  # None when there was nothing to measure
    threshold: float | None
    unit: str
    met: bool
    detail: str = ""  # what the numbers alone do not say: error breakdown, per-step figures

    def to_dict(self) -> dict[str, Any]:
        return {
            "requirement": self.requirement,
            "observed": None if self.observed is None else round(self.observed, 3),
            "threshold": None if self.threshold is None else round(self.threshold, 3),
            "unit": self.unit,
            "met": self.met,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Verdict:
    checks: tuple[Check, ...]

    @property
    def met(self) -> bool:
        return bool(self.checks) and all(check.met for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {"met": self.met, "checks": [check.to_dict() for check in self.checks]}


class Tolerance(Protocol):
    def describe(self) -> str: ...

    def judge(self, evidence: Evidence) -> Check: ...


def judge(tolerances: Sequence[Tolerance], evidence: Evidence) -> Verdict:
    """Every tolerance judged (not only up to the first miss, so the report has all the numbers)."""
    return Verdict(tuple(tolerance.judge(evidence) for tolerance in tolerances))


def _outcomes(samples: Sequence[Sample], *, but: int | None = None) -> str:
    """ "200 x12, timeout x3, not sent x1": how the requests ended, leaving out answers with status `but`."""
    counts: Counter[str] = Counter()
    for sample in samples:
        status = sample.whole_answer_status
        if not sample.sent:
            counts["not sent"] += 1
        elif status is None:
            counts[sample.error.value if sample.error else "no answer"] += 1
        elif status != but:
            counts[str(status)] += 1
    return ", ".join(f"{outcome} x{count}" for outcome, count in counts.most_common())


def _unmeasured(requirement: str, threshold: float | None, unit: str, why: str) -> Check:
    return Check(requirement, None, threshold, unit, False, why)


@dataclass(frozen=True)
class SuccessRateAtLeast:
    minimum_percent: float

    def describe(self) -> str:
        return f"success rate >= {self.minimum_percent:g} %"

    def judge(self, evidence: Evidence) -> Check:
        rate = evidence.summary.success_rate
        if rate is None:
            return _unmeasured(self.describe(), self.minimum_percent, "%", "no request was scheduled")
        observed = 100 * rate
        met = observed >= self.minimum_percent
        failures = _outcomes([sample for sample in evidence.samples if not sample.ok])
        return Check(self.describe(), observed, self.minimum_percent, "%", met, "" if met else f"failed: {failures}")


@dataclass(frozen=True)
class LatencyWithinBaseline:
    rank: int
    factor: float
    allowance_ms: float

    def describe(self) -> str:
        name = percentile_key(self.rank)
        return f"{name} <= max({self.factor:g} x baseline {name}, baseline {name} + {self.allowance_ms:g} ms)"

    def judge(self, evidence: Evidence) -> Check:
        base = evidence.baseline.latency(self.rank)
        if base is None:
            return _unmeasured(self.describe(), None, "ms", "the baseline has no latency to compare with")
        threshold = max(self.factor * base, base + self.allowance_ms)
        observed = evidence.summary.latency(self.rank)
        if observed is None:
            return _unmeasured(self.describe(), threshold, "ms", "no request was sent")
        return Check(self.describe(), observed, threshold, "ms", observed <= threshold)


@dataclass(frozen=True)
class LatencyWithinAppLimit:
    rank: int
    limit: AppLimit
    margin_ms: float = 0.0

    def describe(self) -> str:
        margin = f" + {self.margin_ms:g} ms" if self.margin_ms else ""
        return f"{percentile_key(self.rank)} <= {_LIMIT_WORDS[self.limit]}{margin}"

    def judge(self, evidence: Evidence) -> Check:
        threshold = self.limit.of(evidence.app) + self.margin_ms
        observed = evidence.summary.latency(self.rank)
        if observed is None:
            return _unmeasured(self.describe(), threshold, "ms", "no request was sent")
        return Check(self.describe(), observed, threshold, "ms", observed <= threshold)


@dataclass(frozen=True)
class LatencyRiseAtLeastInjected:
    """The percentile rises over the baseline by at least the injected latency minus its jitter."""

    rank: int
    latency_key: str = "latency"
    jitter_key: str = "jitter"

    def describe(self) -> str:
        name = percentile_key(self.rank)
        return f"{name} rises over the baseline {name} by >= injected {self.latency_key} - {self.jitter_key}"

    def judge(self, evidence: Evidence) -> Check:
        """Raises ValueError or KeyError when the parameters lack a valid latency or jitter."""
        latency_ms = parse_duration(evidence.parameters[self.latency_key]) * MS_PER_S
        jitter_ms = parse_duration(evidence.parameters[self.jitter_key]) * MS_PER_S
        threshold = latency_ms - jitter_ms
        base, observed = evidence.baseline.latency(self.rank), evidence.summary.latency(self.rank)
        if base is None or observed is None:
            return _unmeasured(self.describe(), threshold, "ms", "no latency in the baseline or in this phase")
        detail = f"{percentile_key(self.rank)} {base:.1f} ms -> {observed:.1f} ms; injected {latency_ms:g} ms +/- {jitter_ms:g} ms"
        return Check(self.describe(), observed - base, threshold, "ms", observed - base >= threshold, detail)


@dataclass(frozen=True)
class AnsweredWithStatus:
    """Every scheduled request answered with this HTTP status (not sent, errors and others count against)."""

    status: int

    def describe(self) -> str:
        return f"every request is answered with HTTP {self.status}"

    def judge(self, evidence: Evidence) -> Check:
        samples = evidence.samples
        if not samples:
            return _unmeasured(self.describe(), 100.0, "%", "no request was scheduled")
        observed = 100 * sum(1 for sample in samples if sample.whole_answer_status == self.status) / len(samples)
        others = _outcomes(samples, but=self.status)
        return Check(self.describe(), observed, 100.0, "%", not others, f"others: {others}" if others else "")


@dataclass(frozen=True)
class NoErrorsOfKind:
    kind: ErrorKind

    def describe(self) -> str:
        return f"no request ends in {self.kind.value}"

    def judge(self, evidence: Evidence) -> Check:
        observed = evidence.summary.errors.get(self.kind.value, 0)
        return Check(self.describe(), observed, 0, "requests", observed == 0)


@dataclass(frozen=True)
class RampBreaksNoEarlierThan:
    """The first step of a delay ramp whose percentile exceeds the SLO injects at least `limit` / `round_trips`.

    Steps are the parameters' `steps` (latencies), each `stepDuration` long, counted from the
    phase's start, which is when the Workflow was seen running.
    """

    rank: int
    slo_ms: float
    limit: AppLimit
    round_trips: int

    def describe(self) -> str:
        return (
            f"the first ramp step with {percentile_key(self.rank)} > {self.slo_ms:g} ms "
            f"injects >= {_LIMIT_WORDS[self.limit]} / {self.round_trips} (delayed round trips per request)"
        )

    def judge(self, evidence: Evidence) -> Check:
        """Raises ValueError or KeyError when the parameters lack valid steps or stepDuration."""
        step_s = parse_duration(evidence.parameters["stepDuration"])
        threshold = self.limit.of(evidence.app) / self.round_trips
        figures, breach_ms = [], None
        for number, latency in enumerate(evidence.parameters["steps"], start=1):
            window = [s for s in evidence.samples if (number - 1) * step_s <= s.scheduled_s < number * step_s]
            value = percentile(latencies_ms(window), self.rank)
            if value is None:
                figures.append(f"step {number} ({latency}): not observed")
                continue
            ok_percent = 100 * sum(1 for sample in window if sample.ok) / len(window)
            figures.append(
                f"step {number} ({latency}): {percentile_key(self.rank)} {value:.0f} ms, {ok_percent:.0f} % ok"
            )
            if breach_ms is None and value > self.slo_ms:
                breach_ms = parse_duration(latency) * MS_PER_S
                figures[-1] += " <- first breach"
        met = breach_ms is None or breach_ms >= threshold
        return Check(self.describe(), breach_ms, threshold, "ms injected", met, "; ".join(figures))


@dataclass(frozen=True)
class Hypothesis:
    title: str
    during: tuple[Tolerance, ...]

    def describe(self) -> list[str]:
        return [tolerance.describe() for tolerance in self.during]


# A fault the app is built to tolerate: at most one request in a hundred lost, latency bounded
# relative to the baseline.
_BOUNDED_DEGRADATION: tuple[Tolerance, ...] = (
    SuccessRateAtLeast(SUCCESS_TARGET_PERCENT),
    LatencyWithinBaseline(95, LATENCY_FACTOR, LATENCY_ALLOWANCE_MS),
)
# Before the chaos: the app answers, or there is nothing to learn from breaking it.
STEADY_STATE_BEFORE: tuple[Tolerance, ...] = (SuccessRateAtLeast(SUCCESS_TARGET_PERCENT),)
# After the chaos is lifted: back within the bounds a tolerated fault is held to.
RECOVERED_AFTER: tuple[Tolerance, ...] = _BOUNDED_DEGRADATION

HYPOTHESES: Mapping[str, Hypothesis] = {
    # nginx resolves the backend pods itself and retries a failed try on a different pod, so no request
    # is lost, whichever way kube-proxy balances. Until DNS drops the killed pod (CoreDNS's TTL, then
    # nginx's `valid`, about 10 s), a request that starts there and finds its IP silent waits out one
    # connect timeout first; a fixed share of the run, so no percentile below the maximum is promised.
    "basic-pod-kill": Hypothesis(
        "Losing one backend pod loses no request: nginx retries on another pod, and a request that meets "
        "the killed pod waits one connect timeout at most.",
        (SuccessRateAtLeast(100.0), LatencyWithinAppLimit(100, AppLimit.PROXY_CONNECT, ANSWER_MARGIN_MS)),
    ),
    "api-high-latency": Hypothesis(
        "Injected latency reaches users in full, and nothing fails: the timeouts leave room for it.",
        (LatencyRiseAtLeastInjected(50), SuccessRateAtLeast(100.0)),
    ),
    "packet-loss-scenario": Hypothesis(
        "Packet loss on one backend costs retransmits, not errors: answers stay within nginx's read timeout.",
        (SuccessRateAtLeast(SUCCESS_TARGET_PERCENT), LatencyWithinAppLimit(99, AppLimit.PROXY_READ)),
    ),
    "database-partition": Hypothesis(
        "Without Redis the app degrades gracefully: a quick 503 from the backend, never a hang.",
        (
            AnsweredWithStatus(503),
            NoErrorsOfKind(ErrorKind.TIMEOUT),
            LatencyWithinAppLimit(100, AppLimit.REDIS_DEADLINE, ANSWER_MARGIN_MS),
        ),
    ),
    "progressive-delay": Hypothesis(
        "The app holds its SLO until the delay makes its Redis round trips outlast the backend's deadline, "
        "the breaking point it was built with.",
        (RampBreaksNoEarlierThan(95, RAMP_SLO_P95_MS, AppLimit.REDIS_DEADLINE, DELAYED_REDIS_ROUND_TRIPS),),
    ),
    "backend-cpu-stress": Hypothesis(
        "A CPU-starved backend pod slows answers a little and loses at most one request in a hundred.",
        _BOUNDED_DEGRADATION,
    ),
    "backend-memory-stress": Hypothesis(
        "Memory pressure in a backend pod slows answers a little and loses at most one request in a hundred.",
        _BOUNDED_DEGRADATION,
    ),
}
