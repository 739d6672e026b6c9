"""The change matrix runs in the suite: every documented key has a change, none collides, docs/changes.md is current."""

from __future__ import annotations

import pytest

from change_matrix import CHANGES, CONFIGURATION_DOC, DOC, Row, diff, documented_keys, matrix, render
from pulumi_harness import Deployment, Registration
from replacement_rules import RULES, rule_for


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[Row]:
    return matrix(documented_keys(CONFIGURATION_DOC.read_text()), tmp_path_factory.mktemp("crds"))


def test_every_key_the_readme_documents_has_a_change_and_no_other():
    keys = documented_keys(CONFIGURATION_DOC.read_text())
    assert "nodes.minSize" in keys and "app.redisTimeout" in keys, "the table's `a.b` / `c` shorthand is expanded"
    assert sorted(keys) == sorted(CHANGES)


def test_no_documented_change_collides(rows: list[Row]):
    assert {row.key: row.collisions for row in rows if row.collisions} == {}


def test_the_generated_table_is_current(rows: list[Row]):
    assert DOC.read_text() == render(rows), "regenerate with: venv/bin/python tests/change_matrix.py --write"


def test_the_changes_that_used_to_collide_now_replace_safely(rows: list[Row]):
    by_key = {row.key: row for row in rows}
    for key in ("nodes.capacityType", "nodes.instanceTypes", "network.natGateways"):
        replaced = [effect for effect in by_key[key].effects if effect.action == "replaced"]
        assert [effect.label for effect in replaced] == ["lab-workers (ManagedNodeGroup)"], key
    upgrade = {effect.label: effect for effect in by_key["kubernetesVersion"].effects}
    assert {effect.action for effect in upgrade.values()} == {"updated"}
    assert upgrade["lab-eks (Cluster)"].fields == ("version",)
    assert upgrade["lab-vpc-cni (Addon)"].fields == ("addonVersion",)
    assert upgrade["lab-workers (ManagedNodeGroup)"].fields == ("version",)


def _registration(type_token: str, name: str, inputs: dict, **options) -> Registration:
    return Registration(
        type=type_token,
        name=name,
        urn=f"urn:pulumi:dev::chaos-lab::{type_token}::{name}",
        parent="",
        custom=True,
        inputs=inputs,
        dependencies=[],
        provider="urn:provider::id",
        delete_before_replace=options.get("delete_before_replace", False),
        replace_on_changes=options.get("replace_on_changes", []),
        custom_timeouts={},
        alias_urns=[],
    )


def _diff(before: list[Registration], after: list[Registration]):
    return diff(Deployment(before, {}), Deployment(after, {}))


def test_a_fixed_name_with_a_force_new_change_is_flagged():
    """The node group as it was: a fixed node_group_name and a changed capacity type."""
    group = "eks:index:ManagedNodeGroup"
    old = _registration(
        group, "workers", {"clusterName": "lab", "nodeGroupName": "chaos-workers", "capacityType": "SPOT"}
    )
    new = _registration(
        group, "workers", {"clusterName": "lab", "nodeGroupName": "chaos-workers", "capacityType": "ON_DEMAND"}
    )
    [effect] = _diff([old], [new])
    assert effect.action == "replaced" and effect.fields == ("capacityType",)
    assert effect.collision and "created before the old one is deleted" in effect.collision
    prefixed = [
        _registration(group, "workers", {"clusterName": "lab", "nodeGroupNamePrefix": "w-", "capacityType": value})
        for value in ("SPOT", "ON_DEMAND")
    ]
    [effect] = _diff(prefixed[:1], prefixed[1:])
    assert effect.action == "replaced" and effect.collision is None


def test_delete_before_replace_and_kubernetes_names_do_not_collide_but_leave_a_gap():
    config_map = "kubernetes:core/v1:ConfigMap"
    old = _registration(config_map, "app", {"metadata": {"name": "app", "namespace": "ns"}, "data": {"a": "1"}})
    new = _registration(config_map, "app", {"metadata": {"name": "app", "namespace": "ns"}, "data": {"a": "2"}})
    [effect] = _diff([old], [new])
    assert (effect.action, effect.collision, effect.gap) == ("replaced", None, True)


def test_a_renamed_resource_taking_the_old_physical_name_collides():
    """Subnets moved to a new logical name but the same CIDR: the new one is created while the old holds it."""
    subnet = "aws:ec2/subnet:Subnet"
    old = _registration(subnet, "public-us-east-1a", {"vpcId": "vpc", "cidrBlock": "10.42.0.0/20"})
    new = _registration(subnet, "public-use1-az4", {"vpcId": "vpc", "cidrBlock": "10.42.0.0/20"})
    effects = _diff([old], [new])
    assert [effect.action for effect in effects] == ["created", "deleted"]
    assert effects[0].collision and "still holds" in effects[0].collision


def test_a_type_without_a_rule_stops_the_tool():
    unknown = _registration("aws:s3/bucket:Bucket", "b", {"bucket": "x"})
    assert rule_for(unknown.type) is None
    with pytest.raises(LookupError, match="no replacement rule for aws:s3/bucket:Bucket"):
        _diff([], [unknown])


def test_every_rule_names_its_upstream_source():
    for type_token, rule in RULES.items():
        assert rule.source.startswith(("hashicorp/terraform-provider-aws ", "pulumi/pulumi-kubernetes ")), type_token
        # A physical name that could change in place would not be an identity.
        assert set(rule.identity) <= set(rule.force_new), type_token


def test_a_replaced_provider_replaces_what_it_manages():
    provider = _registration("pulumi:providers:kubernetes", "cluster", {"context": "a"})
    moved = _registration("pulumi:providers:kubernetes", "cluster", {"context": "b"})
    namespace = {"metadata": {"name": "ns"}}
    managed = _registration("kubernetes:core/v1:Namespace", "ns", namespace)
    managed.provider = f"{provider.urn}::id"
    effects = {effect.label: effect for effect in _diff([provider, managed], [moved, managed])}
    assert effects["ns (Namespace)"].action == "replaced" and effects["ns (Namespace)"].fields == ("<provider>",)
    assert effects["cluster (kubernetes)"].fields == ("context",)
