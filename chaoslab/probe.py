"""Open-loop, constant-rate HTTP probing.

Request i is due at i / rate seconds. A dispatcher starts each one at its time on a bounded worker
pool whether or not earlier ones have answered, so a slow target cannot slow the probe down and hide
its own slowness (coordinated omission). When every worker is busy at a request's time, the request
is recorded as not sent instead of waiting for a free worker, which would shift the schedule.

With abort conditions, an AbortWatch judges every finished request on its own thread; when one holds,
the dispatcher stops scheduling, and the requests in flight are still waited for and kept.
"""

from __future__ import annotations

import http.client
import math
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from .abort import Abort, AbortWatch
from .display import Display, NullDisplay, Progress
from .errors import UsageError
from .samples import MS_PER_S, ErrorKind, Sample, Summary, latencies_ms, percentile, status_error, summarize

DEFAULT_RATE = 10.0  # per second
# The write-up's curl loop gives each request at most 5 s (curl --max-time 5).
DEFAULT_TIMEOUT_S = 5.0
# Enough workers by default for every request to hang until its timeout without one being dropped,
# but not so many threads that the probe itself becomes the load problem.
DEFAULT_CONCURRENCY_MAX = 200
# Bounds against typos: this is a probe for a lab, not a load generator.
MAX_RATE = 2000.0
MAX_CONCURRENCY = 1000
MAX_TIMEOUT_S = 60.0
PROGRESS_INTERVAL_S = 0.5
# Body bytes asked for per read: read1 returns as soon as any arrive, so the total deadline is
# checked between reads even when a server drips its body.
READ_CHUNK_BYTES = 64 * 1024
USER_AGENT = "chaoslab-probe"


def default_concurrency(rate: float, timeout_s: float) -> int:
    return max(1, min(DEFAULT_CONCURRENCY_MAX, math.ceil(rate * timeout_s)))


@dataclass(frozen=True)
class ProbeSettings:
    """Raises UsageError for a setting outside its bounds."""

    url: str
    rate: float = DEFAULT_RATE  # requests started per second
    duration_s: float = 10.0
    timeout_s: float = DEFAULT_TIMEOUT_S  # per request, connect to last body byte
    concurrency: int = DEFAULT_CONCURRENCY_MAX  # requests in flight at most

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        problems = []
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(f"URL: got {self.url!r}; accepted an http:// or https:// URL with a host")
        if not 0 < self.rate <= MAX_RATE:
            problems.append(f"rate: got {self.rate:g}/s; accepted above 0 and at most {MAX_RATE:g}/s")
        if not 0 < self.timeout_s <= MAX_TIMEOUT_S:
            problems.append(f"timeout: got {self.timeout_s:g}s; accepted above 0 and at most {MAX_TIMEOUT_S:g}s")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            problems.append(f"concurrency: got {self.concurrency}; accepted 1 to {MAX_CONCURRENCY}")
        if self.request_count < 1:
            problems.append(f"duration: got {self.duration_s:g}s, which at {self.rate:g}/s schedules no request")
        if problems:
            raise UsageError("; ".join(problems))

    @property
    def request_count(self) -> int:
        # The small epsilon keeps 0.1/s x 30 s at 3 requests despite binary fractions.
        return math.floor(self.rate * self.duration_s + 1e-9)


@dataclass(frozen=True)
class ProbeResult:
    samples: tuple[Sample, ...]
    summary: Summary
    abort: Abort | None = None  # the condition that stopped the probe early, if one did


class ProbeInterrupted(KeyboardInterrupt):
    """Ctrl-C during a probe; `result` holds the requests that had finished."""

    def __init__(self, result: ProbeResult) -> None:
        super().__init__()
        self.result = result


def probe(
    settings: ProbeSettings, display: Display | None = None, label: str = "probe", watch: AbortWatch | None = None
) -> ProbeResult:
    """Probe `settings.url` at a constant rate for `settings.duration_s`, or until `watch` trips.

    Raises ProbeInterrupted (a KeyboardInterrupt) on Ctrl-C, carrying the finished requests.
    """
    return _Prober(settings, display or NullDisplay(), label, watch).run()


def _session(pool_size: int) -> requests.Session:
    session = requests.Session()
    # One pool of exactly `concurrency` connections: every worker can keep its connection alive,
    # and none is ever opened and thrown away. No retries: a failure is a result, not a nuisance.
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0, pool_block=False)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    # The probe measures the target itself: no proxy or .netrc from the environment, which would
    # also cost a lookup of both on every request.
    session.trust_env = False
    return session


