"""The demo app's three tiers on loopback - Debian's nginx, apache2 and redis-server running the
configs the pods get - and how each failure the chaos experiments inject reaches a user.

The cluster around them is emulated (tests/demo_app_stack.py): a pod IP per backend, a DNS server
answering the headless Service's name in a seeded random order, and Services that pick an endpoint
per connection at random, seeded, as iptables-mode kube-proxy does (EKS's default).

Run with -s to see the measured times.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from chaoslab.config import topology
from chaoslab.config.model import AppConfig
from components.demo_app.render import BACKEND_DNS_VALID_S, RESOLVER_TIMEOUT_MS, Timeouts
from demo_app_stack import (
    BACKEND_PODS_HOST,
    LOOPBACK,
    NAMESPACE,
    DemoLab,
    Reply,
    Server,
    get,
    node_with_a_dead_pod,
    wait_until,
)

TIMEOUTS = Timeouts()  # the shipped defaults, not test-only values
REDIS_DEADLINE_S = TIMEOUTS.redis_ms / 1000
CONNECT_TIMEOUT_S = TIMEOUTS.proxy_connect_ms / 1000
READ_TIMEOUT_S = TIMEOUTS.proxy_read_ms / 1000
RESOLVER_TIMEOUT_S = RESOLVER_TIMEOUT_MS / 1000
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
# The write-up's tiers (the stack's defaults), and how hard the random-endpoint test pushes them.
BACKEND_REPLICAS = AppConfig.backend_replicas
FRONTEND_REPLICAS = AppConfig.frontend_replicas
SEEDS = (1, 2, 3)
REQUESTS_PER_SEED = 100
# nginx starts each request at a random one of the resolved pods, so a given pod of three is the first
# try of none of this many requests with probability (2/3)**40, under 1e-7.
REQUESTS_TO_MEET_A_POD = 40
# nginx keeps an answer until `valid` seconds after the whole second it arrived in.
FOLLOW_BOUND_S = BACKEND_DNS_VALID_S + 1 + MARGIN_S


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
    assert get(backend.port, "/healthz", backend.host).status == 200


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


def _first_try(reply: Reply) -> str:
    return reply.headers["X-Upstream-Addr"].split(", ")[0]


def _until_a_request_starts_at(frontend_port: int, pod_address: str) -> list[Reply]:
    """Requests, one after another, until one is first sent to `pod_address`; all of them."""
    replies: list[Reply] = []
    while len(replies) < REQUESTS_TO_MEET_A_POD:
        replies.append(get(frontend_port, "/api/"))
        if _first_try(replies[-1]) == pod_address:
            return replies
    pytest.fail(f"none of {len(replies)} requests started at {pod_address}")


def _served_after_one_connect_timeout(replies: list[Reply], what: str) -> None:
    """The last reply met a silent pod first; it and every other reply were served anyway."""
    assert [reply.status for reply in replies] == [200] * len(replies)
    *others, met = replies
    bound_s = CONNECT_TIMEOUT_S + MARGIN_S
    _report(what, [met], bound_s)
    assert met.headers["X-Upstream-Status"] == "504, 200"  # timed out, then served by another pod
    assert CONNECT_TIMEOUT_S <= met.elapsed_s <= bound_s
    # Requests that started elsewhere never waited for it.
    assert all(reply.elapsed_s < CONNECT_TIMEOUT_S for reply in others)


def test_a_killed_pod_whose_port_went_silent_costs_one_connect_timeout_then_is_retried(lab: DemoLab) -> None:
    """What a request meets when DNS still lists a just-killed pod that no longer answers."""
    redis = lab.redis()
    pods = [lab.backend(redis.port) for _ in range(BACKEND_REPLICAS)]
    frontend = lab.frontend([pod.address for pod in pods])
    silent = lab.silence(pods[0])

    replies = _until_a_request_starts_at(frontend.port, silent.address)

    _served_after_one_connect_timeout(replies, "met a killed pod's silent port, retried on another")


def test_a_pod_ip_whose_link_is_down_costs_one_connect_timeout_then_is_retried() -> None:
    """The same with the whole IP gone: the pod's end of its link is down, so not even ARP is answered."""
    with node_with_a_dead_pod() as dead_ip, DemoLab(TIMEOUTS) as lab:
        redis = lab.redis()
        live = [lab.backend(redis.port) for _ in range(BACKEND_REPLICAS - 1)]
        dead = f"{dead_ip}:{lab.pods.port}"
        frontend = lab.frontend([dead, *(pod.address for pod in live)])

        replies = _until_a_request_starts_at(frontend.port, dead)

    _served_after_one_connect_timeout(replies, "met a pod IP whose link is down, retried on another")


def test_a_backend_that_accepts_but_never_answers_is_not_retried(lab: DemoLab) -> None:
    """A read timeout may mean the request is still running: re-sending it would INCR twice."""
    redis = lab.redis()
    hung, live = lab.blackhole(completes_handshake=True, pod=True), lab.backend(redis.port)
    frontend = lab.frontend([hung.address, live.address])

    *served, reply = _until_a_request_starts_at(frontend.port, hung.address)

    assert [other.status for other in served] == [200] * len(served)
    assert reply.status == 504
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


