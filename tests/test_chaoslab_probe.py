"""The open-loop probe against real loopback servers: Python's ThreadingHTTPServer with set delays,
statuses, dripped bodies and resets, and the demo app's real three tiers (Debian nginx, apache2,
redis-server via tests/demo_app_stack.py).

Not covered: an HTTPS answer from a trusted certificate (only the refusal of an untrusted one),
proxies, IPv6, a remote network (every server here is on loopback), and rates beyond a few dozen per
second (benchmarks/probe_bench.py measures those).
"""

from __future__ import annotations

import base64
import math
import random
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaoslab.config.topology import Timeouts
from chaoslab.errors import UsageError
from chaoslab.probe import USER_AGENT, ProbeSettings, probe
from chaoslab.samples import RELATIVE_ERROR, SMALLEST_MS, ErrorKind, LogHistogram, Sample, percentile, summarize
from chaoslab_servers import LOOPBACK, Answer, Reset, app_server, closed_port_url
from demo_app_stack import DemoLab

DELAY_S = 0.2
# The bound: the median within 5 % of a fixed server delay.
P50_TOLERANCE = 0.05
SLOW_SERVER_DELAY_S = 0.5
SLOW_SERVER_RATE = 50.0
SLOW_SERVER_DURATION_S = 2.0
# Open loop: a 500 ms server must not slow the request starts down.
MIN_ACHIEVED_SHARE = 0.98
TIMEOUT_S = 0.2
# What a timed-out request may take beyond its timeout: a thread wake-up and a socket close on a
# busy 2-core machine.
TIMEOUT_SLACK_MS = 150.0
QUICK_RATE = 10.0
QUICK_DURATION_S = 0.5
QUICK_REQUESTS = math.floor(QUICK_RATE * QUICK_DURATION_S)
MS_PER_S = 1000.0


def _probe(
    url: str,
    *,
    rate: float = QUICK_RATE,
    duration_s: float = QUICK_DURATION_S,
    timeout_s: float = 2.0,
    concurrency: int = 50,
) -> Any:
    return probe(ProbeSettings(url, rate, duration_s, timeout_s, concurrency), keep_samples=True)


def test_the_median_matches_a_fixed_server_delay() -> None:
    rate, duration_s = 20.0, 1.0
    with app_server(Answer(delay_s=DELAY_S)) as server:
        summary = _probe(server.url, rate=rate, duration_s=duration_s).summary

    assert summary.ok == summary.sent == math.floor(rate * duration_s)
    delay_ms = DELAY_S * MS_PER_S
    assert delay_ms <= summary.latency(50) <= delay_ms * (1 + P50_TOLERANCE)


def test_requests_keep_their_schedule_while_the_server_is_slow() -> None:
    scheduled = math.floor(SLOW_SERVER_RATE * SLOW_SERVER_DURATION_S)
    # Enough workers for every request in flight during one slow answer, and some to spare.
    concurrency = math.ceil(SLOW_SERVER_RATE * SLOW_SERVER_DELAY_S) * 2
    with app_server(Answer(delay_s=SLOW_SERVER_DELAY_S)) as server:
        summary = _probe(
            server.url, rate=SLOW_SERVER_RATE, duration_s=SLOW_SERVER_DURATION_S, concurrency=concurrency
        ).summary

    assert summary.sent == scheduled and summary.not_sent == 0
    assert summary.achieved_rate >= MIN_ACHIEVED_SHARE * SLOW_SERVER_RATE
    # The answers really were slow: the rate held in spite of them, not because they were quick.
    assert summary.latency(50) >= SLOW_SERVER_DELAY_S * MS_PER_S


def test_requests_due_while_the_cap_is_reached_are_counted_as_not_sent() -> None:
    concurrency = 1
    with app_server(Answer(delay_s=SLOW_SERVER_DELAY_S)) as server:
        result = _probe(server.url, concurrency=concurrency)

    summary = result.summary
    # One worker busy SLOW_SERVER_DELAY_S per request can start at most this many in the window.
    most_sent = math.ceil(QUICK_DURATION_S / SLOW_SERVER_DELAY_S)
    assert summary.scheduled == QUICK_REQUESTS
    assert 1 <= summary.sent <= most_sent
    assert summary.not_sent == QUICK_REQUESTS - summary.sent
    assert summary.success_rate == summary.ok / QUICK_REQUESTS  # an unsent request is no success
    assert [sample.scheduled_s for sample in result.samples] == [index / QUICK_RATE for index in range(QUICK_REQUESTS)]
    assert all(sample.latency_ms is None and sample.error is None for sample in result.samples if not sample.sent)


