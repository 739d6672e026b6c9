"""The sandbox fence, under Pulumi mocks: the sandbox namespace, the fence layers, the RBAC, and the
dashboard's way in (short-lived tokens by default, a long-lived one only on request, as a secret).

Mocks show what the program declares. They cannot show that the API server, the Chaos Mesh controller
or its webhook enforce it: that the namespace filter really skips unannotated namespaces, that the dashboard
in securityMode acts with these tokens' RBAC, that the token controller fills the long-lived Secret, or
what RBAC the Helm chart itself creates (a helm.v3.Release is opaque to mocks and to policy packs).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import pytest
import yaml

import k8s_schema
from chaoslab.config.model import DEFAULT_KUBERNETES_VERSION, DEFAULT_SANDBOX_NAMESPACE
from components import fence
from crd_schema import CHAOS_MESH_CRD_FILES, CHAOS_MESH_CRDS
from experiments_support import all_enabled
from pulumi_harness import Deployment, Registration, run_lab

NAMESPACE = "kubernetes:core/v1:Namespace"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
SECRET = "kubernetes:core/v1:Secret"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
ADMISSION_POLICY = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
ADMISSION_BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
RELEASE = "kubernetes:helm.sh/v3:Release"
FENCE_COMPONENT = "chaos-lab:fence:SandboxFence"

# These values are what the fence is, so they are written out here rather than imported.
SANDBOX_LABELS = {"purpose": "chaos-experiments", "environment": "sandbox"}
# Pod Security Admission (https://kubernetes.io/docs/concepts/security/pod-security-standards/): the
# restricted profile enforced, warned and audited, pinned to the lab's default Kubernetes minor.
POD_SECURITY_LABELS = {
    f"pod-security.kubernetes.io/{mode}{suffix}": value
    for mode in ("enforce", "warn", "audit")
    for suffix, value in (("", "restricted"), ("-version", f"v{DEFAULT_KUBERNETES_VERSION}"))
}
INJECT_ANNOTATION = {"chaos-mesh.org/inject": "enabled"}
READ = frozenset({"get", "list", "watch"})
MANAGE = READ | {"create", "delete", "patch", "update"}
SA_TOKEN_TYPE = "kubernetes.io/service-account-token"
# Built-in roles that would hand out far more than the sandbox.
POWERFUL_ROLES = frozenset({"cluster-admin", "admin", "edit"})
# Verbs that let a role holder grant itself more (RBAC escalation) or act as someone else.
ESCALATING_VERBS = frozenset({"escalate", "bind", "impersonate"})
GAME_DAY = "game-day"


# --- helpers -------------------------------------------------------------------------------------


def metadata(registration: Registration) -> dict[str, Any]:
    return registration.inputs.get("metadata") or {}


def k8s_name(registration: Registration) -> str:
    return metadata(registration).get("name", "")


def one_named(deployment: Deployment, type_token: str, name: str) -> Registration:
    matches = [item for item in deployment.of_type(type_token) if k8s_name(item) == name]
    assert len(matches) == 1, f"expected one {type_token} named {name!r}, found {[item.name for item in matches]}"
    return matches[0]


def fence_component(deployment: Deployment) -> Registration:
    return deployment.one(FENCE_COMPONENT)


def release_values(deployment: Deployment) -> dict[str, Any]:
    return deployment.one(RELEASE).inputs["values"]


def normalized(rules: Iterable[dict[str, Any]]) -> list[tuple[frozenset[str], frozenset[str], frozenset[str]]]:
    """Rules as (apiGroups, resources, verbs) sets, sorted, so order inside and between rules does not matter."""
    return sorted(
        (frozenset(rule.get("apiGroups", ())), frozenset(rule.get("resources", ())), frozenset(rule.get("verbs", ())))
        for rule in rules
    )


def rbac_roles(deployment: Deployment) -> list[Registration]:
    return deployment.of_type(ROLE) + deployment.of_type(CLUSTER_ROLE)


def bindings(deployment: Deployment) -> list[Registration]:
    return deployment.of_type(ROLE_BINDING) + deployment.of_type(CLUSTER_ROLE_BINDING)


def bound_role(deployment: Deployment, binding: Registration) -> Registration:
    """The declared Role or ClusterRole a binding's roleRef names (a Role only in the binding's namespace)."""
    ref = binding.inputs["roleRef"]
    assert ref["apiGroup"] == "rbac.authorization.k8s.io", f"{binding.name}: roleRef apiGroup {ref['apiGroup']!r}"
    if ref["kind"] == "Role":
        candidates = [
            role
            for role in deployment.of_type(ROLE)
            if k8s_name(role) == ref["name"] and metadata(role).get("namespace") == metadata(binding).get("namespace")
        ]
    else:
        assert ref["kind"] == "ClusterRole", f"{binding.name}: roleRef kind {ref['kind']!r}"
        candidates = [role for role in deployment.of_type(CLUSTER_ROLE) if k8s_name(role) == ref["name"]]
    assert len(candidates) == 1, f"{binding.name}: roleRef {ref} names no (or more than one) role the stack declares"
    return candidates[0]


def grants_chaos(rules: Iterable[dict[str, Any]]) -> bool:
    return any("chaos-mesh.org" in rule.get("apiGroups", ()) for rule in rules)


@functools.cache
def crd_plurals() -> frozenset[str]:
    """The resource names (plurals) of the Chaos Mesh CRDs the lab's experiments are validated against."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return frozenset(
        yaml.load((CHAOS_MESH_CRDS / file_name).read_text(encoding="utf-8"), Loader=loader)["spec"]["names"]["plural"]
        for file_name in CHAOS_MESH_CRD_FILES.values()
    )


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev() -> Deployment:
    return run_lab("dev")


