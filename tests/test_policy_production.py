"""The production advisories, called directly with resources of stacks named several ways."""

from __future__ import annotations

import pytest

from policy.rules.production import is_production_stack, production_no_scheduled_chaos, production_on_demand_nodes
from policy_support import chaos_args, chaos_manifest, resource_args, violations

MANAGED_NODE_GROUP = "eks:index:ManagedNodeGroup"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


@pytest.mark.parametrize("stack", ["prod", "production", "eu-prod", "prod_2", "Production.us"])
def test_stacks_named_like_production(stack: str) -> None:
    assert is_production_stack(stack)


@pytest.mark.parametrize("stack", ["dev", "kind", "product-demo", "preprod", "staging"])
def test_stacks_not_named_like_production(stack: str) -> None:
    assert not is_production_stack(stack)


# --- production-on-demand-nodes -------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", [MANAGED_NODE_GROUP, NODE_GROUP])
def test_spot_nodes_on_production_are_advised_against(resource_type: str) -> None:
    args = resource_args(resource_type, {"capacityType": "SPOT"}, stack="prod")
    assert violations(production_on_demand_nodes, args) == [
        "capacityType: got SPOT on the production-like stack 'prod'; recommended ON_DEMAND: "
        "EC2 reclaims spot nodes at two minutes' notice, chaos that nobody scheduled"
    ]


@pytest.mark.parametrize(
    ("stack", "props"), [("prod", {"capacityType": "ON_DEMAND"}), ("prod", {}), ("dev", {"capacityType": "SPOT"})]
)
def test_on_demand_production_and_spot_labs_pass(stack: str, props: dict[str, str]) -> None:
    # {}: a node group's default is ON_DEMAND, and in a real run the remote component's own props are empty.
    assert violations(production_on_demand_nodes, resource_args(NODE_GROUP, props, stack=stack)) == []


# --- production-no-scheduled-chaos ----------------------------------------------------------------


def test_a_schedule_on_production_is_advised_against() -> None:
    args = chaos_args(chaos_manifest("basic-pod-kill", schedule="@hourly"), stack="prod")
    assert violations(production_no_scheduled_chaos, args) == [
        "spec.schedule: '@hourly' repeats chaos on a production-like stack with no one watching; run it by hand instead"
    ]


def test_a_schedule_step_in_a_production_workflow_is_advised_against() -> None:
    manifest = chaos_manifest("progressive-delay")
    manifest["spec"]["templates"].append(
        {
            "name": "nightly",
            "templateType": "Schedule",
            "deadline": "1m",
            "schedule": {"schedule": "@daily", "type": "PodChaos"},
        }
    )
    assert violations(production_no_scheduled_chaos, chaos_args(manifest, stack="prod")) == [
        "spec.templates['nightly']: Schedule steps repeat chaos on a production-like stack; run each step by hand instead"
    ]


@pytest.mark.parametrize(("stack", "schedule"), [("prod", None), ("dev", "@hourly")])
def test_one_off_production_chaos_and_lab_schedules_pass(stack: str, schedule: str | None) -> None:
    args = chaos_args(chaos_manifest("basic-pod-kill", schedule=schedule), stack=stack)
    assert violations(production_no_scheduled_chaos, args) == []
