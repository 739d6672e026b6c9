"""RBAC the stack declares: least privilege, no privilege-escalation path, and no broad bindings.

Chaos Mesh's own roles come from its Helm release and are invisible to policies; these rules cover
the roles and bindings the lab declares itself, such as those of its dashboard accounts.

The escalation paths are those of the Kubernetes "RBAC good practices" page
(https://kubernetes.io/docs/concepts/security/rbac-good-practices/#privilege-escalation-risks). A rule's
wildcards are read as the API server's RBAC authorizer reads them (kubernetes/kubernetes
pkg/apis/rbac/v1/evaluation_helpers.go: `*` in verbs, apiGroups and resources matches everything, `*/<sub>`
matches that subresource of every resource, and a non-resource URL ending in `*` is a prefix), so a path
granted through a wildcard is reported too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from .props import items, mapping

RBAC_TYPE_PREFIX = "kubernetes:rbac.authorization.k8s.io/v1:"
ROLE_KINDS = frozenset({"Role", "ClusterRole"})
BINDING_KINDS = frozenset({"RoleBinding", "ClusterRoleBinding"})
WILDCARD = "*"
# "" is the core API group (pods, secrets, ...); "*" includes it.
CORE_GROUPS = frozenset({"", WILDCARD})

# --- rbac-least-privilege -------------------------------------------------------------------------


def _rbac_kind(resource_type: str) -> str | None:
    return resource_type.removeprefix(RBAC_TYPE_PREFIX) if resource_type.startswith(RBAC_TYPE_PREFIX) else None


def _strings(rule: Mapping[str, Any], field: str) -> list[str]:
    return [str(value) for value in items(rule.get(field))]


def _quoted(values: list[str]) -> str:
    return ", ".join(repr(value) for value in values)


def _rule_problems(index: int, rule: Mapping[str, Any]) -> Iterator[str]:
    resources = _strings(rule, "resources")
    if WILDCARD in _strings(rule, "verbs"):
        yield f"rules[{index}].verbs: got '*'; accepted the verbs the role needs, listed one by one"
    if WILDCARD in _strings(rule, "apiGroups"):
        yield f"rules[{index}].apiGroups: got '*'; accepted the API groups the role needs, listed one by one"
    wildcard_resources = [
        resource for resource in resources if resource == WILDCARD or resource.startswith(f"{WILDCARD}/")
    ]
    if wildcard_resources:
        yield (
            f"rules[{index}].resources: got {_quoted(wildcard_resources)}, which also covers every kind installed later; "
            "accepted the resources listed one by one"
        )
    wildcard_urls = [url for url in _strings(rule, "nonResourceURLs") if url.endswith(WILDCARD)]
    if wildcard_urls:
        yield f"rules[{index}].nonResourceURLs: got {_quoted(wildcard_urls)}; accepted the URLs listed one by one"
    if CORE_GROUPS.isdisjoint(_strings(rule, "apiGroups")):
        return
    if any(resource == "secrets" or resource.startswith("secrets/") for resource in resources):
        yield f"rules[{index}].resources: got secrets; accepted none: a chaos account has no use for credentials"


def validate_rbac_least_privilege(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if _rbac_kind(args.resource_type) not in ROLE_KINDS:
        return
    if args.props.get("aggregationRule") is not None:
        report_violation(
            "aggregationRule: got one, so the role's rules are copied from other ClusterRoles at run time; "
            "accepted rules written in the role itself, where the pack can check them",
            None,
        )
    for index, rule in enumerate(items(args.props.get("rules"))):
        for problem in _rule_problems(index, mapping(rule)):
            report_violation(problem, None)


rbac_least_privilege = ResourceValidationPolicy(
    name="rbac-least-privilege",
    description="No Role or ClusterRole grants a wildcard verb, API group, resource or non-resource URL, takes its rules from an aggregation, or grants any access to secrets.",
    validate=validate_rbac_least_privilege,
    enforcement_level=EnforcementLevel.MANDATORY,
)

# --- rbac-no-escalation-paths ---------------------------------------------------------------------

WRITE_VERBS = frozenset({"create", "update", "patch"})
ADMISSION_WRITE_VERBS = WRITE_VERBS | {"delete", "deletecollection"}


@dataclass(frozen=True)
class EscalationPath:
    api_group: str
    # A resource or `resource/subresource`, as a PolicyRule names it.
    resource: str
    # The verbs that open the path; None when every verb does.
    verbs: frozenset[str] | None
    # What the grant lets its holder do, and the good-practices section that says so.
    risk: str

    @property
    def label(self) -> str:
        """`pods/exec`, or `deployments in apps` outside the core group."""
        return self.resource if not self.api_group else f"{self.resource} in {self.api_group}"


def _paths(
    api_group: str, resources: tuple[str, ...], verbs: frozenset[str] | None, risk: str
) -> tuple[EscalationPath, ...]:
    return tuple(EscalationPath(api_group, resource, verbs, risk) for resource in resources)


WORKLOAD_CREATION = "runs any image as any service account of the namespace, with its Secrets mounted (good practices: workload creation)"
ADMISSION_CONTROL = (
    "decides what the API server admits or rewrites: a webhook sees every object, and removing the lab's admission "
    "policy lifts the fence (good practices: control admission webhooks)"
)
# Chaos Mesh's Workflows are not listed, although a Task template makes its controller create a pod: RBAC cannot
# tell a Task from the other templates, so the lab's admission policy refuses Task templates and Pod Security
# Admission refuses privileged pods in the sandbox instead.
ESCALATION_PATHS: tuple[EscalationPath, ...] = (
    EscalationPath(
        "",
        "pods",
        WRITE_VERBS,
        f"create {WORKLOAD_CREATION}, and update or patch swaps a running container's image, which stays mutable",
    ),
    # kubectl exec and attach POST (create), but a websocket upgrade is a GET, and only from Kubernetes 1.35 does the
    # AuthorizePodWebsocketUpgradeCreatePermission gate also demand create (kubernetes/kubernetes#134577; get alone
    # sufficed before: kubernetes-client/python#2084), so every verb counts.
    *_paths(
        "", ("pods/exec", "pods/attach"), None, "runs commands inside the pod's containers as their service account"
    ),
    EscalationPath(
        "", "pods/ephemeralcontainers", frozenset({"update", "patch"}), "adds a container of any image to a running pod"
    ),
    EscalationPath("", "replicationcontrollers", WRITE_VERBS, WORKLOAD_CREATION),
    *_paths("apps", ("deployments", "replicasets", "statefulsets", "daemonsets"), WRITE_VERBS, WORKLOAD_CREATION),
    *_paths("batch", ("jobs", "cronjobs"), WRITE_VERBS, WORKLOAD_CREATION),
    EscalationPath(
        "",
        "serviceaccounts/token",
        frozenset({"create"}),
        "issues tokens for existing service accounts (good practices: token request)",
    ),
    EscalationPath(
        "",
        "nodes/proxy",
        None,
        "reaches the kubelet API, which runs commands in every pod on the node past audit and admission, "
        "get included (good practices: access to proxy subresource of nodes)",
    ),
    EscalationPath(
        "",
        "persistentvolumes",
        frozenset({"create"}),
        "mounts any hostPath of a node (good practices: persistent volume creation)",
    ),
    EscalationPath(
        "certificates.k8s.io",
        "certificatesigningrequests/approval",
        frozenset({"update", "patch"}),
        "approves client certificates for any name, system components included (good practices: CSRs and certificate issuing)",
    ),
    *_paths(
        "admissionregistration.k8s.io",
        (
            "validatingwebhookconfigurations",
            "mutatingwebhookconfigurations",
            "validatingadmissionpolicies",
            "validatingadmissionpolicybindings",
            "mutatingadmissionpolicies",
            "mutatingadmissionpolicybindings",
        ),
        ADMISSION_WRITE_VERBS,
        ADMISSION_CONTROL,
    ),
    EscalationPath(
        "",
        "namespaces",
        frozenset({"update", "patch"}),
        "relabels a namespace, its Pod Security level included (good practices: namespace modification)",
    ),
    *_paths(
        "rbac.authorization.k8s.io",
        ("roles", "clusterroles"),
        frozenset({"bind", "escalate"}),
        "bind grants roles and escalate writes rules beyond the holder's own rights, past RBAC's escalation check "
        "(good practices: escalate verb, bind verb)",
    ),
    *_paths(
        "",
        ("users", "groups", "serviceaccounts"),
        frozenset({"impersonate"}),
        "acts as another user, group or service account with all its rights (good practices: impersonate verb)",
    ),
)


def _resource_matches(rule_resources: list[str], resource: str) -> bool:
    subresource = resource.partition("/")[2]
    return any(
        granted in (WILDCARD, resource) or (subresource and granted == f"{WILDCARD}/{subresource}")
        for granted in rule_resources
    )


def _opening_verbs(rule_verbs: list[str], path: EscalationPath) -> list[str]:
    """The rule's verbs that open `path`: all of them if any verb does, else those in it and `*`."""
    if path.verbs is None:
        return rule_verbs
    return [verb for verb in rule_verbs if verb == WILDCARD or verb in path.verbs]