@pytest.fixture(scope="module", params=[DEFAULT_SANDBOX_NAMESPACE, GAME_DAY])
def sandboxed(request: pytest.FixtureRequest) -> tuple[str, Deployment]:
    """(sandbox namespace, the dev stack declared with it): the default and a `sandboxNamespace` override."""
    sandbox = request.param
    overrides = {} if sandbox == DEFAULT_SANDBOX_NAMESPACE else {"sandboxNamespace": sandbox}
    return sandbox, run_lab("dev", overrides)


@pytest.fixture(scope="module")
def long_lived() -> Deployment:
    return run_lab("dev", {"chaosMesh.longLivedDashboardToken": True})


@pytest.fixture(scope="module")
def every_variant(sandboxed: tuple[str, Deployment], long_lived: Deployment) -> list[tuple[str, Deployment]]:
    """Every shape of the stack whose RBAC must stay fenced: the sandbox variants, the token opt-in,
    every experiment enabled, and the kind stack."""
    sandbox, deployment = sandboxed
    return [
        (sandbox, deployment),
        (DEFAULT_SANDBOX_NAMESPACE, long_lived),
        (DEFAULT_SANDBOX_NAMESPACE, run_lab("dev", {"experiments": all_enabled()})),
        (DEFAULT_SANDBOX_NAMESPACE, run_lab("kind")),
    ]


# --- the sandbox namespace -----------------------------------------------------------------------


def test_sandbox_namespace_carries_the_fence_labels_and_the_inject_annotation(sandboxed):
    sandbox, deployment = sandboxed
    namespace = one_named(deployment, NAMESPACE, sandbox)
    meta = metadata(namespace)
    assert meta.get("labels") == SANDBOX_LABELS | POD_SECURITY_LABELS, f"{namespace.name}: labels {meta.get('labels')}"
    # The namespace filter reads an ANNOTATION; a label of the same name would be silently ignored.
    assert meta.get("annotations") == INJECT_ANNOTATION, f"{namespace.name}: annotations {meta.get('annotations')}"
    assert not set(INJECT_ANNOTATION) & set(meta.get("labels", {})), f"{namespace.name}: inject key set as a label"
    assert namespace.parent == fence_component(deployment).urn, f"{namespace.name}: not a child of the fence"
    assert deployment.exports["sandboxNamespace"] == sandbox


# --- the three fence layers ----------------------------------------------------------------------


def test_fence_layer_1_chaos_mesh_runs_cluster_scoped_without_a_target_namespace(sandboxed):
    """The mode that works on 2.8.3 (components/chaos_mesh.py says why); targetNamespace would be ignored
    in it, so it is not set, rather than look like a fence it is not."""
    _, deployment = sandboxed
    values = release_values(deployment)
    assert values["clusterScoped"] is True, f"{deployment.one(RELEASE).name}: clusterScoped {values['clusterScoped']!r}"
    assert "targetNamespace" not in values["controllerManager"], (
        f"{deployment.one(RELEASE).name}: {values['controllerManager']}"
    )