def _write_up_tiers(lab: DemoLab) -> tuple[list[Server], int]:
    """Three backend pods and two nginx behind a frontend Service; the pods and the Service's port."""
    redis = lab.redis()
    pods = [lab.backend(redis.port) for _ in range(BACKEND_REPLICAS)]
    frontends = [lab.frontend([pod.address for pod in pods]) for _ in range(FRONTEND_REPLICAS)]
    service = lab.service(topology.FRONTEND_SERVICE, [frontend.address for frontend in frontends])
    return pods, service.port


@pytest.mark.parametrize("seed", SEEDS)
def test_every_request_survives_a_dead_backend_pod_behind_randomly_balanced_services(seed: int) -> None:
    """kube-proxy in iptables mode picks an endpoint at random per connection; nginx must not depend on it.

    The dead pod stays in DNS, as it does until its endpoint is removed and the answers expire.
    """
    with DemoLab(TIMEOUTS, seed=seed) as lab:
        pods, frontend_port = _write_up_tiers(lab)
        dead = pods[0]
        dead.stop()

        replies = _api(frontend_port, REQUESTS_PER_SEED)

    _report(f"one of {BACKEND_REPLICAS} backends dead, random Services, seed {seed}", replies)
    assert [reply.status for reply in replies] == [200] * REQUESTS_PER_SEED
    # Counted once each: a refused try never reached Redis.
    assert [reply.json()["count"] for reply in replies] == list(range(1, REQUESTS_PER_SEED + 1))
    # Not luck: requests did go to the dead pod first, and were served by another.
    assert any(_first_try(reply) == dead.address for reply in replies)
    assert all(reply.headers["X-Upstream-Addr"].count(dead.address) <= 1 for reply in replies)


def test_through_the_backend_cluster_ip_the_emulated_service_does_lose_requests() -> None:
    """The failure mode the test above guards against, reproduced: nginx sent to a randomly balanced
    ClusterIP gets one peer, so every connection the Service gives to the dead pod is a lost request."""
    with DemoLab(TIMEOUTS, seed=SEEDS[0]) as lab:
        redis = lab.redis()
        pods = [lab.backend(redis.port) for _ in range(BACKEND_REPLICAS)]
        cluster_ip = lab.service(topology.BACKEND_SERVICE, [pod.address for pod in pods])
        frontend = lab.frontend_to(f"{topology.BACKEND_SERVICE}.{NAMESPACE}.svc.cluster.local:{cluster_ip.port}")
        dead = pods[0]
        dead.stop()

        replies = _api(frontend.port, REQUESTS_PER_SEED)

    failed = [reply for reply in replies if reply.status != 200]
    print(f"\n[demo-app] through a random ClusterIP: {len(failed)} of {len(replies)} requests failed")
    assert {reply.status for reply in failed} == {502}
    assert len(failed) == cluster_ip.picks.count(dead.address) > 0


def test_nginx_starts_with_no_backend_pod_and_follows_pods_as_they_come_and_go(lab: DemoLab) -> None:
    redis = lab.redis()
    frontend = lab.frontend([])  # the headless name has no address yet

    [no_pods] = _api(frontend.port)
    assert no_pods.status == 502
    assert no_pods.elapsed_s < ALL_DOWN_BOUND_S

    first = lab.backend(redis.port)
    lab.dns.publish(BACKEND_PODS_HOST, [first.host])
    # An answer without addresses is not cached, so the next request resolves again.
    [served] = _api(frontend.port)
    assert served.status == 200 and served.headers["X-Upstream-Addr"] == first.address

    # A rollout: the new pod joins, the old one leaves the Service but keeps running.
    second = lab.backend(redis.port)
    lab.dns.publish(BACKEND_PODS_HOST, [second.host])
    changed = time.monotonic()
    wait_until(
        lambda: _api(frontend.port)[0].headers["X-Upstream-Addr"] == second.address,
        f"nginx to send to {second.address}",
        deadline_s=FOLLOW_BOUND_S,
    )
    followed_s = time.monotonic() - changed
    print(f"\n[demo-app timing] nginx followed a DNS change in {followed_s:.3f} s (bound {FOLLOW_BOUND_S:.3f} s)")
    # and stays on the new pod.
    assert {reply.headers["X-Upstream-Addr"] for reply in _api(frontend.port, COUNTED_REQUESTS)} == {second.address}


def test_a_cluster_dns_that_never_answers_gives_a_502_within_the_resolver_timeout(lab: DemoLab) -> None:
    """nginx's default resolver_timeout is 30 s; a dead CoreDNS must not hang every request that long."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent_dns:
        silent_dns.bind((LOOPBACK, 0))  # receives the queries, answers none
        silent_port = silent_dns.getsockname()[1]
        frontend = lab.frontend_to(f"{BACKEND_PODS_HOST}:{lab.pods.port}", resolver=f"{LOOPBACK}:{silent_port}")

        [reply] = _api(frontend.port)

    bound_s = RESOLVER_TIMEOUT_S + MARGIN_S
    _report("cluster DNS silent", [reply], bound_s)
    assert reply.status == 502
    assert RESOLVER_TIMEOUT_S <= reply.elapsed_s <= bound_s
