"""Open-loop, constant-rate HTTP probing.

Request i is due at i / rate seconds. A dispatcher starts each one at its time on a bounded set of
worker threads whether or not earlier ones have answered, so a slow target cannot slow the probe
down and hide its own slowness (coordinated omission). When every worker is busy at a request's
time, the request is recorded as not sent instead of waiting for a free worker, which would shift
the schedule.

Memory stays bounded at any duration: each finished request goes into a fixed-size Tally (the
summary) and to the sinks the caller gives (a file, or a list for a run's verdict); the probe
itself keeps only the requests in flight.

With abort conditions, an AbortWatch judges every finished request on its own thread; when one holds,
the dispatcher stops scheduling, and the requests in flight are still waited for and kept.

Ctrl-C stops the schedule at once and waits at most INTERRUPT_GRACE_S for the requests in flight
(a second Ctrl-C cuts that short); those still unanswered are counted as `interrupted`. The workers
are daemon threads, so one still waiting on a socket does not hold the process open.

This module is the probe's core, free of terminal and command-line concerns: a Display is passed in.
"""

from __future__ import annotations

import http.client
import math
import queue
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import SplitResult, parse_qsl, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from .abort import Abort, AbortWatch
from .display import Display, NullDisplay, Progress
from .errors import UsageError
from .samples import MS_PER_S, ErrorKind, Sample, Summary, Tally, status_error

DEFAULT_RATE = 10.0  # per second
# The write-up's curl loop gives each request at most 5 s (curl --max-time 5).
DEFAULT_TIMEOUT_S = 5.0
# Enough workers by default for every request to hang until its timeout without one being dropped,
# but not so many threads that the probe itself becomes the load problem.
DEFAULT_CONCURRENCY_MAX = 200
# Bounds against typos: this is a probe for a lab, not a load generator, and a day is longer than
# any experiment the lab runs (its longest is an hour).
MAX_RATE = 2000.0
MAX_CONCURRENCY = 1000
MAX_TIMEOUT_S = 60.0
MAX_DURATION_S = 24 * 3600.0
PROGRESS_INTERVAL_S = 0.5
# How long Ctrl-C waits for the requests in flight: long enough for a healthy answer to arrive,
# short enough that the operator is not kept waiting for a timeout.
INTERRUPT_GRACE_S = 1.0
# Body bytes asked for per read: read1 returns as soon as any arrive, so the total deadline is
# checked between reads even when a server drips its body.
READ_CHUNK_BYTES = 64 * 1024
USER_AGENT = "chaoslab-probe"
REDACTED = "***"
HIGHEST_PORT = 65535
_UNSAFE_URL_CHARACTERS = re.compile(r"[\x00-\x20\x7f]")


def default_concurrency(rate: float, timeout_s: float) -> int:
    return max(1, min(DEFAULT_CONCURRENCY_MAX, math.ceil(rate * timeout_s)))