def _escalations(index: int, rule: Mapping[str, Any]) -> Iterator[str]:
    groups = _strings(rule, "apiGroups")
    resources = _strings(rule, "resources")
    verbs = _strings(rule, "verbs")
    for path in ESCALATION_PATHS:
        if not (WILDCARD in groups or path.api_group in groups) or not _resource_matches(resources, path.resource):
            continue
        opening = _opening_verbs(verbs, path)
        if opening:
            yield f"rules[{index}].verbs: {_quoted(opening)} on {path.label}: {path.risk}; accepted a role without this grant"


def validate_rbac_no_escalation_paths(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if _rbac_kind(args.resource_type) not in ROLE_KINDS:
        return
    for index, rule in enumerate(items(args.props.get("rules"))):
        for problem in _escalations(index, mapping(rule)):
            report_violation(problem, None)


rbac_no_escalation_paths = ResourceValidationPolicy(
    name="rbac-no-escalation-paths",
    description="No Role or ClusterRole grants a privilege-escalation path the Kubernetes RBAC good practices list, such as pod or workload creation, exec, service-account tokens, or the bind, escalate and impersonate verbs.",
    validate=validate_rbac_no_escalation_paths,
    enforcement_level=EnforcementLevel.MANDATORY,
)

# --- rbac-no-broad-bindings -----------------------------------------------------------------------

# The built-in user-facing ClusterRoles that reach Secrets and run pods as any service account of a namespace
# (https://kubernetes.io/docs/reference/access-authn-authz/rbac/#user-facing-roles).
PRIVILEGED_CLUSTER_ROLES = ("cluster-admin", "admin", "edit")
# Groups that hold every user, every anonymous request or every service account (same page, "Service Account
# Permissions"; the good-practices page's hardening advice on system:unauthenticated).
BROAD_GROUPS = ("system:authenticated", "system:unauthenticated", "system:serviceaccounts")
# `system:serviceaccounts:<namespace>` holds every service account of one namespace, including those created later.
NAMESPACE_SERVICE_ACCOUNTS_PREFIX = "system:serviceaccounts:"
ANONYMOUS_USER = "system:anonymous"


def _broad_subject(subject: Mapping[str, Any]) -> bool:
    name = str(subject.get("name"))
    if subject.get("kind") == "Group":
        return name in BROAD_GROUPS or name.startswith(NAMESPACE_SERVICE_ACCOUNTS_PREFIX)
    return subject.get("kind") == "User" and name == ANONYMOUS_USER


def validate_rbac_no_broad_bindings(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if _rbac_kind(args.resource_type) not in BINDING_KINDS:
        return
    role = mapping(args.props.get("roleRef"))
    if role.get("kind") == "ClusterRole" and role.get("name") in PRIVILEGED_CLUSTER_ROLES:
        report_violation(
            f"roleRef.name: got the built-in ClusterRole {role.get('name')!r}, which reads Secrets and runs pods as any "
            "service account; accepted a role of the lab's own that names what it grants",
            None,
        )
    for index, subject in enumerate(map(mapping, items(args.props.get("subjects")))):
        if _broad_subject(subject):
            report_violation(
                f"subjects[{index}].name: got {subject.get('kind')} {subject.get('name')!r}, which takes in every user or "
                "service account it covers, those added later included; accepted named users and service accounts",
                None,
            )


rbac_no_broad_bindings = ResourceValidationPolicy(
    name="rbac-no-broad-bindings",
    description=f"No RoleBinding or ClusterRoleBinding grants the built-in {', '.join(PRIVILEGED_CLUSTER_ROLES)} ClusterRoles or binds a group that holds every user or service account.",
    validate=validate_rbac_no_broad_bindings,
    enforcement_level=EnforcementLevel.MANDATORY,
)
