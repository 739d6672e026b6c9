"""Open-loop, constant-rate HTTP probing.

Request i is due at i / rate seconds. It starts at its time on one of a bounded set of worker
threads whether or not earlier ones have answered, so a slow target cannot slow the probe down and
hide its own slowness (coordinated omission). When every worker is busy at a request's time, the
request is recorded as not sent instead of waiting for a free worker, which would shift the
schedule.

Memory stays bounded at any duration: each finished request goes into a fixed-size Tally (the
summary) and to the sinks the caller gives (a file, or a list for a run's verdict); the probe
itself keeps only the requests in flight.

With abort conditions, an AbortWatch judges every finished request on its own thread; when one holds,
the probe stops scheduling, and the requests in flight are still waited for and kept.

Ctrl-C stops the schedule at once and waits at most INTERRUPT_GRACE_S for the requests in flight
(a second Ctrl-C cuts that short); those still unanswered are counted as `interrupted`. The workers
are daemon threads, so one still waiting on a socket does not hold the process open.

This module is the probe's core, free of terminal and command-line concerns: a Display is passed in.
"""

from __future__ import annotations

import http.client
import math
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import SplitResult, parse_qsl, urlsplit

import requests
import requests.certs
import urllib3

from .abort import Abort
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
    try:
        urllib3.util.parse_url(_url_of(_prepared(url)))
    except ValueError as error:  # requests' InvalidURL and urllib3's LocationParseError both are
        # Named by type only: the message may quote the URL with its credentials.
        return f"URL: got {shown}, which requests cannot prepare ({type(error).__name__}); {accepted}"
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
            problems.append(
                f"duration: got {self.duration_s:g}s; accepted above 0 and at most {MAX_DURATION_S / 3600:g}h"
            )
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


class Watch(Protocol):
    """What can stop a probe early: an AbortWatch judging conditions, or `run`'s tripwire for a FIS stop."""

    tripped: threading.Event

    def start(self, start: float) -> None: ...

    def completed(self, sample: Sample) -> None: ...

    def close(self) -> Abort | None: ...


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
    settings: ProbeSettings,
    display: Display | None = None,
    label: str = "probe",
    watch: Watch | None = None,
    *,
    sinks: Sequence[SampleSink] = (),
    keep_samples: bool = False,
) -> ProbeResult:
    """Probe `settings.url` at a constant rate for `settings.duration_s`, or until `watch` trips.

    Every finished request goes to each sink; with keep_samples, also into the result (memory then
    grows with the request count: for a run's phase, whose verdict reads them all).
    Raises ProbeInterrupted (a KeyboardInterrupt) on Ctrl-C, carrying what was probed until then.
    """
    return _Prober(settings, display or NullDisplay(), label, watch, sinks, keep_samples).run()