def test_fence_layer_2_namespace_filter_is_on_and_only_the_sandbox_is_annotated(sandboxed):
    sandbox, deployment = sandboxed
    values = release_values(deployment)
    assert values["controllerManager"]["enableFilterNamespace"] is True, "the namespace filter is off"
    annotated = [
        k8s_name(namespace)
        for namespace in deployment.of_type(NAMESPACE)
        if set(INJECT_ANNOTATION) & set(metadata(namespace).get("annotations") or {})
    ]
    assert annotated == [sandbox], f"namespaces carrying the inject annotation: {annotated}"
    labelled = [
        k8s_name(namespace)
        for namespace in deployment.of_type(NAMESPACE)
        if set(INJECT_ANNOTATION) & set(metadata(namespace).get("labels") or {})
    ]
    assert labelled == [], f"namespaces with the inject key as a label (ignored by the filter): {labelled}"


def test_fence_layer_3_chaos_manager_can_manage_chaos_only_through_a_role_in_the_sandbox(sandboxed):
    sandbox, deployment = sandboxed
    manager_bindings = [
        binding
        for binding in bindings(deployment)
        if any(subject["name"] == fence.MANAGER_ACCOUNT for subject in binding.inputs["subjects"])
    ]
    role_bindings = [binding for binding in manager_bindings if binding.type == ROLE_BINDING]
    assert len(role_bindings) == 1, f"chaos-manager RoleBindings: {[binding.name for binding in role_bindings]}"
    binding = role_bindings[0]
    assert metadata(binding)["namespace"] == sandbox, f"{binding.name}: in {metadata(binding)['namespace']!r}"
    role = bound_role(deployment, binding)
    assert role.type == ROLE and metadata(role)["namespace"] == sandbox, f"{binding.name}: bound to {role.name}"
    assert grants_chaos(role.inputs["rules"]), f"{role.name}: grants no chaos-mesh.org access"
    # Whatever chaos-manager holds cluster-wide must not include any chaos object.
    for cluster_binding in (item for item in manager_bindings if item.type == CLUSTER_ROLE_BINDING):
        cluster_role = bound_role(deployment, cluster_binding)
        assert not grants_chaos(cluster_role.inputs["rules"]), (
            f"{cluster_binding.name}: cluster-wide chaos access via {cluster_role.name}"
        )


# --- the RBAC rules ------------------------------------------------------------------------------


def test_chaos_manager_role_rules_are_exactly_manage_chaos_and_read_pods_and_namespaces(sandboxed):
    sandbox, deployment = sandboxed
    role = one_named(deployment, ROLE, fence.MANAGER_ACCOUNT)
    assert metadata(role)["namespace"] == sandbox, f"{role.name}: namespace {metadata(role)['namespace']!r}"
    assert normalized(role.inputs["rules"]) == normalized(
        [
            {"apiGroups": ["chaos-mesh.org"], "resources": list(fence.CHAOS_RESOURCES), "verbs": list(MANAGE)},
            {
                "apiGroups": ["chaos-mesh.org"],
                "resources": list(fence.VISIBLE_ONLY_CHAOS_RESOURCES),
                "verbs": list(READ),
            },
            {"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": list(READ)},
        ]
    ), f"{role.name}: rules {role.inputs['rules']}"


def test_chaos_manager_creates_only_the_allowed_kinds_and_sees_the_rest():
    """RBAC is a second layer behind the admission policy for kinds off the allow-list: chaos-manager
    cannot create them at all, nor the kinds only the controller makes."""
    assert set(fence.CHAOS_RESOURCES) == {
        "podchaos",
        "networkchaos",
        "stresschaos",
        "httpchaos",
        "schedules",
        "workflows",
        "statuschecks",
    }
    assert {"kernelchaos", "iochaos", "awschaos", "physicalmachinechaos", "workflownodes", "podnetworkchaos"} <= set(
        fence.VISIBLE_ONLY_CHAOS_RESOURCES
    )
    assert not set(fence.CHAOS_RESOURCES) & set(fence.VISIBLE_ONLY_CHAOS_RESOURCES)


