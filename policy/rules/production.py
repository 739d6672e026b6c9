"""Advice for stacks named like production: nodes that stay, and no chaos that runs unattended.

A stack is production-like when a word of its name (split at `-`, `_` or `.`) is `prod` or
`production`: `prod`, `eu-prod`, `production-2`, but not `product-demo`. The stack name is read
from the resource's URN, which every validation receives, rather than from settings the pack
would have to be told.
"""

from __future__ import annotations

import re

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from .chaos_objects import chaos_kind
from .props import items, mapping

PRODUCTION_WORDS = frozenset({"prod", "production"})
# The lab's component (under mocks it carries the inputs) and the node group pulumi-eks creates
# inside it (in a real run the remote component's own props are empty, the child has them).
NODE_GROUP_TYPES = frozenset({"eks:index:ManagedNodeGroup", "aws:eks/nodeGroup:NodeGroup"})


def stack_of(urn: str) -> str:
    """`prod` for `urn:pulumi:prod::chaos-lab::<type>::<name>`."""
    return urn.removeprefix("urn:pulumi:").split("::", 1)[0]


def is_production_stack(stack: str) -> bool:
    return not PRODUCTION_WORDS.isdisjoint(re.split(r"[-_.]", stack.lower()))


def validate_production_on_demand(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in NODE_GROUP_TYPES or not is_production_stack(stack_of(args.urn)):
        return
    if args.props.get("capacityType") == "SPOT":
        report_violation(
            f"capacityType: got SPOT on the production-like stack {stack_of(args.urn)!r}; recommended ON_DEMAND: "
            "EC2 reclaims spot nodes at two minutes' notice, chaos that nobody scheduled",
            None,
        )


production_on_demand_nodes = ResourceValidationPolicy(
    name="production-on-demand-nodes",
    description="A stack named like production runs its EKS nodes ON_DEMAND rather than SPOT.",
    validate=validate_production_on_demand,
    enforcement_level=EnforcementLevel.ADVISORY,
)


def validate_production_unscheduled(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    kind = chaos_kind(args.resource_type)
    if kind is None or not is_production_stack(stack_of(args.urn)):
        return
    spec = mapping(args.props.get("spec"))
    scheduled_steps = [
        mapping(step).get("name")
        for step in items(spec.get("templates"))
        if mapping(step).get("templateType") == "Schedule"
    ]
    if kind == "Schedule":
        report_violation(
            f"spec.schedule: {spec.get('schedule')!r} repeats chaos on a production-like stack with no one watching; run it by hand instead",
            None,
        )
    elif kind == "Workflow" and scheduled_steps:
        report_violation(
            f"spec.templates{scheduled_steps}: Schedule steps repeat chaos on a production-like stack; run each step by hand instead",
            None,
        )


production_no_scheduled_chaos = ResourceValidationPolicy(
    name="production-no-scheduled-chaos",
    description="A stack named like production runs no Schedules of chaos, at the top level or inside a workflow.",
    validate=validate_production_unscheduled,
    enforcement_level=EnforcementLevel.ADVISORY,
)