def _prepared(url: str) -> requests.PreparedRequest:
    """Raises ValueError for a URL requests cannot send."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    # The probe measures the target itself: no proxy, .netrc or CA bundle from the environment.
    session.trust_env = False
    return session.prepare_request(requests.Request("GET", url))


def _url_of(prepared: requests.PreparedRequest) -> str:
    # The stubs allow None for a PreparedRequest that was never prepared; prepare_request always sets it.
    assert prepared.url is not None
    return prepared.url


@dataclass(frozen=True)
class _Target:
    """One GET, prepared once and sent as often as the schedule says."""

    pool: urllib3.HTTPConnectionPool
    path: str  # path and query, as sent on the request line
    headers: Mapping[str, str]


def _target(url: str, pool_size: int) -> _Target:
    """requests prepares the request, once: URL normalisation (IDNA host, quoted path), Basic auth from
    the URL's userinfo, default headers. Each request then goes to urllib3, the transport requests is
    built on, with the arguments HTTPAdapter.send passes it (psf/requests src/requests/adapters.py,
    v2.34.2). Profiled at 1000 requests a second, requests' own per-request work (merging settings,
    cookies, hooks, a Response object) cost about as much CPU as urllib3's whole exchange underneath.
    """
    prepared = _prepared(url)
    # One pool of exactly `concurrency` connections: every worker can keep its connection alive, and
    # none is ever opened and thrown away. TLS verified against requests' CA bundle, as requests does.
    manager = urllib3.PoolManager(
        num_pools=1,
        maxsize=pool_size,
        block=False,
        cert_reqs="CERT_REQUIRED",
        ca_certs=requests.certs.where(),  # type: ignore[attr-defined]  # re-exported from certifi; the stubs omit it
    )
    return _Target(manager.connection_from_url(_url_of(prepared)), prepared.path_url, dict(prepared.headers))


class _Prober:
    """Workers that each hold the next request of the schedule, sleep until it is due, then send it.

    Every request costs one thread wake-up, the worker's own at the due time: no dispatcher hands it
    over. A worker takes its next request in the same step, under the lock, as it finishes the last
    one, so a request nobody holds when it falls due is one that came due while every worker was
    busy: it is recorded as not sent (by the next worker to finish, or by the main thread's next
    look, at most PROGRESS_INTERVAL_S later). Workers are started as they are needed, up to the
    concurrency: a new one whenever a worker leaves to send and none is left holding the next request.

    The main thread keeps the clock for the progress display and the end of the schedule, and is the
    one Ctrl-C lands on.
    """

    def __init__(
        self,
        settings: ProbeSettings,
        display: Display,
        label: str,
        watch: Watch | None,
        sinks: Sequence[SampleSink],
        keep_samples: bool,
    ) -> None:
        self._settings = settings
        self._display = display
        self._label = label
        self._watch = watch
        self._sinks = tuple(sinks)
        self._kept: list[Sample] | None = [] if keep_samples else None
        # Workers sleep on this until their request is due, and the main thread until its next look,
        # so an abort or Ctrl-C wakes them all at once.
        self._stopped = watch.tripped if watch is not None else threading.Event()
        self._tally = Tally()
        self._target = _target(settings.url, settings.concurrency)
        self._start = 0.0
        # All below under the lock.
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._next = 0  # the first request of the schedule no worker holds yet
        self._limit = settings.request_count  # lowered to _next when the probe stops early
        self._held = 0  # workers holding a request that is not due yet
        self._workers = 0  # started
        self._sent = 0
        # Requests sent and not yet finished: index -> (due, actual start), both relative to the start.
        self._in_flight: dict[int, tuple[float, float]] = {}
        self._closed = False  # set once the result is taken: a late answer then changes nothing

    def run(self) -> ProbeResult:
        self._start = time.monotonic()
        if self._watch is not None:
            self._watch.start(self._start)
        with self._lock:
            first = self._hold_next()
            self._workers += 1
        self._start_worker(first)
        end = self._start + (self._settings.request_count - 1) / self._settings.rate  # the last due time
        next_progress = self._start + PROGRESS_INTERVAL_S
        try:
            while (now := time.monotonic()) < end:
                if self._stopped.wait(min(next_progress, end) - now):
                    break
                if time.monotonic() >= next_progress:
                    self._tell_watch(self._not_sent_until(time.monotonic()))
                    self._show_progress()
                    next_progress += PROGRESS_INTERVAL_S
            if self._stopped.is_set():
                self._stop_schedule()
            # After an abort too: the halt is out already, and the requests in flight finish within
            # their timeout, so the summary has every request that was sent.
            with self._drained:
                self._drained.wait_for(self._is_drained)
        except KeyboardInterrupt:
            self._stopped.set()
            self._stop_schedule()
            raise ProbeInterrupted(self._finish(interrupted=True)) from None
        finally:
            self._display.done()
        return self._finish(interrupted=False)

    def _finish(self, *, interrupted: bool) -> ProbeResult:
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
        if not interrupted:
            self._target.pool.close()  # interrupted, a worker may still be using it: left to the process's end
        abort = None if self._watch is None else self._watch.close()
        samples = () if self._kept is None else tuple(sorted(self._kept, key=lambda sample: sample.scheduled_s))
        scheduled = self._tally.scheduled
        summary = self._tally.summary(self._settings.rate, scheduled / self._settings.rate, interrupted=interrupted)
        return ProbeResult(summary, samples, abort)

    def _stop_schedule(self) -> None:
        """No request is sent from now on; those that came due while every worker was busy are not sent."""
        not_sent = self._not_sent_until(time.monotonic())
        with self._lock:
            self._limit = min(self._limit, self._next)
            if self._is_drained():
                self._drained.notify_all()
        self._tell_watch(not_sent)

    def _not_sent_until(self, now: float) -> list[Sample]:
        """Record the requests due before `now` that no worker holds, if every worker is busy."""
        with self._lock:
            return self._not_sent_locked(now)

    def _not_sent_locked(self, now: float) -> list[Sample]:
        not_sent: list[Sample] = []
        if self._closed or len(self._in_flight) < self._settings.concurrency:
            return not_sent
        while self._next < self._limit and self._start + (due_s := self._next / self._settings.rate) < now:
            self._next += 1
            sample = Sample(due_s, None, None, None, None)
            self._add(sample)
            not_sent.append(sample)
        return not_sent

    def _hold_next(self) -> int | None:
        """The next request of the schedule for a free worker, or None once there is none. Under the lock."""
        if self._closed or self._next >= self._limit:
            return None
        self._next += 1
        self._held += 1
        return self._next - 1

    def _is_drained(self) -> bool:
        return self._next >= self._limit and not self._held and not self._in_flight

    def _start_worker(self, index: int | None) -> None:
        if index is not None:
            threading.Thread(
                target=self._work, args=(index,), name=f"chaoslab-probe-{self._workers}", daemon=True
            ).start()

    def _work(self, index: int | None) -> None:
        """Send each request this worker holds at its time until the schedule has none left for it.

        A daemon thread: one still waiting on a socket after Ctrl-C does not hold the process open.
        """
        rate, start = self._settings.rate, self._start
        while index is not None:
            due_s = index / rate
            wait_s = start + due_s - time.monotonic()
            if wait_s > 0 and self._stopped.wait(wait_s):
                with self._lock:
                    self._give_up_held()
                return
            started = self._begin(index, due_s)
            if started is None:
                return
            status, error = fetch(self._target, self._settings.timeout_s)
            ended = time.monotonic()
            index = self._end(index, Sample(due_s, started - start, (ended - started) * MS_PER_S, status, error), ended)

    def _give_up_held(self) -> None:
        """The probe stopped before this worker's request was due. Under the lock."""
        self._held -= 1
        if self._is_drained():
            self._drained.notify_all()

    def _begin(self, index: int, due_s: float) -> float | None:
        """The request's actual start; None when the probe stopped meanwhile and it is not sent."""
        spare = None
        with self._lock:
            if self._closed or self._stopped.is_set():
                self._give_up_held()
                return None
            started = time.monotonic()
            self._held -= 1
            self._in_flight[index] = (due_s, started - self._start)
            self._sent += 1
            if not self._held and self._workers < self._settings.concurrency:
                spare = self._hold_next()
                if spare is not None:
                    self._workers += 1
        self._start_worker(spare)
        return started

    def _end(self, index: int, sample: Sample, ended: float) -> int | None:
        """Record the finished request; the next one this worker holds, or None when it is done."""
        with self._lock:
            if self._closed:
                return None
            # Before this worker counts as free: what came due while it was busy too.
            finished = self._not_sent_locked(ended)
            del self._in_flight[index]
            self._add(sample)
            finished.append(sample)
            following = self._hold_next()
            if self._is_drained():
                self._drained.notify_all()
        self._tell_watch(finished)
        return following

    def _tell_watch(self, samples: list[Sample]) -> None:
        if self._watch is not None:
            for sample in samples:
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
            answered, ok, p95_ms, sent = (
                self._tally.sent,
                self._tally.ok,
                self._tally.latency.percentile(95),
                self._sent,
            )
        self._display.progress(
            self._label,
            Progress(
                elapsed_s=time.monotonic() - self._start,
                duration_s=self._settings.duration_s,
                sent=sent,
                answered=answered,
                ok=ok,
                p95_ms=p95_ms,
            ),
        )