def redact_url(url: str) -> str:
    """The URL as it may be printed or written: userinfo, query values and fragment replaced by ***.

    Every query value goes, not only those named like secrets: a presigned URL's signature, an API
    key, a session token all hide under names no list foresees. Never raises: a URL that does not
    parse is redacted from its text.
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = REDACTED + "@" + netloc.rsplit("@", 1)[1]
        query = "&".join(f"{key}={REDACTED}" for key, _ in parse_qsl(parts.query, keep_blank_values=True))
        if parts.query and not query:
            query = REDACTED
        return SplitResult(parts.scheme, netloc, parts.path, query, REDACTED if parts.fragment else "").geturl()
    except ValueError:
        text = re.sub(r"//[^/@]*@", f"//{REDACTED}@", url)
        return re.sub(r"[?#].*", f"?{REDACTED}", text)


def url_problem(url: str) -> str | None:
    """Why `url` cannot be probed, or None: http(s), a host, a port from 1 to 65535, nothing unsafe."""
    accepted = "accepted an http:// or https:// URL with a host, and a port from 1 to 65535 if one is given"
    shown = repr(redact_url(url))
    if _UNSAFE_URL_CHARACTERS.search(url):
        return f"URL: got {shown}, which holds a space or a control character; {accepted}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return f"URL: got {shown}: {error}; {accepted}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"URL: got {shown}; {accepted}"
    if port is not None and not 1 <= port <= HIGHEST_PORT:
        return f"URL: got {shown}: port {port} is out of range; {accepted}"
    return None


@dataclass(frozen=True)
class ProbeSettings:
    """Raises UsageError for a setting outside its bounds, naming each one and what is accepted."""

    url: str
    rate: float = DEFAULT_RATE  # requests started per second
    duration_s: float = 10.0
    timeout_s: float = DEFAULT_TIMEOUT_S  # per request, connect to last body byte
    concurrency: int = DEFAULT_CONCURRENCY_MAX  # requests in flight at most

    def __post_init__(self) -> None:
        problems = [problem for problem in (url_problem(self.url),) if problem]
        # `not a <= x <= b` is also true for nan, which fails every comparison.
        if not 0 < self.rate <= MAX_RATE:
            problems.append(f"rate: got {self.rate:g}/s; accepted above 0 and at most {MAX_RATE:g}/s")
        if not 0 < self.timeout_s <= MAX_TIMEOUT_S:
            problems.append(f"timeout: got {self.timeout_s:g}s; accepted above 0 and at most {MAX_TIMEOUT_S:g}s")
        if not 0 < self.duration_s <= MAX_DURATION_S:
            problems.append(f"duration: got {self.duration_s:g}s; accepted above 0 and at most {MAX_DURATION_S / 3600:g}h")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            problems.append(f"concurrency: got {self.concurrency}; accepted 1 to {MAX_CONCURRENCY}")
        if not problems and self.request_count < 1:
            problems.append(f"duration: got {self.duration_s:g}s, which at {self.rate:g}/s schedules no request")
        if problems:
            raise UsageError("; ".join(problems))

    @property
    def request_count(self) -> int:
        # The small epsilon keeps 0.1/s x 30 s at 3 requests despite binary fractions.
        return math.floor(self.rate * self.duration_s + 1e-9)


class SampleSink(Protocol):
    """Where finished requests go as they finish, in the order they finish; called under the probe's lock."""

    def add(self, sample: Sample) -> None: ...


@dataclass(frozen=True)
class ProbeResult:
    summary: Summary
    samples: tuple[Sample, ...] = ()  # in schedule order, with keep_samples only
    abort: Abort | None = None  # the condition that stopped the probe early, if one did


class ProbeInterrupted(KeyboardInterrupt):
    """Ctrl-C during a probe; `result` holds the requests that had finished, and those interrupted."""

    def __init__(self, result: ProbeResult) -> None:
        super().__init__()
        self.result = result


def probe(
    settings: ProbeSettings, display: Display | None = None, label: str = "probe", watch: AbortWatch | None = None,
    *, sinks: Sequence[SampleSink] = (), keep_samples: bool = False,
) -> ProbeResult:
    """Probe `settings.url` at a constant rate for `settings.duration_s`, or until `watch` trips.

    Every finished request goes to each sink; with keep_samples, also into the result (memory then
    grows with the request count: for a run's phase, whose verdict reads them all).
    Raises ProbeInterrupted (a KeyboardInterrupt) on Ctrl-C, carrying what was probed until then.
    """
    return _Prober(settings, display or NullDisplay(), label, watch, sinks, keep_samples).run()


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


