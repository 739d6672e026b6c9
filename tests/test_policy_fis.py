"""The policy pack's FIS rules, each given a passing and violating inputs, as the analyzer hands them over."""

from __future__ import annotations

import json
from typing import Any

import pytest

from policy.rules.fis import (
    ROLE_TYPE,
    TEMPLATE_TYPE,
    fis_durations_bounded,
    fis_role_trust_pinned,
    fis_stop_conditions_required,
    fis_targets_scoped,
)
from policy_support import resource_args, violations

ALARM = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:dev-frontend-errors"
NODE_GROUP = "arn:aws:eks:us-east-1:123456789012:nodegroup/chaos-lab-dev/chaos-workers/0cc7b2c1"


def template(**changes: Any) -> dict[str, Any]:
    base = {
        "stopConditions": [{"source": "aws:cloudwatch:alarm", "value": ALARM}],
        "targets": [
            {
                "name": "node-group",
                "resourceType": "aws:eks:nodegroup",
                "selectionMode": "ALL",
                "resourceArns": [NODE_GROUP],
            },
            {
                "name": "zone-subnets",
                "resourceType": "aws:ec2:subnet",
                "selectionMode": "ALL",
                "resourceTags": [{"key": "kubernetes.io/cluster/chaos-lab-dev", "value": "shared"}],
            },
        ],
        "actions": [
            {
                "name": "disrupt",
                "actionId": "aws:network:disrupt-connectivity",
                "parameters": [{"key": "scope", "value": "all"}, {"key": "duration", "value": "PT5M"}],
                "target": {"key": "Subnets", "value": "zone-subnets"},
            },
            {
                "name": "chaos-mesh",
                "actionId": "aws:eks:inject-kubernetes-custom-resource",
                "parameters": [{"key": "maxDuration", "value": "PT11M"}],
                "target": {"key": "Cluster", "value": "cluster"},
            },
        ],
    }
    return {**base, **changes}


def found(
    policy: Any, props: dict[str, Any], resource_type: str = TEMPLATE_TYPE, config: dict[str, Any] | None = None
) -> list[str]:
    return violations(policy, resource_args(resource_type, props, config=config))


def test_the_labs_shape_passes_every_template_rule() -> None:
    for policy in (fis_stop_conditions_required, fis_targets_scoped, fis_durations_bounded):
        assert found(policy, template()) == [], policy.name


@pytest.mark.parametrize(
    ("conditions", "problem"),
    [
        ([], "stopConditions: got none; accepted at least one CloudWatch alarm, so a breach stops the run"),
        (
            [{"source": "none"}],
            "stopConditions[0].source: got 'none'; accepted 'aws:cloudwatch:alarm' with an alarm ARN, never 'none'",
        ),
    ],
)
def test_a_template_nothing_stops_is_refused(conditions: list[dict[str, str]], problem: str) -> None:
    (message,) = found(fis_stop_conditions_required, template(stopConditions=conditions))
    assert message.startswith(problem)


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        (
            {"name": "all-nodes", "resourceType": "aws:eks:nodegroup", "selectionMode": "ALL"},
            "targets[0]: got neither resourceArns nor resourceTags, so FIS selects every aws:eks:nodegroup in the account",
        ),
        (
            {
                "name": "any",
                "resourceType": "aws:eks:nodegroup",
                "selectionMode": "ALL",
                "resourceArns": ["arn:aws:eks:us-east-1:123456789012:nodegroup/*"],
            },
            "targets[0].resourceArns: got 'arn:aws:eks:us-east-1:123456789012:nodegroup/*'; accepted full ARNs without wildcards",
        ),
        (
            {
                "name": "tagged",
                "resourceType": "aws:ec2:subnet",
                "selectionMode": "ALL",
                "resourceTags": [{"key": "team", "value": "*"}],
            },
            "targets[0].resourceTags.team: got '*'; accepted a non-empty tag without wildcards",
        ),
        (
            {
                "name": "tagged",
                "resourceType": "aws:ec2:subnet",
                "selectionMode": "ALL",
                "resourceTags": [{"key": "team", "value": ""}],
            },
            "targets[0].resourceTags.team: got ''; accepted a non-empty tag without wildcards",
        ),
    ],
)
def test_untagged_and_wildcard_targets_are_refused(target: dict[str, Any], problem: str) -> None:
    (message,) = found(fis_targets_scoped, template(targets=[target]))
    assert message.startswith(problem)


@pytest.mark.parametrize(
    ("name", "value", "ceiling", "problem"),
    [
        (
            "duration",
            "PT11M",
            "10m",
            "actions[0].parameters.duration: got 'PT11M'; accepted an ISO 8601 duration of at most 10m (maxExperimentDuration 10m)",
        ),
        (
            "duration",
            "PT6M",
            "5m",
            "actions[0].parameters.duration: got 'PT6M'; accepted an ISO 8601 duration of at most 5m (maxExperimentDuration 5m)",
        ),
        (
            "duration",
            "5 minutes",
            "10m",
            "actions[0].parameters.duration: got '5 minutes'; accepted an ISO 8601 duration",
        ),
        (
            "maxDuration",
            "PT12M",
            "10m",
            "actions[0].parameters.maxDuration: got 'PT12M'; accepted an ISO 8601 duration of at most 11m "
            "(maxExperimentDuration 10m, plus a minute for the watchdog)",
        ),
    ],
)
def test_durations_beyond_the_ceiling_are_refused(name: str, value: str, ceiling: str, problem: str) -> None:
    action = {
        "name": "a",
        "actionId": "aws:network:disrupt-connectivity",
        "parameters": [{"key": name, "value": value}],
    }
    (message,) = found(fis_durations_bounded, template(actions=[action]), config={"maxExperimentDuration": ceiling})
    assert message.startswith(problem)


def trust(condition: dict[str, Any] | None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": "fis.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    if condition is not None:
        statement["Condition"] = condition
    return {"assumeRolePolicy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})}


PINNED = {
    "StringEquals": {"aws:SourceAccount": "123456789012"},
    "ArnLike": {"aws:SourceArn": "arn:aws:fis:us-east-1:123456789012:experiment/*"},
}


def test_a_pinned_fis_trust_passes_and_other_services_are_not_its_concern() -> None:
    assert found(fis_role_trust_pinned, trust(PINNED), ROLE_TYPE) == []
    ec2 = {
        "assumeRolePolicy": json.dumps(
            {
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ]
            }
        )
    }
    assert found(fis_role_trust_pinned, ec2, ROLE_TYPE) == []


def test_an_unpinned_fis_trust_is_refused_naming_both_conditions() -> None:
    assert found(fis_role_trust_pinned, trust(None), ROLE_TYPE) == [
        "Statement[0].Condition.StringEquals.aws:SourceAccount: missing; accepted this account's ID",
        "Statement[0].Condition.ArnLike.aws:SourceArn: missing; accepted arn:aws:fis:<region>:<account>:experiment/*",
    ]
    assert found(fis_role_trust_pinned, trust({"StringEquals": PINNED["StringEquals"]}), ROLE_TYPE) == [
        "Statement[0].Condition.ArnLike.aws:SourceArn: missing; accepted arn:aws:fis:<region>:<account>:experiment/*",
    ]
