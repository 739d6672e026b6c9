"""chaos-mesh.org objects read the way Chaos Mesh reads them.

An object is a fault (PodChaos, NetworkChaos, ...), a Schedule that embeds a fault or a Workflow, or a
Workflow whose templates embed faults and Schedules. `faults()` unfolds any of them into the faults it
runs, so every rule reads the same shapes. The pack does not import the lab's `experiments` package on
purpose: a check that shared the renderer's code would share its bugs too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .pack_config import parse_duration_s
from .props import EMPTY, items, mapping

CHAOS_TYPE_PREFIX = "kubernetes:chaos-mesh.org/"
# The field that holds a kind's spec inside a Schedule or a workflow template: the CRDs' own names,
# which no single casing rule produces (`ioChaos`, `physicalmachineChaos`).
EMBED_KEYS: Mapping[str, str] = {
    "PodChaos": "podChaos",
    "NetworkChaos": "networkChaos",
    "StressChaos": "stressChaos",
    "IOChaos": "ioChaos",
    "TimeChaos": "timeChaos",
    "HTTPChaos": "httpChaos",
    "DNSChaos": "dnsChaos",
    "JVMChaos": "jvmChaos",
    "KernelChaos": "kernelChaos",
    "BlockChaos": "blockChaos",
    "AWSChaos": "awsChaos",
    "GCPChaos": "gcpChaos",
    "AzureChaos": "azureChaos",
    "PhysicalMachineChaos": "physicalmachineChaos",
    "Workflow": "workflow",
}
# Workflow templates that order, wait or probe rather than inject a fault themselves.
FLOW_TEMPLATE_TYPES = frozenset({"Serial", "Parallel", "Suspend", "StatusCheck", "Task"})


@dataclass(frozen=True)
class Fault:
    """One fault an object runs: its kind, where it sits (for messages), its spec, and what ends it.

    `spec` is None when the kind is not one Chaos Mesh defines, so no rule can read it; a known kind
    without a spec reads as an empty one. `limit` is the fault's own `duration`, or inside a workflow
    the `deadline` of the template that runs it (the webhook forbids a duration there); `limit_path`
    says where that value is declared.
    """

    kind: str
    path: str
    spec: Mapping[str, Any] | None
    limit_path: str
    limit: Any


def chaos_kind(resource_type: str) -> str | None:
    """`PodChaos` for `kubernetes:chaos-mesh.org/v1alpha1:PodChaos`; None for other resources."""
    if not resource_type.startswith(CHAOS_TYPE_PREFIX):
        return None
    return resource_type.rsplit(":", 1)[-1]


def faults(kind: str, spec: Any, path: str = "spec", deadline: tuple[str, Any] | None = None) -> Iterator[Fault]:
    """Every fault the object runs; `deadline` is the (path, value) of an enclosing workflow template's."""
    if kind == "Schedule":
        inner = mapping(spec).get("type")
        key = EMBED_KEYS.get(inner) if isinstance(inner, str) else None
        if key is None:
            yield Fault(str(inner), f"{path}.type", None, f"{path}.type", None)
            return
        yield from faults(inner, mapping(spec).get(key), f"{path}.{key}", deadline)
    elif kind == "Workflow":
        for step in map(mapping, items(mapping(spec).get("templates"))):
            step_type = step.get("templateType")
            if step_type in FLOW_TEMPLATE_TYPES:
                continue
            step_path = f"{path}.templates[{step.get('name')}]"
            step_deadline = (f"{step_path}.deadline", step.get("deadline"))
            key = "schedule" if step_type == "Schedule" else EMBED_KEYS.get(step_type) if isinstance(step_type, str) else None
            if key is None:
                yield Fault(str(step_type), f"{step_path}.templateType", None, *step_deadline)
                continue
            yield from faults(step_type, step.get(key), f"{step_path}.{key}", step_deadline)
    else:
        limit_path, limit = deadline or (f"{path}.duration", mapping(spec).get("duration"))
        yield Fault(kind, path, mapping(spec) if kind in EMBED_KEYS else None, limit_path, limit)


def workflow_of(kind: str, spec: Any) -> tuple[str, Mapping[str, Any]] | None:
    """The object's workflow and its path, if the object is a Workflow or a Schedule of one."""
    if kind == "Workflow":
        return "spec", mapping(spec)
    if kind == "Schedule" and mapping(spec).get("type") == "Workflow":
        return "spec.workflow", mapping(mapping(spec).get("workflow"))
    return None


def workflow_bound_s(workflow: Mapping[str, Any]) -> float | None:
    """The longest one run of the workflow can last, or None if some path from `entry` never ends.

    Serial children add up, Parallel ones overlap, and any template's own `deadline` cuts it short.
    A Task's conditional branches start further templates the pack does not follow, so they count
    as unbounded, as does a template that is missing or refers back to itself.
    """
    templates = {mapping(step).get("name"): mapping(step) for step in items(workflow.get("templates"))}

    def bound(name: Any, seen: frozenset[Any]) -> float | None:
        step = templates.get(name, EMPTY)
        step_type = step.get("templateType")
        if not step or name in seen or (step_type == "Task" and step.get("conditionalBranches")):
            return None
        own = _seconds_or_none(step.get("deadline"))
        inner: float | None = None
        if step_type in ("Serial", "Parallel"):
            children = [bound(child, seen | {name}) for child in items(step.get("children"))]
            ended = [child for child in children if child is not None]
            if children and len(ended) == len(children):
                inner = sum(ended) if step_type == "Serial" else max(ended)
        known = [value for value in (own, inner) if value is not None]
        return min(known) if known else None

    return bound(workflow.get("entry"), frozenset())


def _seconds_or_none(text: Any) -> float | None:
    try:
        return parse_duration_s(text)
    except ValueError:
        return None