def fetch(target: _Target, timeout_s: float) -> tuple[int | None, ErrorKind | None]:
    """GET the target and read the whole body within `timeout_s`; the status and the error kind (None: ok).

    Never raises: every failure is an error kind. urllib3's timeout bounds each socket read, not the
    request, so the body is read here and the total deadline checked between reads.
    """
    deadline = time.monotonic() + timeout_s
    # Every exception ends the request as a failure of some kind: one that urllib3 does not wrap must
    # not escape into the worker thread and take the sample with it.
    try:
        response = target.pool.urlopen(
            "GET",
            target.path,
            headers=target.headers,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
            retries=False,
            timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s),
        )
    except Exception as error:
        return None, classify(error)
    try:
        while time.monotonic() <= deadline:
            if not response.read1(READ_CHUNK_BYTES, decode_content=False):
                return response.status, status_error(response.status)
        return response.status, ErrorKind.TIMEOUT
    except Exception as error:
        return response.status, classify(error)
    finally:
        # Fully read, the connection is back in the pool already; cut short, it is closed here and
        # its place in the pool returned, rather than reused with the rest of a body still on the wire.
        response.close()
        response.release_conn()


# Checked in this order over the error and everything it wraps, most specific first: urllib3's
# NewConnectionError (refused, unreachable, DNS) subclasses its ConnectTimeoutError, so the OS error
# underneath decides before any timeout type does.
_KINDS: tuple[tuple[ErrorKind, tuple[type[BaseException], ...]], ...] = (
    (ErrorKind.DNS, (urllib3.exceptions.NameResolutionError, socket.gaierror)),
    (ErrorKind.CONNECTION_REFUSED, (ConnectionRefusedError,)),
    (ErrorKind.TIMEOUT, (urllib3.exceptions.ReadTimeoutError, TimeoutError)),
    (
        ErrorKind.CONNECTION_RESET,
        (
            ConnectionResetError,
            ConnectionAbortedError,
            BrokenPipeError,
            http.client.IncompleteRead,
            urllib3.exceptions.ProtocolError,
        ),
    ),
)


def classify(error: BaseException) -> ErrorKind:
    """The error kind of a failed request, looking through the exceptions urllib3 wraps."""
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
