"""The prober's loop, its health, and its HTTP endpoint (Prometheus text, liveness, readiness).

Continuous open loop out of `chaoslab.probe.probe`, which runs one schedule of a fixed length: each
interval is one such schedule, started at its wall-clock boundary on a thread of its own, whether or
not the previous interval's last requests have answered yet. A hanging target therefore cannot
delay the next interval (the same coordinated-omission argument as inside one probe), and every
interval lines up with one 10-second CloudWatch period. The previous interval finishes (its requests
in flight answer or time out) and publishes while the next one already runs.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chaoslab.probe import ProbeSettings, default_concurrency, probe

from .figures import (
    LIVENESS_PATH,
    METRICS_PATH,
    PUBLISH_INTERVAL_S,
    READINESS_PATH,
    IntervalFigures,
    cloudwatch_namespace,
    metric_data,
    prometheus_text,
)

LOG = logging.getLogger("chaoslab.prober")

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# An interval publishes at most one interval plus the request timeout after it started; the next one
# an interval later. Readiness allows one late interval on top of that before it reports stale.
READY_SLACK_INTERVALS = 1
# Liveness is slower to give up than readiness: a restart only helps a prober that is wedged, not one
# whose CloudWatch calls fail for a minute; six intervals without a publish is wedged.
LIVE_SLACK_INTERVALS = 6

Publish = Callable[[IntervalFigures], None]


@dataclass(frozen=True)
class ProberSettings:
    url: str
    rate: float  # requests per second
    timeout_s: float  # per request
    stack: str
    interval_s: float = PUBLISH_INTERVAL_S

    def probe_settings(self) -> ProbeSettings:
        """One interval's schedule; raises UsageError for a rate or timeout the probe does not accept."""
        return ProbeSettings(
            url=self.url,
            rate=self.rate,
            duration_s=self.interval_s,
            timeout_s=self.timeout_s,
            concurrency=default_concurrency(self.rate, self.timeout_s),
        )

    def stale_after_s(self, slack_intervals: int) -> float:
        return self.interval_s * (1 + slack_intervals) + self.timeout_s


class Health:
    """What the prober has published; written by interval threads, read by the HTTP handler."""

    def __init__(
        self,
        settings: ProberSettings,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._started = clock()
        self._last_publish: float | None = None  # monotonic
        self._last_publish_wall = 0.0
        self._failures = 0
        self._last_error: str | None = None
        self._figures: IntervalFigures | None = None

    def measured(self, figures: IntervalFigures) -> None:
        """The interval's figures, served to Prometheus whether or not CloudWatch takes them."""
        with self._lock:
            # Intervals finish in order while the timeout is below the interval; keep the newest regardless.
            if self._figures is None or figures.started_at > self._figures.started_at:
                self._figures = figures

    def published(self) -> None:
        with self._lock:
            if self._last_error is not None or self._last_publish is None:
                LOG.info("publishing")
            self._last_publish, self._last_publish_wall, self._last_error = self._clock(), self._wall(), None

    def failed(self, error: BaseException) -> None:
        with self._lock:
            self._failures += 1
            self._last_error = f"{type(error).__name__}: {error}"
        LOG.warning("interval not published: %s", self._last_error)

    def ready(self) -> tuple[bool, str]:
        """Ready once an interval is published, for as long as the newest one is recent."""
        return self._verdict(READY_SLACK_INTERVALS, require_publish=True)

    def live(self) -> tuple[bool, str]:
        """Live while publishing keeps up, counting from the start until the first publish."""
        return self._verdict(LIVE_SLACK_INTERVALS, require_publish=False)

    def _verdict(self, slack_intervals: int, *, require_publish: bool) -> tuple[bool, str]:
        limit_s = self._settings.stale_after_s(slack_intervals)
        with self._lock:
            never = self._last_publish is None
            age_s = self._clock() - (self._started if self._last_publish is None else self._last_publish)
            error = self._last_error
        what = f"started {age_s:.1f}s ago, nothing published yet" if never else f"last published {age_s:.1f}s ago"
        healthy = age_s <= limit_s and not (never and require_publish)
        return healthy, f"{what} (limit {limit_s:g}s); last error: {error or 'none'}"

    def prometheus(self) -> str:
        with self._lock:
            figures, last, failures = self._figures, self._last_publish_wall, self._failures
        return prometheus_text(figures, self._settings.stack, self._settings.url, last, failures)


class CloudWatchPublisher:
    """One PutMetricData call per interval, into the stack's namespace."""

    def __init__(self, client: Any, settings: ProberSettings) -> None:
        self._client = client
        self._settings = settings
        self._namespace = cloudwatch_namespace(settings.stack)

    def __call__(self, figures: IntervalFigures) -> None:
        self._client.put_metric_data(
            Namespace=self._namespace, MetricData=metric_data(figures, self._settings.stack, self._settings.url)
        )


class SteadyStateProber:
    def __init__(
        self,
        settings: ProberSettings,
        publishers: Sequence[Publish],
        health: Health,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._probe_settings = settings.probe_settings()
        self._publishers = publishers
        self._health = health
        self._wall = wall
        self._intervals: list[threading.Thread] = []

    def run(self, stop: threading.Event) -> None:
        """Start an interval at every wall-clock multiple of the interval until `stop` is set.

        The intervals running when it is set finish and publish before this returns.
        """
        interval_s = self._settings.interval_s
        next_start = math.ceil(self._wall() / interval_s) * interval_s
        while not stop.wait(max(0.0, next_start - self._wall())):
            thread = threading.Thread(
                target=self._interval, args=(next_start,), name=f"interval-{next_start:.0f}", daemon=True
            )
            thread.start()
            self._intervals = [item for item in self._intervals if item.is_alive()] + [thread]
            next_start += interval_s
            # After a stall (a paused process, a starved CPU) skip the missed boundaries rather than
            # start several intervals at once: the gap then shows as missing data, which it was.
            behind_s = self._wall() - next_start
            if behind_s > 0:
                next_start += math.ceil(behind_s / interval_s) * interval_s
        for thread in self._intervals:
            thread.join()

    def _interval(self, started_at: float) -> None:
        try:
            figures = IntervalFigures.from_summary(
                probe(self._probe_settings, label="steady-state").summary, started_at
            )
            self._health.measured(figures)
            for publish in self._publishers:
                publish(figures)
        except Exception as error:  # one failed interval must not end the prober: it is counted and shown
            self._health.failed(error)
        else:
            self._health.published()


class _Handler(BaseHTTPRequestHandler):
    server: _HealthServer

    def do_GET(self) -> None:
        health = self.server.health
        if self.path == METRICS_PATH:
            self._answer(200, health.prometheus(), PROMETHEUS_CONTENT_TYPE)
        elif self.path in (LIVENESS_PATH, READINESS_PATH):
            healthy, why = health.live() if self.path == LIVENESS_PATH else health.ready()
            self._answer(200 if healthy else 503, why + "\n", "text/plain; charset=utf-8")
        else:
            self._answer(
                404,
                f"not found; served: {METRICS_PATH} {LIVENESS_PATH} {READINESS_PATH}\n",
                "text/plain; charset=utf-8",
            )

    def _answer(self, status: int, text: str, content_type: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # Probes and scrapes arrive every few seconds; they are not news.
        del format, args


class _HealthServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], health: Health) -> None:
        super().__init__(address, _Handler)
        self.health = health


def serve(health: Health, host: str, port: int) -> ThreadingHTTPServer:
    """Serve the metrics and health endpoints on a daemon thread; the caller shuts the server down."""
    server = _HealthServer((host, port), health)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
