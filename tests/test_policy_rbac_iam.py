"""The RBAC and IAM rules, called directly on roles, bindings and trust policies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.irsa import trust_policy
from policy.rules.iam import ROLE_TYPE, web_identity_trust_pinned
from policy.rules.rbac import RBAC_TYPE_PREFIX, chaos_accounts_not_cluster_admin, rbac_least_privilege
from pulumi_harness import FAKE_ACCOUNT, FAKE_OIDC_ISSUER
from policy_support import resource_args, violations

ROLE = f"{RBAC_TYPE_PREFIX}Role"
CLUSTER_ROLE = f"{RBAC_TYPE_PREFIX}ClusterRole"
ROLE_BINDING = f"{RBAC_TYPE_PREFIX}RoleBinding"
CLUSTER_ROLE_BINDING = f"{RBAC_TYPE_PREFIX}ClusterRoleBinding"
READ = ["get", "list", "watch"]

# The namespaced "manager" role Chaos Mesh's dashboard documents: wildcard resources in its own group only.
MANAGER_RULES = [
    {"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": READ},
    {"apiGroups": ["chaos-mesh.org"], "resources": ["*"], "verbs": [*READ, "create", "delete", "patch", "update"]},
]


def rbac_found(resource_type: str, props: dict[str, Any]) -> list[str]:
    policy = rbac_least_privilege if resource_type in (ROLE, CLUSTER_ROLE) else chaos_accounts_not_cluster_admin
    return violations(policy, resource_args(resource_type, props))


# --- rbac-least-privilege -------------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", [ROLE, CLUSTER_ROLE])
def test_the_manager_role_passes(resource_type: str) -> None:
    assert rbac_found(resource_type, {"rules": MANAGER_RULES}) == []


def test_wildcard_verbs_are_refused() -> None:
    assert rbac_found(ROLE, {"rules": [{"apiGroups": ["chaos-mesh.org"], "resources": ["podchaos"], "verbs": ["*"]}]}) == [
        "rules[0].verbs: got '*'; accepted the verbs the role needs, listed one by one"
    ]


@pytest.mark.parametrize("groups", [[""], ["*"], ["apps", ""]])
def test_wildcard_resources_that_reach_the_core_group_are_refused(groups: list[str]) -> None:
    assert rbac_found(CLUSTER_ROLE, {"rules": [MANAGER_RULES[0], {"apiGroups": groups, "resources": ["*"], "verbs": READ}]}) == [
        "rules[1].resources: got '*' in the core API group, which covers secrets and pods/exec; accepted the resources listed one by one"
    ]


@pytest.mark.parametrize("resource", ["secrets", "secrets/status"])
def test_any_access_to_secrets_is_refused(resource: str) -> None:
    assert rbac_found(ROLE, {"rules": [{"apiGroups": [""], "resources": ["pods", resource], "verbs": ["get"]}]}) == [
        "rules[0].resources: got secrets; accepted none: a chaos account has no use for credentials"
    ]


# --- chaos-accounts-not-cluster-admin -------------------------------------------------------------


def binding(account: str, role_kind: str, role_name: str) -> dict[str, Any]:
    return {
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": "chaos-sandbox"}],
    }


@pytest.mark.parametrize("account", ["chaos-manager", "chaos-viewer"])
def test_a_chaos_account_bound_to_its_own_role_passes(account: str) -> None:
    assert rbac_found(ROLE_BINDING, binding(account, "Role", account)) == []


@pytest.mark.parametrize("resource_type", [ROLE_BINDING, CLUSTER_ROLE_BINDING])
def test_a_chaos_account_bound_to_cluster_admin_is_refused(resource_type: str) -> None:
    assert rbac_found(resource_type, binding("chaos-manager", "ClusterRole", "cluster-admin")) == [
        "subjects[0]: binds chaos-manager to cluster-admin; accepted the lab's own namespaced manager or viewer Role"
    ]


def test_other_accounts_are_not_its_concern() -> None:
    assert rbac_found(CLUSTER_ROLE_BINDING, binding("ci-deployer", "ClusterRole", "cluster-admin")) == []


# --- web-identity-trust-pinned --------------------------------------------------------------------

OIDC_PROVIDER_ARN = f"arn:aws:iam::{FAKE_ACCOUNT}:oidc-provider/{FAKE_OIDC_ISSUER}"


def trust_found(policy: str | dict[str, Any]) -> list[str]:
    text = policy if isinstance(policy, str) else json.dumps(policy)
    return violations(web_identity_trust_pinned, resource_args(ROLE_TYPE, {"assumeRolePolicy": text}))


def irsa_trust() -> dict[str, Any]:
    return json.loads(trust_policy(OIDC_PROVIDER_ARN, FAKE_OIDC_ISSUER, "kube-system", "aws-node"))


def test_the_labs_irsa_trust_passes() -> None:
    assert trust_found(irsa_trust()) == []


@pytest.mark.parametrize("claim", ["sub", "aud"])
def test_a_web_identity_trust_missing_a_claim_is_refused(claim: str) -> None:
    policy = irsa_trust()
    del policy["Statement"][0]["Condition"]["StringEquals"][f"{FAKE_OIDC_ISSUER}:{claim}"]
    assert trust_found(policy) == [
        f"assumeRolePolicy.Statement[0].Condition.StringEquals: missing <issuer>:{claim}; "
        "accepted a web-identity trust that pins both the subject and the audience"
    ]


def test_string_like_does_not_pin_the_subject() -> None:
    policy = irsa_trust()
    condition = policy["Statement"][0]["Condition"]
    condition["StringLike"] = {f"{FAKE_OIDC_ISSUER}:sub": "system:serviceaccount:*"}
    del condition["StringEquals"][f"{FAKE_OIDC_ISSUER}:sub"]
    assert len(trust_found(policy)) == 1


def test_a_service_trust_is_not_its_concern() -> None:
    node_trust = {"Statement": {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}}
    assert trust_found(node_trust) == []


def test_an_unreadable_trust_is_refused() -> None:
    assert trust_found("{not json") == ["assumeRolePolicy: not JSON, so the trust cannot be checked"]
