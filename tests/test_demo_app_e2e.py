"""The demo app's three tiers on loopback - Debian's nginx, apache2 and redis-server running the
configs the pods get - and how each failure the chaos experiments inject reaches a user.

Run with -s to see the measured times.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from components.demo_app.render import Timeouts
from demo_app_stack import DemoLab, Reply, get

TIMEOUTS = Timeouts()  # the shipped defaults, not test-only values
REDIS_DEADLINE_S = TIMEOUTS.redis_ms / 1000
CONNECT_TIMEOUT_S = TIMEOUTS.proxy_connect_ms / 1000
READ_TIMEOUT_S = TIMEOUTS.proxy_read_ms / 1000
# What a measured time may include beyond the timeout that bounds it: a perl start per CGI request
# (~20 ms here) and scheduling on a 2-core CI machine. Half the room nginx leaves between the
# backend's Redis deadline and its own read timeout, so a backend that needed more than this
# would be close to turning into an nginx 504.
MARGIN_S = (READ_TIMEOUT_S - REDIS_DEADLINE_S) / 2
# Loopback refuses a closed port at once: anything near a connect timeout means nginx waited
# instead of failing fast.
ALL_DOWN_BOUND_S = CONNECT_TIMEOUT_S
COUNTED_REQUESTS = 5
REQUESTS_WITH_ONE_BACKEND_DOWN = 30


@pytest.fixture
def lab() -> Iterator[DemoLab]:
    with DemoLab(TIMEOUTS) as lab:
        yield lab


def _api(frontend_port: int, count: int = 1) -> list[Reply]:
    return [get(frontend_port, "/api/") for _ in range(count)]


def _report(what: str, replies: list[Reply], bound_s: float | None = None) -> None:
    slowest = max(reply.elapsed_s for reply in replies)
    limit = f" (bound {bound_s:.3f} s)" if bound_s is not None else ""
    print(f"\n[demo-app timing] {what}: {len(replies)} request(s), slowest {slowest:.3f} s{limit}")


def test_api_counts_every_request_through_all_three_tiers(lab: DemoLab) -> None:
    redis = lab.redis()
    frontend = lab.frontend([lab.backend(redis.port).address, lab.backend(redis.port).address])

    replies = _api(frontend.port, COUNTED_REQUESTS)

    _report("healthy", replies)
    assert [reply.status for reply in replies] == [200] * COUNTED_REQUESTS
    assert {reply.headers["Content-Type"] for reply in replies} == {"application/json"}
    # A fresh Redis that keeps nothing on disk starts counting at 1.
    assert [reply.json()["count"] for reply in replies] == list(range(1, COUNTED_REQUESTS + 1))
    assert replies[0].json()["pod"] == socket.gethostname()


def test_redis_refusing_connections_gives_the_backends_503_at_once(lab: DemoLab) -> None:
    redis = lab.redis()
    backend = lab.backend(redis.port)
    frontend = lab.frontend([backend.address])
    redis.stop()

    [reply] = _api(frontend.port)

    _report("redis stopped (refused)", [reply], REDIS_DEADLINE_S)
    assert reply.status == 503
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json()["error"].endswith("connect: Connection refused")
    assert reply.elapsed_s < REDIS_DEADLINE_S  # a refusal does not wait out the deadline
    # The backend's health does not depend on Redis, so a probe would not restart it.
    assert get(backend.port, "/healthz").status == 200


@pytest.mark.parametrize(
    ("completes_handshake", "failing_step"),
    [(False, "connect: timeout"), (True, "read: timeout")],
    ids=["partitioned", "hung"],
)
def test_silent_redis_gives_the_backends_503_within_its_deadline(
    lab: DemoLab, completes_handshake: bool, failing_step: str
) -> None:
    silent_redis = lab.blackhole(completes_handshake=completes_handshake)
    frontend = lab.frontend([lab.backend(silent_redis.port).address])

    [reply] = _api(frontend.port)

    bound_s = REDIS_DEADLINE_S + MARGIN_S
    _report(f"redis silent ({failing_step})", [reply], bound_s)
    assert reply.status == 503  # the backend's answer, not an nginx 504
    body = reply.json()
    assert body["error"].endswith(failing_step)
    assert body["deadline_ms"] == TIMEOUTS.redis_ms
    assert reply.elapsed_s <= bound_s


def test_one_backend_stopped_every_request_still_succeeds(lab: DemoLab) -> None:
    redis = lab.redis()
    kept, stopped = lab.backend(redis.port), lab.backend(redis.port)
    frontend = lab.frontend([kept.address, stopped.address])
    stopped.stop()

    replies = _api(frontend.port, REQUESTS_WITH_ONE_BACKEND_DOWN)

    _report("one of two backends stopped", replies)
    assert [reply.status for reply in replies] == [200] * REQUESTS_WITH_ONE_BACKEND_DOWN
    # Every request counted exactly once: none lost, none re-sent to a second backend.
    assert [reply.json()["count"] for reply in replies] == list(range(1, REQUESTS_WITH_ONE_BACKEND_DOWN + 1))
    # Not luck: nginx did send requests to the stopped backend, was refused, and moved on.
    retried = [reply for reply in replies if reply.headers["X-Upstream-Addr"] == f"{stopped.address}, {kept.address}"]
    assert retried
    assert {reply.headers["X-Upstream-Status"] for reply in retried} == {"502, 200"}


def test_a_silent_backend_costs_one_connect_timeout_then_is_retried(lab: DemoLab) -> None:
    """What a request meets when kube-proxy still routes it to a just-killed pod's IP."""
    redis = lab.redis()
    silent, live = lab.blackhole(completes_handshake=False), lab.backend(redis.port)
    frontend = lab.frontend([silent.address, live.address])

    # One request per backend: round robin starts one of them on the silent backend.
    replies = _api(frontend.port, 2)

    assert [reply.status for reply in replies] == [200, 200]
    retried = [reply for reply in replies if reply.headers["X-Upstream-Addr"] == f"{silent.address}, {live.address}"]
    assert retried
    bound_s = CONNECT_TIMEOUT_S + MARGIN_S
    _report("retried after a connect timeout", retried, bound_s)
    for reply in retried:
        assert reply.headers["X-Upstream-Status"] == "504, 200"  # timed out, then served
        assert CONNECT_TIMEOUT_S <= reply.elapsed_s <= bound_s


