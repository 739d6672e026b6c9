"""The safety fence every experiment is built inside."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from . import values
from .errors import ExperimentError
from .values import require

# Replica counts above this are a typo, not a lab.
_REPLICAS_MAX = 1000


@dataclass(frozen=True)
class Fence:
    """Where experiments may reach and for how long.

    Experiment objects live in the sandbox, the only namespace Chaos Mesh's filter injects into and the
    admission policy admits chaos objects in, and every selector names it explicitly (an empty
    `namespaces` would be filled in by the webhook; we never rely on that).

    Raises ExperimentError when a field is unusable.
    """

    namespace: str  # the sandbox namespace; every selector is pinned to it
    max_duration_s: float  # chaos-lab:maxExperimentDuration, parsed
    workloads: Mapping[str, int]  # app label value -> declared replicas, e.g. {"backend-api": 3}
    probe_url: str  # in-cluster URL the workflow StatusCheck hits

    def __post_init__(self) -> None:
        require("fence.namespace", values.dns_label, self.namespace)
        require("fence.probe_url", values.http_url, self.probe_url)
        if (
            isinstance(self.max_duration_s, bool)
            or not isinstance(self.max_duration_s, int | float)
            or self.max_duration_s <= 0
        ):
            raise ExperimentError(
                f"fence.max_duration_s: got {self.max_duration_s!r}; accepted a number of seconds above zero"
            )
        for app, replicas in self.workloads.items():
            require("fence.workloads", values.label_value, app)
            require(f"fence.workloads.{app}", values.whole_number(0, _REPLICAS_MAX), replicas)