class _Workers:
    """At most `size` daemon threads running jobs from a queue, started as they are needed.

    Not a ThreadPoolExecutor: its threads are joined when the interpreter exits, so a request left
    hanging by Ctrl-C would keep the process alive until its timeout.
    """

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._started = 0

    def submit(self, job: Callable[[], None]) -> None:
        if not self._idle.acquire(blocking=False) and self._started < self._size:
            self._started += 1
            threading.Thread(target=self._work, name=f"{self._name}-{self._started}", daemon=True).start()
        self._jobs.put(job)

    def stop(self) -> None:
        """Each thread ends once it is done with its job; none is waited for."""
        for _ in range(self._started):
            self._jobs.put(None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            finally:
                self._idle.release()


class _Prober:
    def __init__(self, settings: ProbeSettings, display: Display, label: str, watch: AbortWatch | None,
                 sinks: Sequence[SampleSink], keep_samples: bool) -> None:
        self._settings = settings
        self._display = display
        self._label = label
        self._watch = watch
        self._sinks = tuple(sinks)
        self._kept: list[Sample] | None = [] if keep_samples else None
        # The dispatcher sleeps on this, so an abort wakes it at once.
        self._stopped = watch.tripped if watch is not None else threading.Event()
        self._tally = Tally()
        # Requests submitted and not yet finished: index -> (due, actual start once started).
        self._in_flight: dict[int, tuple[float, float | None]] = {}
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._closed = False  # set once the result is taken: a late answer then changes nothing
        self._slots = threading.BoundedSemaphore(settings.concurrency)
        self._session = _session(settings.concurrency)
        self._workers = _Workers(settings.concurrency, "chaoslab-probe")
        self._start = 0.0
        self._submitted = 0  # written by the dispatcher only

    def run(self) -> ProbeResult:
        self._start = time.monotonic()
        if self._watch is not None:
            self._watch.start(self._start)
        next_progress = self._start + PROGRESS_INTERVAL_S
        scheduled = 0
        try:
            for index in range(self._settings.request_count):
                due_s = index / self._settings.rate
                wait_s = self._start + due_s - time.monotonic()
                if (self._stopped.wait(wait_s) if wait_s > 0 else self._stopped.is_set()):
                    break
                if self._slots.acquire(blocking=False):
                    with self._lock:
                        self._in_flight[index] = (due_s, None)
                    self._workers.submit(lambda index=index, due_s=due_s: self._send(index, due_s))
                    self._submitted += 1
                else:
                    self._record(None, Sample(due_s, None, None, None, None))
                scheduled = index + 1
                if time.monotonic() >= next_progress:
                    self._show_progress()
                    next_progress += PROGRESS_INTERVAL_S
            # After an abort too: the halt is out already, and the requests in flight finish within
            # their timeout, so the summary has every request that was sent.
            with self._drained:
                self._drained.wait_for(lambda: not self._in_flight)
        except KeyboardInterrupt:
            self._stopped.set()
            raise ProbeInterrupted(self._finish(scheduled, interrupted=True)) from None
        finally:
            self._display.done()
        return self._finish(scheduled, interrupted=False)

    def _finish(self, scheduled: int, *, interrupted: bool) -> ProbeResult:
        if interrupted:
            try:
                with self._drained:
                    self._drained.wait_for(lambda: not self._in_flight, timeout=INTERRUPT_GRACE_S)
            except KeyboardInterrupt:
                pass  # a second Ctrl-C: wait no longer
        with self._lock:
            for due_s, started_s in self._in_flight.values():
                self._add(Sample(due_s, started_s, None, None, ErrorKind.INTERRUPTED))
            self._in_flight.clear()
            self._closed = True
        self._workers.stop()
        if not interrupted:
            self._session.close()  # interrupted, a worker may still be using it: left to the process's end
        abort = None if self._watch is None else self._watch.close()
        samples = () if self._kept is None else tuple(sorted(self._kept, key=lambda sample: sample.scheduled_s))
        summary = self._tally.summary(self._settings.rate, scheduled / self._settings.rate, interrupted=interrupted)
        return ProbeResult(summary, samples, abort)

    def _record(self, index: int | None, sample: Sample) -> None:
        """A request finished (index: it was in flight) or could not be sent (index None)."""
        with self._lock:
            if self._closed:
                return
            if index is not None:
                del self._in_flight[index]
            self._add(sample)
            if not self._in_flight:
                self._drained.notify_all()
        if self._watch is not None:
            self._watch.completed(sample)

    def _add(self, sample: Sample) -> None:
        """Called with the lock held."""
        self._tally.add(sample)
        for sink in self._sinks:
            sink.add(sample)
        if self._kept is not None:
            self._kept.append(sample)

    def _show_progress(self) -> None:
        with self._lock:
            answered, ok, p95_ms = self._tally.sent, self._tally.ok, self._tally.latency.percentile(95)
        self._display.progress(
            self._label,
            Progress(elapsed_s=time.monotonic() - self._start, duration_s=self._settings.duration_s, sent=self._submitted,
                     answered=answered, ok=ok, p95_ms=p95_ms),
        )

    def _send(self, index: int, due_s: float) -> None:
        try:
            started = time.monotonic()
            with self._lock:
                if index in self._in_flight:
                    self._in_flight[index] = (due_s, started - self._start)
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
