"""The FIS experiment templates, their role, logs and in-cluster access, as the dev stack declares them under mocks.

Not covered here (mocks cannot show it): that AWS accepts these templates and policies, that EKS maps the
role to the user, and what FIS does at run time (tests/test_chaoslab_fis.py runs the API flows on moto).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.fis import FIS_KUBERNETES_USER, LOG_RETENTION_DAYS
from policy.rules.fis import (
    fis_durations_bounded,
    fis_role_trust_pinned,
    fis_stop_conditions_required,
    fis_targets_scoped,
)
from policy.rules.rbac import RBAC_TYPE_PREFIX, rbac_least_privilege, rbac_no_broad_bindings, rbac_no_escalation_paths
from policy_support import registration_args, violations
from pulumi_harness import FAKE_ACCOUNT, FAKE_ZONES, Deployment, ProgramFailed, run_lab

# A zone the lab's network uses in the fake account: it takes the two lowest usable zone IDs, use1-az2 and
# use1-az4 (use1-az1 lacks t2.medium, use1-az3 is refused by EKS).
LAB_ZONE = next(name for name, zone_id in FAKE_ZONES.items() if zone_id == "use1-az4")

# The steady-state metric alarms the dev stack declares (the mocks make their ARNs from their names).
ALARMS = [
    f"arn:aws:cloudwatch:us-east-1:{FAKE_ACCOUNT}:alarm:chaos-lab-dev-steady-state-{name}"
    for name in ("success-rate", "p95-latency")
]
TEMPLATE = "aws:fis/experimentTemplate:ExperimentTemplate"
ALL_FIS = {
    "spot-interruption": {"enabled": True},
    "node-group-loss": {"enabled": True},
    "zone-outage": {"enabled": True, "zone": LAB_ZONE},
    "basic-pod-kill": {"enabled": True, "engine": "fis"},
}


def with_alarms(experiments: dict[str, Any], **overrides: Any) -> Deployment:
    """The dev stack, whose steady state (on by default) declares the alarms FIS stops on."""
    return run_lab("dev", {"experiments": experiments, **overrides})


@pytest.fixture
def everything() -> Deployment:
    return with_alarms(ALL_FIS)


def templates(deployment: Deployment) -> dict[str, dict[str, Any]]:
    return {item.inputs["tags"]["chaos-lab:experiment"]: item.inputs for item in deployment.of_type(TEMPLATE)}


def test_each_enabled_entry_is_a_template_under_the_component_stopped_by_the_alarms(everything: Deployment) -> None:
    component = everything.one("chaos-lab:fis:FisExperiments")
    assert component.urn in everything.registered_outputs
    declared = templates(everything)
    assert set(declared) == set(ALL_FIS)
    for item in everything.of_type(TEMPLATE):
        assert item.parent == component.urn
        assert item.inputs["stopConditions"] == [{"source": "aws:cloudwatch:alarm", "value": alarm} for alarm in ALARMS]
        assert item.inputs["tags"]["chaos-lab:stack"] == "dev"
        assert item.inputs["experimentOptions"] == {
            "accountTargeting": "single-account",
            "emptyTargetResolutionMode": "fail",
        }
    zone = declared["zone-outage"]["targets"][0]
    assert zone["filters"] == [{"path": "AvailabilityZone", "values": [LAB_ZONE]}]


def test_fis_logs_to_a_group_with_a_retention_period(everything: Deployment) -> None:
    group = everything.one("aws:cloudwatch/logGroup:LogGroup")
    assert group.inputs["retentionInDays"] == LOG_RETENTION_DAYS
    for inputs in templates(everything).values():
        assert inputs["logConfiguration"] == {
            "logSchemaVersion": 2,
            "cloudwatchLogsConfiguration": {
                "logGroupArn": f"arn:aws:logs:us-east-1:{FAKE_ACCOUNT}:log-group:{group.inputs['name']}:*"
            },
        }


def _role_policy(deployment: Deployment) -> dict[str, Any]:
    return json.loads(deployment.one("aws:iam/rolePolicy:RolePolicy", "fis-permissions").inputs["policy"])


def _actions(policy: dict[str, Any]) -> set[str]:
    return {action for statement in policy["Statement"] for action in statement["Action"]}


def test_the_role_trusts_fis_for_this_accounts_experiments_only(everything: Deployment) -> None:
    role = next(item for item in everything.of_type("aws:iam/role:Role") if item.name == "fis-role")
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "fis.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": FAKE_ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:fis:us-east-1:{FAKE_ACCOUNT}:experiment/*"},
    }
    assert violations(fis_role_trust_pinned, registration_args(role)) == []


@pytest.mark.parametrize(
    ("entry", "changing_actions"),
    [
        ("spot-interruption", {"ec2:SendSpotInstanceInterruptions"}),
        ("node-group-loss", {"ec2:TerminateInstances"}),
        (
            "zone-outage",
            {
                "ec2:CreateNetworkAcl",
                "ec2:CreateNetworkAclEntry",
                "ec2:DeleteNetworkAcl",
                "ec2:CreateTags",
                "ec2:ReplaceNetworkAclAssociation",
            },
        ),
        ("basic-pod-kill", set()),
    ],
)
def test_the_role_holds_only_what_the_enabled_templates_need(entry: str, changing_actions: set[str]) -> None:
    policy = _role_policy(with_alarms({entry: ALL_FIS[entry]}))
    reads_and_logs = {
        action
        for action in _actions(policy)
        if action.split(":")[1].startswith(("Describe", "Get", "CreateLogDelivery", "PutResourcePolicy"))
    }
    assert _actions(policy) - reads_and_logs == changing_actions
    for statement in policy["Statement"]:
        if set(statement["Action"]) & changing_actions:
            assert (statement["Resource"] != "*" and "Condition" in statement) or statement[
                "Sid"
            ] == "CloneNetworkAcl", statement


# The permissions AWS lists for aws:network:disrupt-connectivity, in the FIS user guide's actions reference
# (https://docs.aws.amazon.com/fis/latest/userguide/fis-actions-reference.html), any scope.
DISRUPT_CONNECTIVITY_PERMISSIONS = {
    "ec2:CreateNetworkAcl",
    "ec2:CreateNetworkAclEntry",
    "ec2:CreateTags",
    "ec2:DeleteNetworkAcl",
    "ec2:DescribeManagedPrefixLists",
    "ec2:DescribeNetworkAcls",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
    "ec2:GetManagedPrefixListEntries",
    "ec2:ReplaceNetworkAclAssociation",
}


def test_the_zone_outage_role_holds_every_permission_aws_lists_for_its_action() -> None:
    granted = _actions(_role_policy(with_alarms({"zone-outage": ALL_FIS["zone-outage"]})))
    assert DISRUPT_CONNECTIVITY_PERMISSIONS - granted == set()


def test_instance_actions_are_limited_to_the_labs_instances(everything: Deployment) -> None:
    for statement in _role_policy(everything)["Statement"]:
        if statement["Sid"] in ("SpotInterruptions", "NodeGroupInstances"):
            assert statement["Condition"] == {"StringEquals": {"aws:ResourceTag/eks:cluster-name": "chaos-lab-dev"}}


def test_in_cluster_entries_get_an_access_entry_and_a_sandbox_role_that_passes_the_rbac_rules(
    everything: Deployment,
) -> None:
    entry = everything.one("aws:eks/accessEntry:AccessEntry", "fis-access")
    assert (entry.inputs["userName"], entry.inputs["type"]) == (FIS_KUBERNETES_USER, "STANDARD")
    role = everything.one(f"{RBAC_TYPE_PREFIX}Role", "fis-chaos")
    assert role.inputs["metadata"]["namespace"] == "chaos-sandbox"
    assert role.inputs["rules"] == [
        {
            "apiGroups": ["chaos-mesh.org"],
            "resources": ["podchaos"],
            "verbs": ["get", "list", "watch", "create", "delete"],
        }
    ]
    binding = everything.one(f"{RBAC_TYPE_PREFIX}RoleBinding", "fis-chaos")
    assert binding.inputs["subjects"] == [
        {"kind": "User", "name": FIS_KUBERNETES_USER, "apiGroup": "rbac.authorization.k8s.io"}
    ]
    for registration in everything.registrations:
        if registration.type.startswith(RBAC_TYPE_PREFIX):
            for policy in (rbac_least_privilege, rbac_no_escalation_paths, rbac_no_broad_bindings):
                assert violations(policy, registration_args(registration)) == [], (registration.name, policy.name)


def test_infrastructure_entries_alone_need_no_kubernetes_access() -> None:
    deployment = with_alarms({"node-group-loss": {"enabled": True}})
    assert deployment.of_type("aws:eks/accessEntry:AccessEntry") == []
    assert [item for item in deployment.registrations if item.name == "fis-chaos"] == []


def test_every_template_passes_the_fis_rules_of_the_policy_pack(everything: Deployment) -> None:
    for item in everything.of_type(TEMPLATE):
        for policy in (fis_stop_conditions_required, fis_targets_scoped, fis_durations_bounded):
            assert violations(policy, registration_args(item)) == [], (item.name, policy.name)


def test_the_preview_shows_targets_stop_conditions_and_price(everything: Deployment) -> None:
    enabled = everything.exports["experiments"]["enabled"]
    assert enabled["spot-interruption"]["targets"] == "1 of 3 spot nodes in chaos-workers"
    assert (
        enabled["zone-outage"]["targets"] == f"the lab's subnets in {LAB_ZONE}, and the nodes of chaos-workers in them"
    )
    for name in ALL_FIS:
        assert enabled[name]["stopConditions"] == ALARMS
        assert enabled[name]["pricePerRunUsd"] == round(enabled[name]["actionMinutes"] * 0.10, 2)
    assert everything.exports["fisTemplateIds"] == {name: enabled[name]["templateId"] for name in ALL_FIS}


def test_without_steady_state_alarms_nothing_is_declared() -> None:
    with pytest.raises(
        ProgramFailed,
        match="chaos-lab:steadyState: FIS experiments \\(zone-outage\\) need the steady-state CloudWatch alarms",
    ) as failed:
        run_lab("dev", {"experiments": {"zone-outage": {"enabled": True}}, "steadyState.enabled": False})
    assert failed.value.deployment.registrations == []


def test_a_zone_outside_the_lab_is_refused_naming_the_key() -> None:
    with pytest.raises(
        ProgramFailed,
        match=r"chaos-lab:experiments\.zone-outage\.zone: got 'us-west-2a'; accepted one of the lab's zones",
    ):
        with_alarms({"zone-outage": {"enabled": True, "zone": "us-west-2a"}})


def test_halted_declares_no_template() -> None:
    deployment = with_alarms(ALL_FIS, halted=True)
    assert deployment.of_type(TEMPLATE) == [] and deployment.exports["fisTemplateIds"] == {}


def test_the_kind_stack_rejects_fis_entries_with_a_clear_message() -> None:
    with pytest.raises(
        ProgramFailed,
        match=r"chaos-lab:experiments\.node-group-loss: FIS acts on AWS resources and this stack declares none",
    ):
        run_lab("kind", {"experiments": {"node-group-loss": {"enabled": True}}})
