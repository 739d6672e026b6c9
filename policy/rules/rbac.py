"""RBAC the stack declares: least privilege, and never cluster-admin for the chaos accounts.

Chaos Mesh's own roles come from its Helm release and are invisible to policies; these rules cover
the roles and bindings the lab declares itself, such as those of its dashboard accounts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from .props import items, mapping

RBAC_TYPE_PREFIX = "kubernetes:rbac.authorization.k8s.io/v1:"
ROLE_KINDS = frozenset({"Role", "ClusterRole"})
BINDING_KINDS = frozenset({"RoleBinding", "ClusterRoleBinding"})
# The dashboard accounts the lab hands out tokens for.
CHAOS_SERVICE_ACCOUNTS = frozenset({"chaos-manager", "chaos-viewer"})
CLUSTER_ADMIN = "cluster-admin"
# "" is the core API group (pods, secrets, ...); "*" includes it.
CORE_GROUPS = frozenset({"", "*"})


def _rbac_kind(resource_type: str) -> str | None:
    return resource_type.removeprefix(RBAC_TYPE_PREFIX) if resource_type.startswith(RBAC_TYPE_PREFIX) else None


def _rule_problems(index: int, rule: Mapping[str, Any]) -> Iterator[str]:
    resources = [str(resource) for resource in items(rule.get("resources"))]
    if "*" in items(rule.get("verbs")):
        yield f"rules[{index}].verbs: got '*'; accepted the verbs the role needs, listed one by one"
    if CORE_GROUPS.isdisjoint(items(rule.get("apiGroups"))):
        return
    if "*" in resources:
        yield f"rules[{index}].resources: got '*' in the core API group, which covers secrets and pods/exec; accepted the resources listed one by one"
    if any(resource == "secrets" or resource.startswith("secrets/") for resource in resources):
        yield f"rules[{index}].resources: got secrets; accepted none: a chaos account has no use for credentials"


def validate_rbac_least_privilege(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if _rbac_kind(args.resource_type) not in ROLE_KINDS:
        return
    for index, rule in enumerate(items(args.props.get("rules"))):
        for problem in _rule_problems(index, mapping(rule)):
            report_violation(problem, None)


rbac_least_privilege = ResourceValidationPolicy(
    name="rbac-least-privilege",
    description="No Role or ClusterRole grants wildcard verbs, wildcard resources in the core API group, or any access to secrets.",
    validate=validate_rbac_least_privilege,
    enforcement_level=EnforcementLevel.MANDATORY,
)


def validate_chaos_accounts_not_cluster_admin(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if _rbac_kind(args.resource_type) not in BINDING_KINDS:
        return
    role = mapping(args.props.get("roleRef"))
    if role.get("kind") != "ClusterRole" or role.get("name") != CLUSTER_ADMIN:
        return
    for index, subject in enumerate(map(mapping, items(args.props.get("subjects")))):
        if subject.get("kind") == "ServiceAccount" and subject.get("name") in CHAOS_SERVICE_ACCOUNTS:
            report_violation(
                f"subjects[{index}]: binds {subject.get('name')} to {CLUSTER_ADMIN}; accepted the lab's own namespaced manager or viewer Role",
                None,
            )


chaos_accounts_not_cluster_admin = ResourceValidationPolicy(
    name="chaos-accounts-not-cluster-admin",
    description=f"No binding gives the chaos service accounts ({', '.join(sorted(CHAOS_SERVICE_ACCOUNTS))}) the {CLUSTER_ADMIN} ClusterRole.",
    validate=validate_chaos_accounts_not_cluster_admin,
    enforcement_level=EnforcementLevel.MANDATORY,
)
