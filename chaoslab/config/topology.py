"""The demo app's names, ports and timeouts: what the program declares and the CLI judges against.

The experiments select on these names, so they are fixed; pure data, importable without Pulumi.
"""

from __future__ import annotations

from dataclasses import dataclass

FRONTEND_APP = "frontend-app"
FRONTEND_SERVICE = "frontend-service"
FRONTEND_SERVICE_PORT = 80
BACKEND_APP = "backend-api"
BACKEND_SERVICE = "backend-api"
# Headless: its DNS name answers with the ready backend pods' own IPs, which nginx resolves itself.
BACKEND_PODS_SERVICE = "backend-api-pods"
DATABASE_APP = "database"
DATABASE_SERVICE = "database"
# The write-up's intentional single point of failure; Redis runs unreplicated.
DATABASE_REPLICAS = 1

HTTP_PORT = 8080  # frontend and backend containers alike: unprivileged, so above 1024
REDIS_PORT = 6379

# "Too short and users see errors, too long and the experience suffers" - each default below is
# placed relative to what a healthy in-cluster hop costs and to the write-up's experiments
# (500 ms +/- 100 ms injected latency, pod kills, a Redis partition).

# A healthy in-cluster connect takes well under 1 ms, and even the 500 ms (+100 ms jitter) latency
# experiment completes a handshake inside 1 s. A killed pod's IP never answers, so this is also how
# long a request waits before nginx retries it on another backend.
PROXY_CONNECT_TIMEOUT_MS = 1000
# Redis answers INCR in well under 1 ms. 1 s rides out the 500 ms latency injected between frontend
# and backend, is crossed once the progressive delay (which slows the backend's own packets, two of
# which each Redis exchange waits on) reaches its 500 ms step - the threshold that experiment looks
# for - and turns a partitioned or dead Redis into the backend's 503 within 1 s instead of a hang.
REDIS_TIMEOUT_MS = 1000
# What the backend may need on top of its Redis deadline: a fresh perl process per CGI request
# (tens of ms) and one injected 500 ms (+100 ms) delay on the request's way in.
BACKEND_ALLOWANCE_MS = 1000
# Longer than the backend's own Redis deadline, so a Redis outage reaches users as the backend's
# 503 JSON rather than an nginx 504. Also the retry window (see nginx.conf): no retry starts after
# it, so even the worst request ends within resolve + read + connect + read (6 s).
PROXY_READ_TIMEOUT_MS = REDIS_TIMEOUT_MS + BACKEND_ALLOWANCE_MS


@dataclass(frozen=True)
class Timeouts:
    proxy_connect_ms: int = PROXY_CONNECT_TIMEOUT_MS
    proxy_read_ms: int = PROXY_READ_TIMEOUT_MS
    redis_ms: int = REDIS_TIMEOUT_MS

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive whole number of milliseconds, got {value!r}")
        if self.proxy_read_ms <= self.redis_ms:
            raise ValueError(
                f"proxy_read_ms ({self.proxy_read_ms}) must exceed redis_ms ({self.redis_ms}), "
                "or nginx gives up with a 504 before the backend can answer its 503"
            )


def workloads(frontend_replicas: int, backend_replicas: int) -> dict[str, int]:
    """App label -> replicas, for resolving experiment selectors against what the stack declares."""
    return {FRONTEND_APP: frontend_replicas, BACKEND_APP: backend_replicas, DATABASE_APP: DATABASE_REPLICAS}


def frontend_url(namespace: str, path: str = "/api/") -> str:
    """The in-cluster URL of the frontend, for probes that run inside the cluster."""
    return f"http://{FRONTEND_SERVICE}.{namespace}.svc.cluster.local{path}"


def backend_pods_host(namespace: str) -> str:
    """The headless backend Service's DNS name, fully qualified: nginx's resolver ignores the pod's search list."""
    return f"{BACKEND_PODS_SERVICE}.{namespace}.svc.cluster.local"