def test_a_backend_that_accepts_but_never_answers_is_not_retried(lab: DemoLab) -> None:
    """A read timeout may mean the request is still running: re-sending it would INCR twice."""
    redis = lab.redis()
    hung, live = lab.blackhole(completes_handshake=True), lab.backend(redis.port)
    frontend = lab.frontend([hung.address, live.address])

    replies = _api(frontend.port, 2)

    assert sorted(reply.status for reply in replies) == [200, 504]
    [reply] = [reply for reply in replies if reply.status == 504]
    bound_s = READ_TIMEOUT_S + MARGIN_S
    _report("hung backend (read timeout, no retry)", [reply], bound_s)
    assert reply.headers["X-Upstream-Addr"] == hung.address  # tried once, nowhere else
    assert READ_TIMEOUT_S <= reply.elapsed_s <= bound_s


def test_all_backends_stopped_gives_502_at_once(lab: DemoLab) -> None:
    redis = lab.redis()
    backends = [lab.backend(redis.port), lab.backend(redis.port)]
    frontend = lab.frontend([backend.address for backend in backends])
    for backend in backends:
        backend.stop()

    [reply] = _api(frontend.port)

    _report("all backends stopped", [reply], ALL_DOWN_BOUND_S)
    assert reply.status == 502
    assert reply.headers["X-Upstream-Status"] == "502, 502"
    assert reply.elapsed_s < ALL_DOWN_BOUND_S