class _Prober:
    def __init__(self, settings: ProbeSettings, display: Display, label: str, watch: AbortWatch | None) -> None:
        self._settings = settings
        self._display = display
        self._label = label
        self._watch = watch
        # The dispatcher sleeps on this, so an abort wakes it at once.
        self._stopped = watch.tripped if watch is not None else threading.Event()
        self._count = settings.request_count
        self._records: list[Sample | None] = [None] * self._count
        self._slots = threading.BoundedSemaphore(settings.concurrency)
        self._session = _session(settings.concurrency)
        self._pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="chaoslab-probe")
        self._start = 0.0
        self._submitted = 0  # written by the dispatcher only

    def run(self) -> ProbeResult:
        self._start = time.monotonic()
        if self._watch is not None:
            self._watch.start(self._start)
        next_progress = self._start + PROGRESS_INTERVAL_S
        scheduled = 0
        try:
            for index in range(self._count):
                due_s = index / self._settings.rate
                wait_s = self._start + due_s - time.monotonic()
                if (self._stopped.wait(wait_s) if wait_s > 0 else self._stopped.is_set()):
                    break
                if self._slots.acquire(blocking=False):
                    self._pool.submit(self._send, index, due_s)
                    self._submitted += 1
                else:
                    self._record(index, Sample(due_s, None, None, None, None))
                scheduled = index + 1
                if time.monotonic() >= next_progress:
                    self._show_progress()
                    next_progress += PROGRESS_INTERVAL_S
            # After an abort too: the halt is out already, and the requests in flight finish within
            # their timeout, so the summary has every request that was sent.
            self._pool.shutdown(wait=True)
        except KeyboardInterrupt:
            # Requests still in flight would keep the user waiting up to the timeout: leave them,
            # keep what has finished.
            self._pool.shutdown(wait=False, cancel_futures=True)
            raise ProbeInterrupted(self._result(scheduled, self._close_watch())) from None
        finally:
            self._display.done()
        self._session.close()
        return self._result(scheduled, self._close_watch())

    def _close_watch(self) -> Abort | None:
        return None if self._watch is None else self._watch.close()

    def _result(self, scheduled: int, abort: Abort | None) -> ProbeResult:
        samples = tuple(record for record in self._records[:scheduled] if record is not None)
        duration_s = scheduled / self._settings.rate
        return ProbeResult(samples, summarize(samples, self._settings.rate, duration_s), abort)

    def _record(self, index: int, sample: Sample) -> None:
        self._records[index] = sample
        if self._watch is not None:
            self._watch.completed(sample)

    def _show_progress(self) -> None:
        finished = [record for record in list(self._records) if record is not None and record.sent]
        self._display.progress(
            self._label,
            Progress(
                elapsed_s=time.monotonic() - self._start,
                duration_s=self._settings.duration_s,
                sent=self._submitted,
                answered=len(finished),
                ok=sum(1 for record in finished if record.ok),
                p95_ms=percentile(latencies_ms(finished), 95),
            ),
        )

    def _send(self, index: int, due_s: float) -> None:
        try:
            started = time.monotonic()
            status, error = fetch(self._session, self._settings.url, self._settings.timeout_s)
            latency_ms = (time.monotonic() - started) * MS_PER_S
            self._record(index, Sample(due_s, started - self._start, latency_ms, status, error))
        finally:
            self._slots.release()


def fetch(session: requests.Session, url: str, timeout_s: float) -> tuple[int | None, ErrorKind | None]:
    """GET `url` and read the whole body within `timeout_s`; the status and the error kind (None: ok).

    Never raises: every failure is an error kind. requests' timeout bounds each socket read, not the request, so the body is read here and the
    total deadline checked between reads.
    """
    deadline = time.monotonic() + timeout_s
    # Every exception ends the request as a failure of some kind: one that requests or urllib3 do
    # not wrap must not escape into the worker thread and take the sample with it.
    try:
        response = session.get(url, timeout=timeout_s, stream=True, allow_redirects=False)
    except Exception as error:
        return None, classify(error)
    try:
        while time.monotonic() <= deadline:
            if not response.raw.read1(READ_CHUNK_BYTES, decode_content=False):
                return response.status_code, status_error(response.status_code)
        return response.status_code, ErrorKind.TIMEOUT
    except Exception as error:
        return response.status_code, classify(error)
    finally:
        # Fully read, the connection is back in the pool already; cut short, it is closed here
        # rather than reused with the rest of a body still on the wire.
        response.close()


# Checked in this order over the error and everything it wraps, most specific first: urllib3's
# NewConnectionError (refused, unreachable, DNS) subclasses its ConnectTimeoutError, so the OS error
# underneath decides before any timeout type does.
_KINDS: tuple[tuple[ErrorKind, tuple[type[BaseException], ...]], ...] = (
    (ErrorKind.DNS, (urllib3.exceptions.NameResolutionError, socket.gaierror)),
    (ErrorKind.CONNECTION_REFUSED, (ConnectionRefusedError,)),
    (ErrorKind.TIMEOUT, (requests.Timeout, urllib3.exceptions.ReadTimeoutError, TimeoutError)),
    (
        ErrorKind.CONNECTION_RESET,
        (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, http.client.IncompleteRead,
         urllib3.exceptions.ProtocolError, requests.exceptions.ChunkedEncodingError),
    ),
)


def classify(error: BaseException) -> ErrorKind:
    """The error kind of a failed request, looking through the exceptions requests and urllib3 wrap."""
    chain = list(_wrapped(error))
    for kind, types in _KINDS:
        if any(isinstance(cause, types) for cause in chain):
            return kind
    return ErrorKind.OTHER


def _wrapped(error: BaseException) -> Iterator[BaseException]:
    """The error and every exception it carries: causes, contexts, urllib3's `reason` and exception args."""
    pending, seen = [error], set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        candidates = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        pending.extend(item for item in candidates if isinstance(item, BaseException))
