"""The production flavour, Pulumi.prod.yaml, evaluated under mocks as the CLI would load it."""

from __future__ import annotations

import pytest

from components.network import INTERNAL_ELB_TAG
from policy.rules.chaos_objects import chaos_kind
from policy.rules.production import production_on_demand_nodes
from policy_support import registration_args, violations
from pulumi_harness import Deployment, run_lab

NODE_GROUP = "eks:index:ManagedNodeGroup"


@pytest.fixture(scope="module")
def prod() -> Deployment:
    return run_lab("prod")


def test_nodes_are_on_demand(prod: Deployment) -> None:
    assert prod.one(NODE_GROUP).inputs["capacityType"] == "ON_DEMAND"
    assert prod.exports["capacityType"] == "ON_DEMAND"


def test_nodes_sit_in_private_subnets_behind_one_nat_gateway(prod: Deployment) -> None:
    assert len(prod.of_type("aws:ec2/natGateway:NatGateway")) == 1
    private = [subnet for subnet in prod.of_type("aws:ec2/subnet:Subnet") if INTERNAL_ELB_TAG in subnet.inputs["tags"]]
    assert private and all(subnet.inputs["mapPublicIpOnLaunch"] is False for subnet in private)
    assert sorted(prod.one(NODE_GROUP).inputs["subnetIds"]) == sorted(f"{subnet.name}-id" for subnet in private)


def test_no_chaos_object_is_declared(prod: Deployment) -> None:
    assert [registration.name for registration in prod.registrations if chaos_kind(registration.type)] == []


def test_the_pack_advises_only_against_spot_nodes_here(prod: Deployment) -> None:
    assert violations(production_on_demand_nodes, registration_args(prod.one(NODE_GROUP))) == []
    spot = run_lab("prod", {"nodes": {"capacityType": "SPOT"}})
    assert len(violations(production_on_demand_nodes, registration_args(spot.one(NODE_GROUP)))) == 1
