"""What the preview shows for one enabled experiment, in plain words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Description:
    name: str
    kind: str  # "PodChaos", ..., or "Schedule of NetworkChaos"
    action: str  # e.g. "delay 500ms ±100ms, correlation 90%"
    workloads: dict[str, int | None]  # app label -> declared replicas (None: no such workload declared)
    blast_radius: str  # e.g. "1 of 3 backend-api pods"
    duration: str  # how long one run lasts at most
    simulates: str
    schedule: str | None  # when it repeats; None for a one-off
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "action": self.action,
            "workloads": dict(self.workloads),
            "blastRadius": self.blast_radius,
            "duration": self.duration,
            "simulates": self.simulates,
            "schedule": self.schedule,
            "warnings": list(self.warnings),
        }
