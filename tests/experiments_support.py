"""The lab as the write-up declares it, shared by the tests of the `experiments` package."""

from __future__ import annotations

from typing import Any

from chaoslab.experiments import CATALOG, Fence

SANDBOX = "chaos-sandbox"
# The demo app: nginx frontend x2, httpd backend x3, one Redis.
WORKLOADS = {"frontend-app": 2, "backend-api": 3, "database": 1}
PROBE_URL = "http://frontend-service.chaos-sandbox.svc.cluster.local/api/"
MAX_DURATION_S = 600.0  # the stack default, 10m

FENCE = Fence(namespace=SANDBOX, max_duration_s=MAX_DURATION_S, workloads=WORKLOADS, probe_url=PROBE_URL)


def all_enabled(**extra: Any) -> dict[str, dict[str, Any]]:
    """`chaos-lab:experiments` with every catalog entry enabled, each with `extra` overrides."""
    return {name: {"enabled": True, **extra} for name in CATALOG}
