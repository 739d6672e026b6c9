"""The RBAC and IAM rules, called directly on roles, bindings and trust policies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.irsa import trust_policy
from policy.rules.iam import ROLE_TYPE, WEB_IDENTITY_ACTION, web_identity_trust_exact, web_identity_trust_pinned
from policy.rules.rbac import (
    BROAD_GROUPS,
    ESCALATION_PATHS,
    PRIVILEGED_CLUSTER_ROLES,
    RBAC_TYPE_PREFIX,
    EscalationPath,
    rbac_least_privilege,
    rbac_no_broad_bindings,
    rbac_no_escalation_paths,
)
from policy_support import AnyPolicy, registration_args, resource_args, violations
from pulumi_harness import FAKE_ACCOUNT, FAKE_OIDC_ISSUER, Deployment, run_lab

ROLE = f"{RBAC_TYPE_PREFIX}Role"
CLUSTER_ROLE = f"{RBAC_TYPE_PREFIX}ClusterRole"
ROLE_BINDING = f"{RBAC_TYPE_PREFIX}RoleBinding"
CLUSTER_ROLE_BINDING = f"{RBAC_TYPE_PREFIX}ClusterRoleBinding"
ROLE_POLICIES = (rbac_least_privilege, rbac_no_escalation_paths)
READ = ("get", "list", "watch")


def role_found(policy: AnyPolicy, *rules: dict[str, Any], resource_type: str = ROLE) -> list[str]:
    return violations(policy, resource_args(resource_type, {"rules": list(rules)}))


def rule(groups: list[str], resources: list[str], verbs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": list(verbs)}


# --- the lab's own RBAC ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev() -> Deployment:
    return run_lab("dev")


def test_every_role_and_binding_the_lab_declares_passes_every_rbac_rule(dev: Deployment) -> None:
    declared = [registration for registration in dev.registrations if registration.type.startswith(RBAC_TYPE_PREFIX)]
    kinds = {registration.type.removeprefix(RBAC_TYPE_PREFIX) for registration in declared}
    assert kinds == {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
    found = {
        f"{registration.name} {policy.name}": violations(policy, registration_args(registration))
        for registration in declared
        for policy in (*ROLE_POLICIES, rbac_no_broad_bindings)
    }
    assert {key: messages for key, messages in found.items() if messages} == {}


# --- rbac-least-privilege -------------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", [ROLE, CLUSTER_ROLE])
def test_named_verbs_groups_and_resources_pass(resource_type: str) -> None:
    named = rule(["chaos-mesh.org"], ["podchaos", "workflows"], [*READ, "create", "delete"])
    assert role_found(rbac_least_privilege, named, rule([""], ["pods"], READ), resource_type=resource_type) == []


def test_wildcard_verbs_are_refused() -> None:
    assert role_found(rbac_least_privilege, rule(["chaos-mesh.org"], ["podchaos"], ["*"])) == [
        "rules[0].verbs: got '*'; accepted the verbs the role needs, listed one by one"
    ]


def test_wildcard_api_groups_are_refused() -> None:
    assert role_found(rbac_least_privilege, rule(["*"], ["podchaos"], READ)) == [
        "rules[0].apiGroups: got '*'; accepted the API groups the role needs, listed one by one"
    ]


@pytest.mark.parametrize("groups", [[""], ["apps"], ["chaos-mesh.org"]])
@pytest.mark.parametrize("wildcard", ["*", "*/exec"])
def test_wildcard_resources_are_refused_in_every_group(groups: list[str], wildcard: str) -> None:
    assert role_found(rbac_least_privilege, rule([""], ["pods"], READ), rule(groups, [wildcard], READ)) == [
        f"rules[1].resources: got {wildcard!r}, which also covers every kind installed later; accepted the resources listed one by one"
    ]


def test_named_non_resource_urls_pass() -> None:
    assert (
        role_found(
            rbac_least_privilege,
            {"nonResourceURLs": ["/healthz", "/version"], "verbs": ["get"]},
            resource_type=CLUSTER_ROLE,
        )
        == []
    )


@pytest.mark.parametrize("url", ["*", "/api/*"])
def test_wildcard_non_resource_urls_are_refused(url: str) -> None:
    assert role_found(
        rbac_least_privilege, {"nonResourceURLs": ["/healthz", url], "verbs": ["get"]}, resource_type=CLUSTER_ROLE
    ) == [f"rules[0].nonResourceURLs: got {url!r}; accepted the URLs listed one by one"]


def test_an_aggregated_role_is_refused() -> None:
    aggregated = {
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.example.com/aggregate-to-chaos": "true"}}]}
    }
    assert violations(rbac_least_privilege, resource_args(CLUSTER_ROLE, aggregated)) == [
        "aggregationRule: got one, so the role's rules are copied from other ClusterRoles at run time; "
        "accepted rules written in the role itself, where the pack can check them"
    ]


@pytest.mark.parametrize("resource", ["secrets", "secrets/status"])
def test_any_access_to_secrets_is_refused(resource: str) -> None:
    assert role_found(rbac_least_privilege, rule([""], ["pods", resource], ["get"])) == [
        "rules[0].resources: got secrets; accepted none: a chaos account has no use for credentials"
    ]


# --- rbac-no-escalation-paths ---------------------------------------------------------------------


def path_id(path: EscalationPath) -> str:
    return path.label


def opening_verbs(path: EscalationPath) -> list[str]:
    return sorted(path.verbs) if path.verbs is not None else ["get"]


def harmless_neighbour(path: EscalationPath) -> dict[str, Any]:
    """Reads where the path's verbs write, or reads of the parent of a subresource that any verb opens."""
    if path.verbs is None:
        return rule([path.api_group], [path.resource.partition("/")[0]], READ)
    return rule([path.api_group], [path.resource], [verb for verb in READ if verb not in path.verbs])


