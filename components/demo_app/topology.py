"""The demo app's names and labels. The experiments select on these, so they are fixed, and pure data."""

from __future__ import annotations

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


def workloads(frontend_replicas: int, backend_replicas: int) -> dict[str, int]:
    """App label -> replicas, for resolving experiment selectors against what the stack declares."""
    return {FRONTEND_APP: frontend_replicas, BACKEND_APP: backend_replicas, DATABASE_APP: DATABASE_REPLICAS}


def frontend_url(namespace: str, path: str = "/api/") -> str:
    """The in-cluster URL of the frontend, for probes that run inside the cluster."""
    return f"http://{FRONTEND_SERVICE}.{namespace}.svc.cluster.local{path}"


def backend_pods_host(namespace: str) -> str:
    """The headless backend Service's DNS name, fully qualified: nginx's resolver ignores the pod's search list."""
    return f"{BACKEND_PODS_SERVICE}.{namespace}.svc.cluster.local"