def test_a_server_slower_than_the_timeout_gives_timeouts() -> None:
    with app_server(Answer(delay_s=5 * TIMEOUT_S)) as server:
        result = _probe(server.url, timeout_s=TIMEOUT_S)

    assert result.summary.errors == {ErrorKind.TIMEOUT.value: QUICK_REQUESTS}
    for sample in result.samples:
        assert sample.status is None
        assert TIMEOUT_S * MS_PER_S <= sample.latency_ms <= TIMEOUT_S * MS_PER_S + TIMEOUT_SLACK_MS


def test_a_body_dripped_past_the_timeout_is_a_timeout_although_each_read_is_quick() -> None:
    drip_s = TIMEOUT_S / 4  # every byte arrives well within the per-read timeout
    body_bytes = 20  # five times the timeout in all
    with app_server(Answer(body_bytes=body_bytes, drip_s=drip_s)) as server:
        result = _probe(server.url, timeout_s=TIMEOUT_S)

    assert result.summary.errors == {ErrorKind.TIMEOUT.value: QUICK_REQUESTS}
    for sample in result.samples:
        assert sample.status == 200  # the headers came; the whole answer did not
        assert sample.latency_ms <= TIMEOUT_S * MS_PER_S + TIMEOUT_SLACK_MS


def test_a_closed_port_is_connection_refused() -> None:
    summary = _probe(closed_port_url()).summary

    assert summary.errors == {ErrorKind.CONNECTION_REFUSED.value: QUICK_REQUESTS}
    assert summary.ok == 0 and summary.success_rate == 0


def test_a_server_that_resets_is_connection_reset() -> None:
    with app_server(Reset()) as server:
        summary = _probe(server.url).summary

    assert summary.errors == {ErrorKind.CONNECTION_RESET.value: QUICK_REQUESTS}


def _connect_until_one_times_out(address: tuple[str, int], queued: list[socket.socket]) -> None:
    while True:
        queued.append(socket.create_connection(address, timeout=TIMEOUT_S))


def test_a_target_that_never_accepts_the_connection_is_a_timeout() -> None:
    """A listening socket whose accept queue is full: the kernel drops further SYNs, so connecting hangs."""
    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(0)
        address = listener.getsockname()
        queued: list[socket.socket] = []
        try:
            with pytest.raises(TimeoutError):  # the queue is full once connecting no longer succeeds
                _connect_until_one_times_out(address, queued)
            result = _probe(f"http://{LOOPBACK}:{address[1]}/api/", timeout_s=TIMEOUT_S)
        finally:
            for connection in queued:
                connection.close()

    assert result.summary.errors == {ErrorKind.TIMEOUT.value: QUICK_REQUESTS}
    assert all(sample.status is None for sample in result.samples)


def test_requests_due_while_every_worker_is_busy_are_not_sent_and_no_more_are_in_flight() -> None:
    concurrency = 3
    with app_server(Answer(delay_s=SLOW_SERVER_DELAY_S)) as server:
        result = _probe(server.url, rate=2 * QUICK_RATE, concurrency=concurrency)

    # Every answer takes longer than the whole schedule: the first `concurrency` requests are sent,
    # each on a worker of its own, and every later one falls due while all of them are busy.
    scheduled = math.floor(2 * QUICK_RATE * QUICK_DURATION_S)
    assert [sample.sent for sample in result.samples] == [True] * concurrency + [False] * (scheduled - concurrency)
    assert result.summary.ok == concurrency


class AnswerOnFirstNotSent:
    """A sink that lets the server answer once a request not sent reaches it."""

    def __init__(self) -> None:
        self.released = threading.Event()

    def add(self, sample: Sample) -> None:
        if not sample.sent:
            self.released.set()


def test_requests_not_sent_reach_the_sinks_while_every_worker_is_still_busy() -> None:
    """So an abort condition on the success rate sees them without waiting for a slow answer."""
    sink = AnswerOnFirstNotSent()
    timeout_s = 2.0
    with app_server(Answer(delay_s=10 * timeout_s, early=sink.released)) as server:
        result = probe(ProbeSettings(server.url, QUICK_RATE, 1.0, timeout_s, 1), sinks=[sink], keep_samples=True)

    # The one worker waits on the first request; the requests due meanwhile are not sent, and only
    # their reaching the sink makes the server answer. Counted once the worker was free, they would
    # have come after the first request's timeout.
    first, second, *_ = result.samples
    assert first.ok and not second.sent


def test_requests_carry_the_user_agent_and_basic_auth_from_the_urls_userinfo() -> None:
    """As requests prepares them: the credentials leave the URL for an Authorization header."""
    with app_server() as server:
        url = server.url.replace("//", "//probe:s%40cret@")
        summary = _probe(url, rate=QUICK_RATE, duration_s=1 / QUICK_RATE).summary
        headers = server.last_headers

    assert summary.ok == 1
    assert headers["User-Agent"] == USER_AGENT
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"probe:s@cret").decode()