@pytest.mark.parametrize("path", ESCALATION_PATHS, ids=path_id)
def test_each_escalation_path_is_refused(path: EscalationPath) -> None:
    verbs = opening_verbs(path)
    [message] = role_found(
        rbac_no_escalation_paths, rule([path.api_group], [path.resource], verbs), resource_type=CLUSTER_ROLE
    )
    assert (
        message
        == f"rules[0].verbs: {', '.join(map(repr, verbs))} on {path.label}: {path.risk}; accepted a role without this grant"
    )


@pytest.mark.parametrize("path", ESCALATION_PATHS, ids=path_id)
def test_the_harmless_neighbour_of_each_path_passes(path: EscalationPath) -> None:
    assert role_found(rbac_no_escalation_paths, harmless_neighbour(path), resource_type=CLUSTER_ROLE) == []


def test_the_escalate_verb_names_the_field() -> None:
    [message] = role_found(
        rbac_no_escalation_paths, rule(["rbac.authorization.k8s.io"], ["clusterroles"], ["get", "escalate"])
    )
    assert message.startswith("rules[0].verbs: 'escalate' on clusterroles in rbac.authorization.k8s.io: ")


@pytest.mark.parametrize(
    "wildcard_rule",
    [
        rule([""], ["pods/exec"], ["*"]),
        rule([""], ["*/exec"], ["create"]),
        rule(["*"], ["pods/exec"], ["create"]),
        rule([""], ["*"], ["create"]),
    ],
    ids=["verbs", "subresource", "apiGroups", "resources"],
)
def test_a_path_reached_through_a_wildcard_is_refused(wildcard_rule: dict[str, Any]) -> None:
    found = role_found(rbac_no_escalation_paths, rule([""], ["pods"], READ), wildcard_rule)
    assert any(message.startswith("rules[1].verbs: ") and " on pods/exec: " in message for message in found)


def test_workload_kinds_of_other_groups_are_not_confused_with_the_core_ones() -> None:
    # `deployments` in a CRD group of the same name is not apps/v1's Deployment.
    assert role_found(rbac_no_escalation_paths, rule(["example.com"], ["deployments", "pods"], ["create"])) == []


# --- rbac-no-broad-bindings -----------------------------------------------------------------------


def binding(role_kind: str, role_name: str, *subjects: dict[str, str]) -> dict[str, Any]:
    return {
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
        "subjects": list(subjects),
    }