def test_chaos_manager_role_names_every_chaos_kind_the_lab_uses():
    """The Role names chaos resources one by one (no `*`), so it must keep up with the CRDs the
    experiments use; and every experiment the lab declares lives where that Role applies."""
    missing = crd_plurals() - set(fence.CHAOS_RESOURCES)
    assert not missing, f"chaos-manager cannot manage {sorted(missing)}"
    deployment = run_lab("dev", {"experiments": all_enabled()})
    experiments = [item for item in deployment.registrations if k8s_schema.is_chaos_mesh_resource(item.type)]
    assert experiments, "enabling every experiment declared no chaos object"
    outside = {
        item.name: metadata(item).get("namespace")
        for item in experiments
        if metadata(item).get("namespace") != DEFAULT_SANDBOX_NAMESPACE
    }
    assert not outside, f"experiments outside the sandbox, where chaos-manager has no rights: {outside}"


def test_chaos_viewer_role_is_read_only_over_what_the_manager_sees(sandboxed):
    sandbox, deployment = sandboxed
    viewer = one_named(deployment, ROLE, fence.VIEWER_ACCOUNT)
    manager = one_named(deployment, ROLE, fence.MANAGER_ACCOUNT)
    assert metadata(viewer)["namespace"] == sandbox, f"{viewer.name}: namespace {metadata(viewer)['namespace']!r}"
    for rule in viewer.inputs["rules"]:
        assert set(rule["verbs"]) <= READ, (
            f"{viewer.name}: writes {sorted(set(rule['verbs']) - READ)} on {rule['resources']}"
        )

    def seen(role):
        return {
            (group, resource)
            for rule in role.inputs["rules"]
            for group in rule["apiGroups"]
            for resource in rule["resources"]
        }

    assert seen(viewer) == seen(manager), f"{viewer.name}: sees {sorted(seen(viewer) ^ seen(manager))} differently"


def test_cluster_wide_rules_only_read_namespaces(sandboxed):
    _, deployment = sandboxed
    cluster_roles = deployment.of_type(CLUSTER_ROLE)
    assert cluster_roles, "no ClusterRole: the dashboard's namespace picker has nothing to list namespaces with"
    for role in cluster_roles:
        assert normalized(role.inputs["rules"]) == normalized(
            [{"apiGroups": [""], "resources": ["namespaces"], "verbs": list(READ)}]
        ), f"{role.name}: cluster-wide rules {role.inputs['rules']}"


def test_no_declared_rule_has_a_wildcard_secrets_or_an_escalating_verb(every_variant):
    for _, deployment in every_variant:
        roles = rbac_roles(deployment)
        assert roles, "no RBAC declared at all"
        for role in roles:
            for rule in role.inputs["rules"]:
                where = f"{role.name} ({role.type.rsplit(':', 1)[-1]}) rule {rule}"
                assert "*" not in rule.get("verbs", ()), f"{where}: wildcard verb"
                assert "*" not in rule.get("resources", ()), f"{where}: wildcard resource"
                assert "*" not in rule.get("apiGroups", ()), f"{where}: wildcard API group"
                assert not any(resource.split("/")[0] == "secrets" for resource in rule.get("resources", ())), (
                    f"{where}: secrets"
                )
                assert not ESCALATING_VERBS & set(rule.get("verbs", ())), f"{where}: escalating verb"
                assert not rule.get("nonResourceURLs"), f"{where}: non-resource URLs"


def test_no_binding_refers_to_a_built_in_powerful_role(every_variant):
    for _, deployment in every_variant:
        for binding in bindings(deployment):
            name = binding.inputs["roleRef"]["name"]
            assert name not in POWERFUL_ROLES and not name.startswith("system:"), f"{binding.name}: bound to {name!r}"
            bound_role(deployment, binding)  # and only to a role the stack itself declares


def test_binding_subjects_are_only_the_two_sandbox_service_accounts(every_variant):
    for sandbox, deployment in every_variant:
        for binding in bindings(deployment):
            for subject in binding.inputs["subjects"]:
                assert (subject["kind"], subject.get("namespace"), subject["name"]) in {
                    ("ServiceAccount", sandbox, fence.MANAGER_ACCOUNT),
                    ("ServiceAccount", sandbox, fence.VIEWER_ACCOUNT),
                }, f"{binding.name}: subject {subject}"