def test_a_certificate_requests_ca_bundle_does_not_vouch_for_fails_every_request(tmp_path: Path) -> None:
    """TLS is verified as requests verifies it: a self-signed certificate (made by the real openssl) is refused."""
    certificate, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={LOOPBACK}",
            "-addext",
            f"subjectAltName=IP:{LOOPBACK}",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    with app_server(tls=context) as server:
        summary = _probe(server.url).summary

    assert summary.errors == {ErrorKind.OTHER.value: QUICK_REQUESTS}
    assert not server.received.is_set()


@pytest.mark.parametrize("url", ["http://.com/", "http://exa\u00admple.com/"])
def test_a_url_requests_cannot_prepare_is_refused_before_any_request(url: str) -> None:
    with pytest.raises(UsageError, match=r"^URL: got .* which requests cannot prepare \(InvalidURL\)"):
        ProbeSettings(url)


@pytest.fixture
def unresolvable_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A host name the resolver fails on, without a DNS query leaving the machine."""
    host = "probe-target.invalid"
    resolve = socket.getaddrinfo

    def failing(name: Any, *args: Any, **kwargs: Any) -> Any:
        if name == host:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return resolve(name, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", failing)
    return host


def test_a_name_that_does_not_resolve_is_dns(unresolvable_host: str) -> None:
    """Covers the classification through urllib3's resolver call; not a real resolver's failure modes."""
    summary = _probe(f"http://{unresolvable_host}/api/").summary

    assert summary.errors == {ErrorKind.DNS.value: QUICK_REQUESTS}


@pytest.mark.parametrize(("status", "kind"), [(503, ErrorKind.HTTP_5XX), (404, ErrorKind.HTTP_4XX)])
def test_error_statuses_are_failures_of_their_class(status: int, kind: ErrorKind) -> None:
    with app_server(Answer(status=status)) as server:
        result = _probe(server.url)

    assert result.summary.errors == {kind.value: QUICK_REQUESTS}
    assert {sample.status for sample in result.samples} == {status}


# The demo app's real tiers.

DEMO_RATE = 20.0
DEMO_DURATION_S = 1.0
DEMO_REQUESTS = math.floor(DEMO_RATE * DEMO_DURATION_S)


@pytest.fixture
def lab() -> Iterator[DemoLab]:
    with DemoLab(Timeouts()) as lab:
        yield lab


def test_the_demo_app_answers_every_request_through_all_three_tiers(lab: DemoLab) -> None:
    redis = lab.redis()
    frontend = lab.frontend([lab.backend(redis.port).address])

    summary = _probe(f"http://{frontend.address}/api/", rate=DEMO_RATE, duration_s=DEMO_DURATION_S).summary

    assert summary.ok == summary.sent == DEMO_REQUESTS
    assert summary.errors == {}


def test_the_demo_app_without_redis_answers_503_within_the_redis_deadline(lab: DemoLab) -> None:
    timeouts = Timeouts()
    redis = lab.redis()
    frontend = lab.frontend([lab.backend(redis.port).address])
    redis.stop()

    summary = _probe(f"http://{frontend.address}/api/", rate=DEMO_RATE, duration_s=DEMO_DURATION_S).summary

    assert summary.errors == {ErrorKind.HTTP_5XX.value: DEMO_REQUESTS}
    assert summary.latency(100) < timeouts.redis_ms  # refused at once: no deadline waited out


# The fixed-size summary.


def test_histogram_percentiles_are_never_below_the_exact_ones_and_within_the_relative_error() -> None:
    rng = random.Random(12)
    # Latencies from a microsecond to minutes: a fast app, a slow one, timeouts.
    values = [SMALLEST_MS * math.exp(rng.uniform(0, math.log(60_000 / SMALLEST_MS))) for _ in range(20_000)]
    histogram = LogHistogram()
    for value in values:
        histogram.add(value)

    for rank in (1, 10, 50, 90, 95, 99, 99.9, 100):
        exact = percentile(values, rank)
        assert exact is not None
        assert exact <= histogram.percentile(rank) <= exact * (1 + RELATIVE_ERROR)
    assert histogram.percentile(100) == max(values)


def test_the_histogram_stays_the_same_size_however_many_values_it_counts() -> None:
    histogram = LogHistogram()
    day_ms = 24 * 3600 * MS_PER_S
    bound = math.ceil(math.log(day_ms / SMALLEST_MS) / math.log1p(RELATIVE_ERROR)) + 2
    rng = random.Random(7)
    for _ in range(200_000):
        histogram.add(rng.uniform(0, day_ms))

    assert histogram.count == 200_000 and histogram.size <= bound


def test_the_probe_summary_comes_from_the_same_histogram() -> None:
    with app_server(Answer(delay_s=DELAY_S)) as server:
        result = _probe(server.url)

    assert result.summary == summarize(result.samples, QUICK_RATE, QUICK_DURATION_S)