def service_account(name: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": "chaos-sandbox"}


def bindings_found(resource_type: str, props: dict[str, Any]) -> list[str]:
    return violations(rbac_no_broad_bindings, resource_args(resource_type, props))


@pytest.mark.parametrize("resource_type", [ROLE_BINDING, CLUSTER_ROLE_BINDING])
@pytest.mark.parametrize("role", [("Role", "chaos-manager"), ("ClusterRole", "view"), ("Role", "admin")], ids="-".join)
def test_own_or_read_only_roles_for_named_subjects_pass(resource_type: str, role: tuple[str, str]) -> None:
    subjects = (
        service_account("chaos-manager"),
        {"kind": "User", "name": "alice"},
        {"kind": "Group", "name": "chaos-operators"},
    )
    assert bindings_found(resource_type, binding(*role, *subjects)) == []


@pytest.mark.parametrize("resource_type", [ROLE_BINDING, CLUSTER_ROLE_BINDING])
@pytest.mark.parametrize("role_name", PRIVILEGED_CLUSTER_ROLES)
def test_the_built_in_admin_roles_are_refused(resource_type: str, role_name: str) -> None:
    assert bindings_found(resource_type, binding("ClusterRole", role_name, service_account("chaos-manager"))) == [
        f"roleRef.name: got the built-in ClusterRole {role_name!r}, which reads Secrets and runs pods as any service account; "
        "accepted a role of the lab's own that names what it grants"
    ]


BROAD_SUBJECTS = [
    *({"kind": "Group", "name": group} for group in BROAD_GROUPS),
    {"kind": "Group", "name": "system:serviceaccounts:chaos-sandbox"},
    {"kind": "User", "name": "system:anonymous"},
]


@pytest.mark.parametrize("subject", BROAD_SUBJECTS, ids=lambda subject: subject["name"])
def test_whole_groups_are_refused(subject: dict[str, str]) -> None:
    assert bindings_found(ROLE_BINDING, binding("Role", "chaos-viewer", service_account("chaos-viewer"), subject)) == [
        f"subjects[1].name: got {subject['kind']} {subject['name']!r}, which takes in every user or service account it covers, "
        "those added later included; accepted named users and service accounts"
    ]


# --- web-identity-trust-pinned and web-identity-trust-exact ---------------------------------------

OIDC_PROVIDER_ARN = f"arn:aws:iam::{FAKE_ACCOUNT}:oidc-provider/{FAKE_OIDC_ISSUER}"
TRUST_POLICIES = (web_identity_trust_pinned, web_identity_trust_exact)


def trust_found(policy: str | dict[str, Any], rule: AnyPolicy = web_identity_trust_pinned) -> list[str]:
    text = policy if isinstance(policy, str) else json.dumps(policy)
    return violations(rule, resource_args(ROLE_TYPE, {"assumeRolePolicy": text}))


def irsa_trust() -> dict[str, Any]:
    return json.loads(trust_policy(OIDC_PROVIDER_ARN, FAKE_OIDC_ISSUER, "kube-system", "aws-node"))


def with_statement(**changes: Any) -> dict[str, Any]:
    """The lab's IRSA trust with its one statement changed; a None value removes that key."""
    policy = irsa_trust()
    statement = policy["Statement"][0]
    for key, value in changes.items():
        if value is None:
            del statement[key]
        else:
            statement[key] = value
    return policy


@pytest.mark.parametrize("rule", TRUST_POLICIES, ids=lambda rule: rule.name)
def test_the_labs_irsa_trust_passes(rule: AnyPolicy) -> None:
    assert trust_found(irsa_trust(), rule) == []


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


def test_a_wildcard_trust_without_conditions_must_pin_its_claims_too() -> None:
    assert trust_found(with_statement(Action="sts:AssumeRole*", Condition=None)) == [
        "assumeRolePolicy.Statement[0].Condition.StringEquals: missing <issuer>:sub and <issuer>:aud; "
        "accepted a web-identity trust that pins both the subject and the audience"
    ]


@pytest.mark.parametrize("rule", TRUST_POLICIES, ids=lambda rule: rule.name)
def test_a_service_trust_is_not_their_concern(rule: AnyPolicy) -> None:
    for action in ("sts:AssumeRole", "*"):
        node_trust = {"Statement": {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": action}}
        assert trust_found(node_trust, rule) == []


def test_an_unreadable_trust_is_refused_once() -> None:
    assert trust_found("{not json") == ["assumeRolePolicy: not JSON, so the trust cannot be checked"]
    assert trust_found("{not json", web_identity_trust_exact) == []


@pytest.mark.parametrize(
    "action",
    ["sts:*", "*", "sts:AssumeRole*", "STS:assumerolewithwebidentit?", ["sts:AssumeRoleWithWebIdentity", "sts:*"]],
    ids=str,
)
def test_an_action_wildcard_in_a_web_identity_trust_is_refused(action: str | list[str]) -> None:
    wildcard = action[-1] if isinstance(action, list) else action
    assert trust_found(with_statement(Action=action), web_identity_trust_exact) == [
        f"assumeRolePolicy.Statement[0].Action: got {wildcard!r}, which also covers {WEB_IDENTITY_ACTION} "
        f"and every action added later; accepted {WEB_IDENTITY_ACTION} named exactly"
    ]


def test_an_exact_action_beside_a_wildcard_that_misses_it_passes() -> None:
    policy = with_statement(Action=[WEB_IDENTITY_ACTION, "sts:Tag*"])
    assert trust_found(policy, web_identity_trust_exact) == []


def test_not_action_in_a_web_identity_trust_is_refused() -> None:
    policy = with_statement(Action=None, NotAction=["sts:AssumeRole"])
    assert trust_found(policy, web_identity_trust_exact) == [
        f"assumeRolePolicy.Statement[0].NotAction: allows every action it does not list, {WEB_IDENTITY_ACTION} included; "
        f"accepted Action: {WEB_IDENTITY_ACTION}"
    ]


def test_not_action_that_excludes_web_identity_and_a_deny_pass() -> None:
    excluding = with_statement(Action=None, NotAction=[WEB_IDENTITY_ACTION])
    deny = {"Effect": "Deny", "Principal": "*", "NotAction": "sts:AssumeRoleWithWebIdentity"}
    denying = irsa_trust()
    denying["Statement"].append(deny)
    assert trust_found(excluding, web_identity_trust_exact) == []
    assert trust_found(denying, web_identity_trust_exact) == []


def test_not_principal_in_a_web_identity_trust_is_refused() -> None:
    policy = with_statement(Principal=None, NotPrincipal={"AWS": f"arn:aws:iam::{FAKE_ACCOUNT}:root"})
    assert trust_found(policy, web_identity_trust_exact) == [
        "assumeRolePolicy.Statement[0].NotPrincipal: trusts every principal it does not list; "
        "accepted Principal.Federated naming the one identity provider"
    ]