def test_the_two_service_accounts_live_in_the_sandbox_and_mount_no_token(sandboxed):
    sandbox, deployment = sandboxed
    # The in-cluster prober's account lives in its own namespace (tests/test_steady_state_stack.py).
    accounts = {
        (metadata(item).get("namespace"), k8s_name(item)): item
        for item in deployment.of_type(SERVICE_ACCOUNT)
        if "chaos-lab:steady_state:SteadyState" not in item.urn
    }
    assert set(accounts) == {(sandbox, fence.MANAGER_ACCOUNT), (sandbox, fence.VIEWER_ACCOUNT)}, sorted(accounts)
    for account in accounts.values():
        assert account.inputs.get("automountServiceAccountToken") is False, f"{account.name}: token automounted"


# --- the dashboard's way in ----------------------------------------------------------------------


def test_dashboard_access_outputs_are_the_commands_to_use(sandboxed):
    sandbox, deployment = sandboxed
    exports = deployment.exports
    assert exports["dashboardPortForwardCommand"] == "kubectl -n chaos-mesh port-forward svc/chaos-dashboard 2333:2333"
    assert f"kubectl -n {sandbox} create token chaos-manager --duration=2h" in exports["dashboardTokenCommand"]
    assert f"kubectl -n {sandbox} create token chaos-viewer --duration=2h" in exports["viewerTokenCommand"]


def test_no_long_lived_token_by_default(sandboxed):
    _, deployment = sandboxed
    tokens = [item.name for item in deployment.of_type(SECRET) if item.inputs.get("type") == SA_TOKEN_TYPE]
    assert tokens == [], f"service-account-token Secrets declared by default: {tokens}"
    assert "dashboardLongLivedToken" not in deployment.exports


def test_long_lived_token_on_request_is_a_secret_output(long_lived):
    tokens = [item for item in long_lived.of_type(SECRET) if item.inputs.get("type") == SA_TOKEN_TYPE]
    assert len(tokens) == 1, f"service-account-token Secrets: {[item.name for item in tokens]}"
    secret = tokens[0]
    assert metadata(secret)["namespace"] == DEFAULT_SANDBOX_NAMESPACE, (
        f"{secret.name}: in {metadata(secret)['namespace']!r}"
    )
    assert metadata(secret)["annotations"] == {"kubernetes.io/service-account.name": fence.MANAGER_ACCOUNT}, (
        f"{secret.name}: annotations {metadata(secret)['annotations']}"
    )
    assert secret.parent == fence_component(long_lived).urn, f"{secret.name}: not a child of the fence"
    assert "dashboardLongLivedToken" in long_lived.exports
    assert "dashboardLongLivedToken" in long_lived.secret_exports, "the never-expiring token is exported in clear"


def test_long_lived_token_secret_is_created_after_its_service_account(long_lived):
    """The token controller deletes a service-account-token Secret whose ServiceAccount does not exist
    yet (kubernetes/kubernetes#111556): the Secret must depend on the chaos-manager ServiceAccount."""
    secret = next(item for item in long_lived.of_type(SECRET) if item.inputs.get("type") == SA_TOKEN_TYPE)
    account = one_named(long_lived, SERVICE_ACCOUNT, fence.MANAGER_ACCOUNT)
    assert account.urn in secret.dependencies, (
        f"{secret.name} does not depend on {account.name}; it depends only on "
        f"{[urn.rsplit('::', 1)[-1] for urn in secret.dependencies]}"
    )


# --- the Kubernetes schema -----------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["default", "longLivedDashboardToken"])
def test_fence_manifests_pass_the_kubernetes_schema(variant, dev, long_lived):
    deployment = dev if variant == "default" else long_lived
    fence_urn = fence_component(deployment).urn
    children = [item for item in deployment.registrations if item.parent == fence_urn]
    checked, errors = k8s_schema.check_registrations(children)
    assert errors == []
    expected = {
        NAMESPACE,
        SERVICE_ACCOUNT,
        ROLE,
        CLUSTER_ROLE,
        ROLE_BINDING,
        CLUSTER_ROLE_BINDING,
        ADMISSION_POLICY,
        ADMISSION_BINDING,
    }
    assert set(checked) == (expected | {SECRET} if variant != "default" else expected), sorted(set(checked))
