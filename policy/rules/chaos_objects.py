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

from .props import items, mapping

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
# The lab's allow-list, the twin of experiments/admission.py (the in-cluster admission policy); the pack
# does not import it (see above), so tests/test_admission_policy.py checks the two agree and runs both
# over one corpus of objects. Faults that stay inside the selected pods; nothing reaching a node's
# kernel or disks, a JVM, DNS, a cloud API or a host.
FAULT_KINDS = ("PodChaos", "NetworkChaos", "StressChaos", "HTTPChaos")
USER_KINDS = (*FAULT_KINDS, "Schedule", "Workflow", "StatusCheck")
# Made by the Chaos Mesh controller itself, never declared by a stack.
CONTROLLER_KINDS = ("WorkflowNode", "PodNetworkChaos", "PodHttpChaos")
SCHEDULE_TYPES = (*FAULT_KINDS, "Workflow")
GROUP_TEMPLATE_TYPES = ("Serial", "Parallel")
TEMPLATE_TYPES = (*FAULT_KINDS, *GROUP_TEMPLATE_TYPES, "Suspend", "StatusCheck")
# Workflow templates that order, wait or probe rather than inject a fault themselves.
FLOW_TEMPLATE_TYPES = frozenset({*GROUP_TEMPLATE_TYPES, "Suspend", "StatusCheck", "Task"})
# Kinds with no selector and no fault of their own.
SELECTORLESS_KINDS = frozenset({"StatusCheck", *CONTROLLER_KINDS})


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
        if key is None or not isinstance(inner, str):
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
            key = (
                "schedule"
                if step_type == "Schedule"
                else EMBED_KEYS.get(step_type)
                if isinstance(step_type, str)
                else None
            )
            if key is None or not isinstance(step_type, str):
                yield Fault(str(step_type), f"{step_path}.templateType", None, *step_deadline)
                continue
            yield from faults(step_type, step.get(key), f"{step_path}.{key}", step_deadline)
    elif kind not in SELECTORLESS_KINDS:
        limit_path, limit = deadline or (f"{path}.duration", mapping(spec).get("duration"))
        yield Fault(kind, path, mapping(spec) if kind in EMBED_KEYS else None, limit_path, limit)


def workflow_of(kind: str, spec: Any) -> tuple[str, Mapping[str, Any]] | None:
    """The object's workflow and its path, if the object is a Workflow or a Schedule of one."""
    if kind == "Workflow":
        return "spec", mapping(spec)
    if kind == "Schedule" and mapping(spec).get("type") == "Workflow":
        return "spec.workflow", mapping(mapping(spec).get("workflow"))
    return None


def templates(kind: str, spec: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(path, template) for each template of the object's workflow, e.g. `spec.templates[step-1]`."""
    workflow = workflow_of(kind, spec)
    if workflow is None:
        return
    path, body = workflow
    for template in map(mapping, items(body.get("templates"))):
        yield f"{path}.templates[{template.get('name', '?')}]", template


def must_end(kind: str, spec: Any, template: Mapping[str, Any]) -> bool:
    """Whether a template needs its own deadline: every leaf does, and the entry, whose deadline bounds
    the whole run (Serial and Parallel children otherwise only add up)."""
    workflow = workflow_of(kind, spec)
    is_entry = workflow is not None and template.get("name") == workflow[1].get("entry")
    return is_entry or template.get("templateType") not in GROUP_TEMPLATE_TYPES or "deadline" in template
