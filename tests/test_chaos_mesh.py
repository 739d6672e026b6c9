"""Chaos Mesh as the lab declares it, under Pulumi mocks: the control-plane namespace, the pinned Helm
release and the values that fence and slim it, its config, the kind stack, and bad input.

What mocks cannot prove here: what the chart renders from these values (a helm.v3.Release
is one opaque resource to the engine, and Helm ignores value keys a chart does not read, so only a real
`helm template`/`pulumi preview` against chart 2.8.3 shows these keys take effect; test_chaos_mesh_rbac.py
reads the chart's RBAC template for them), that the controller then enforces the namespace filter, that
the webhook and the admission policy admit the experiments, that
the requests below are what the pods actually get, and the real outputs (URNs, IDs, the token Secret's
data, all invented by the mocks).
"""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

import k8s_schema
import stacks.lab
from chaoslab.config.aws_facts import FACTS_AS_OF
from chaoslab.config.model import (
    DEFAULT_CHAOS_MESH_VERSION,
    DEFAULT_CONTAINERD_SOCKET,
    DEFAULT_SANDBOX_NAMESPACE,
    ContainerRuntime,
    parse_config,
)
from chaoslab.experiments import CATALOG
from chaoslab.experiments.errors import ConfigError
from components import chaos_mesh
from pulumi_harness import Deployment, ProgramFailed, Registration, run_lab

NAMESPACE = "kubernetes:core/v1:Namespace"
RELEASE = "kubernetes:helm.sh/v3:Release"
ADMISSION_POLICY = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
ADMISSION_BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
CHAOS_MESH_COMPONENT = "chaos-lab:chaosmesh:ChaosMesh"
LAB_COMPONENTS = (
    "chaos-lab:fence:SandboxFence",
    CHAOS_MESH_COMPONENT,
    "chaos-lab:demoapp:DemoApp",
    "chaos-lab:experiments:ChaosExperiments",
)

# The chart, where it comes from (https://charts.chaos-mesh.org), and where it runs.
CHART = "chaos-mesh"
CHART_VERSION = "2.8.3"
CHART_REPOSITORY = "https://charts.chaos-mesh.org"
CONTROL_PLANE_NAMESPACE = "chaos-mesh"
K3S_CONTAINERD_SOCKET = "/run/k3s/containerd/containerd.sock"
CRIO_SOCKET = "/var/run/crio/crio.sock"

# A t3.medium: 2 vCPU, 4 GiB (AWS). What a node keeps back on EKS (the EKS AMI's bootstrap formulas):
# CPU 6% of the first core + 1% of the second = 70m; memory 255Mi + 11Mi per pod at the t3.medium's
# 17-pod limit (VPC CNI without prefix delegation) = 442Mi, plus the 100Mi hard-eviction threshold.
T3_MEDIUM_CPU_MILLICORES = 2000
T3_MEDIUM_MEMORY_MIB = 4096
EKS_RESERVED_CPU_MILLICORES = 60 + 10
EKS_RESERVED_MEMORY_MIB = 255 + 11 * 17 + 100
T3_MEDIUM_ALLOCATABLE = {
    "cpu": T3_MEDIUM_CPU_MILLICORES - EKS_RESERVED_CPU_MILLICORES,
    "memory": T3_MEDIUM_MEMORY_MIB - EKS_RESERVED_MEMORY_MIB,
}
# "Well under": the whole control plane on ONE node takes at most a quarter of it, leaving the rest
# of three nodes for the demo app and the system pods.
CONTROL_PLANE_SHARE_OF_ONE_NODE = 0.25

_QUANTITY = re.compile(r"^(?P<number>\d+(?:\.\d+)?)(?P<suffix>m|Ki|Mi|Gi|k|M|G)?$")
_TO_MILLICORES = {"m": 1, None: 1000}
_TO_MIB = {
    "Ki": 1 / 1024,
    "Mi": 1,
    "Gi": 1024,
    "k": 1000 / 2**20,
    "M": 10**6 / 2**20,
    "G": 10**9 / 2**20,
    None: 1 / 2**20,
}


def quantity(resource: str, text: str) -> float:
    """A Kubernetes quantity in millicores (cpu) or MiB (memory)."""
    match = _QUANTITY.fullmatch(str(text))
    assert match, f"{text!r} is not a quantity this test understands"
    scale = _TO_MILLICORES if resource == "cpu" else _TO_MIB
    return float(match["number"]) * scale[match["suffix"]]


# --- helpers -------------------------------------------------------------------------------------


def release(deployment: Deployment) -> Registration:
    return deployment.one(RELEASE)


def values(deployment: Deployment) -> dict[str, Any]:
    return release(deployment).inputs["values"]


def namespace_named(deployment: Deployment, name: str) -> Registration:
    matches = [item for item in deployment.of_type(NAMESPACE) if item.inputs["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one Namespace {name!r}, found {[item.name for item in matches]}"
    return matches[0]


def fence_layers(deployment: Deployment) -> list[Registration]:
    """The labelled sandbox, the admission policy and its binding."""
    return [
        namespace_named(deployment, DEFAULT_SANDBOX_NAMESPACE),
        deployment.one(ADMISSION_POLICY),
        deployment.one(ADMISSION_BINDING),
    ]


# A URN names its parents' types, so this finds the steady-state component and everything under it.
STEADY_STATE_COMPONENT = "chaos-lab:steady_state:SteadyState"


def kubernetes_resources(deployment: Deployment) -> dict[tuple[str, str], Registration]:
    return {(item.type, item.name): item for item in deployment.registrations if item.type.startswith("kubernetes:")}


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev() -> Deployment:
    return run_lab("dev")


@pytest.fixture(scope="module")
def kind() -> Deployment:
    return run_lab("kind")


# --- namespace and release -----------------------------------------------------------------------


def test_control_plane_namespace_is_declared_and_not_open_to_injection(dev):
    namespace = namespace_named(dev, CONTROL_PLANE_NAMESPACE)
    assert namespace.parent == dev.one(CHAOS_MESH_COMPONENT).urn, f"{namespace.name}: not a child of ChaosMesh"
    annotations = namespace.inputs["metadata"].get("annotations") or {}
    assert "chaos-mesh.org/inject" not in annotations, f"{namespace.name}: chaos may be injected into the control plane"
    # chaos-daemon runs privileged: the restricted profile would stop it, so this namespace says so explicitly.
    labels = namespace.inputs["metadata"].get("labels") or {}
    assert labels == {"pod-security.kubernetes.io/enforce": "privileged"}, f"{namespace.name}: labels {labels}"
    assert k8s_schema.check_registrations([namespace])[1] == []


def test_release_is_the_pinned_chart_from_the_official_repository_installed_atomically(dev):
    item = release(dev)
    inputs = item.inputs
    assert (inputs["chart"], inputs["version"]) == (CHART, CHART_VERSION), (
        f"{item.name}: {inputs['chart']} {inputs['version']}"
    )
    assert DEFAULT_CHAOS_MESH_VERSION == CHART_VERSION, "the config default is not the pinned chart version"
    assert inputs["repositoryOpts"]["repo"] == CHART_REPOSITORY, f"{item.name}: repository {inputs['repositoryOpts']}"
    assert inputs["namespace"] == CONTROL_PLANE_NAMESPACE, f"{item.name}: namespace {inputs['namespace']!r}"
    assert inputs["atomic"] is True, f"{item.name}: a failed install would be left half-done"
    assert inputs["timeout"] == chaos_mesh.INSTALL_TIMEOUT_S > 0, f"{item.name}: timeout {inputs.get('timeout')!r}"
    assert item.parent == dev.one(CHAOS_MESH_COMPONENT).urn, f"{item.name}: not a child of ChaosMesh"
    # Created into its namespace after that namespace exists, and after the fence layers the API server
    # enforces: the chart brings the chaos-mesh.org CRDs, so no chaos object can exist before its judge.
    assert namespace_named(dev, CONTROL_PLANE_NAMESPACE).urn in item.dependencies, (
        f"{item.name}: not after its namespace"
    )
    for fence_layer in fence_layers(dev):
        assert fence_layer.urn in item.dependencies, f"{item.name}: not after {fence_layer.name} ({fence_layer.type})"


@pytest.mark.parametrize("sandbox", [DEFAULT_SANDBOX_NAMESPACE, "game-day"])
def test_values_fence_the_controller_and_close_what_the_chart_opens(sandbox):
    deployment = run_lab("dev", {} if sandbox == DEFAULT_SANDBOX_NAMESPACE else {"sandboxNamespace": sandbox})
    chart = values(deployment)
    name = release(deployment).name
    # The mode that works on 2.8.3 (components/chaos_mesh.py); the sandbox is fenced by the filter and the
    # admission policy, so no value names it and targetNamespace (ignored in this mode) is left out.
    assert chart["clusterScoped"] is True, f"{name}: clusterScoped"
    assert "targetNamespace" not in chart["controllerManager"], f"{name}: targetNamespace"
    assert sandbox not in repr(chart), f"{name}: the values name the sandbox"
    assert chart["controllerManager"]["enableFilterNamespace"] is True, f"{name}: enableFilterNamespace"
    # Narrowing these is unsafe on 2.8.3 (controllers/common/fx.go stops at the first disabled controller).
    assert (
        "enabledControllers" not in chart["controllerManager"] and "enabledWebhooks" not in chart["controllerManager"]
    )
    assert chart["dashboard"]["securityMode"] is True, f"{name}: dashboard.securityMode"
    assert chart["dashboard"]["service"]["type"] == "ClusterIP", f"{name}: dashboard.service.type"
    assert chart["enableProfiling"] is False, f"{name}: enableProfiling"
    assert chart["dnsServer"]["create"] is False, f"{name}: dnsServer.create"


def test_daemon_runtime_defaults_to_containerd(dev):
    daemon = values(dev)["chaosDaemon"]
    assert (daemon["runtime"], daemon["socketPath"]) == ("containerd", "/run/containerd/containerd.sock"), daemon
    assert DEFAULT_CONTAINERD_SOCKET == "/run/containerd/containerd.sock"


@pytest.mark.parametrize(
    ("runtime", "socket"), [(ContainerRuntime.CONTAINERD, K3S_CONTAINERD_SOCKET), (ContainerRuntime.CRIO, CRIO_SOCKET)]
)
def test_daemon_runtime_and_socket_follow_config(runtime, socket):
    deployment = run_lab("dev", {"chaosMesh.runtime": runtime.value, "chaosMesh.socketPath": socket})
    daemon = values(deployment)["chaosDaemon"]
    assert (daemon["runtime"], daemon["socketPath"]) == (runtime.value, socket), f"{release(deployment).name}: {daemon}"


@pytest.mark.parametrize(("overrides", "replicas"), [({}, 1), ({"chaosMesh.controllerReplicas": 2}, 2)])
def test_controller_replicas_follow_config(overrides, replicas):
    deployment = run_lab("dev", overrides)
    assert values(deployment)["controllerManager"]["replicaCount"] == replicas, f"{release(deployment).name}"


def test_control_plane_requests_fit_well_inside_one_t3_medium(dev):
    chart = values(dev)
    parts = {
        # The controller's replicas, the dashboard, and the one chaos-daemon pod a node gets.
        "controllerManager": (chart["controllerManager"], chart["controllerManager"]["replicaCount"]),
        "dashboard": (chart["dashboard"], 1),
        "chaosDaemon": (chart["chaosDaemon"], 1),
    }
    declared = {key: part["resources"] for key, (part, _) in parts.items()}
    assert declared == {
        "controllerManager": chaos_mesh.CONTROLLER_RESOURCES,
        "dashboard": chaos_mesh.DASHBOARD_RESOURCES,
        "chaosDaemon": chaos_mesh.DAEMON_RESOURCES,
    }
    for key, resources in declared.items():
        assert set(resources["requests"]) == {"cpu", "memory"}, f"{key}: requests {resources['requests']}"
        assert "memory" in resources["limits"], f"{key}: no memory limit"
        assert quantity("memory", resources["limits"]["memory"]) >= quantity(
            "memory", resources["requests"]["memory"]
        ), key
    for resource, allocatable in T3_MEDIUM_ALLOCATABLE.items():
        total = sum(
            quantity(resource, part["resources"]["requests"][resource]) * count for part, count in parts.values()
        )
        assert total <= CONTROL_PLANE_SHARE_OF_ONE_NODE * allocatable, (
            f"control-plane {resource} requests {total:g} exceed {CONTROL_PLANE_SHARE_OF_ONE_NODE:.0%} of a "
            f"t3.medium's {allocatable}"
        )


# --- the kind stack ------------------------------------------------------------------------------


def test_kind_stack_declares_the_same_lab_with_no_aws_resource(dev, kind):
    cloud = sorted({item.type for item in kind.registrations if item.type.startswith(("aws:", "eks:"))})
    assert cloud == [], f"the kind stack declares cloud resources: {cloud}"
    for component in LAB_COMPONENTS:
        kind.one(component)
    # The in-cluster prober differs on purpose: on EKS by default and publishing to CloudWatch, on an
    # existing cluster off unless asked (tests/test_steady_state_stack.py covers both).
    on_dev = {key: item for key, item in kubernetes_resources(dev).items() if STEADY_STATE_COMPONENT not in item.urn}
    on_kind = kubernetes_resources(kind)
    assert sorted(on_kind) == sorted(on_dev)
    for key, item in on_kind.items():
        assert item.inputs == on_dev[key].inputs, f"{item.name} ({item.type}) differs between dev and kind"
        # URNs differ by stack name only, so parents are compared by their type and name.
        assert item.parent.split("::", 2)[-1] == on_dev[key].parent.split("::", 2)[-1], f"{item.name}: parent differs"
    existing = kind.one("pulumi:providers:kubernetes")
    stray = [item.name for item in on_kind.values() if not item.provider.startswith(f"{existing.urn}::")]
    assert stray == [], f"on kind, not deployed with the existing-cluster provider: {stray}"


# --- what experiments depend on ------------------------------------------------------------------


def test_experiments_depend_on_the_chaos_mesh_release(monkeypatch):
    """`Lab.chaos_mesh.release` is the Release, and an enabled experiment is created after it (and so
    deleted before it: the controller must still be there to serve the experiment's finalizer)."""
    labs: list[stacks.lab.Lab] = []
    release_urns: list[str] = []
    build_lab = stacks.lab.build_lab

    def recording_build_lab(*args: Any, **kwargs: Any) -> stacks.lab.Lab:
        lab = build_lab(*args, **kwargs)
        labs.append(lab)
        lab.chaos_mesh.release.urn.apply(release_urns.append)
        return lab

    monkeypatch.setattr(stacks.lab, "build_lab", recording_build_lab)
    deployment = run_lab("dev", {"experiments": {"basic-pod-kill": {"enabled": True}}})
    assert len(labs) == 1 and isinstance(labs[0].chaos_mesh.release, k8s.helm.v3.Release)
    assert release_urns == [release(deployment).urn]
    experiments = [item for item in deployment.registrations if k8s_schema.is_chaos_mesh_resource(item.type)]
    assert [item.name for item in experiments] == ["chaos-basic-pod-kill"]
    assert release(deployment).urn in experiments[0].dependencies, (
        f"{experiments[0].name} does not depend on the Chaos Mesh release: {experiments[0].dependencies}"
    )


@pytest.mark.parametrize("schedule", [None, "@hourly"])
def test_every_chaos_object_is_created_after_the_fence_layers_the_api_server_enforces(schedule):
    """Pod Security labels, the admission policy and its binding exist before any chaos object: each
    experiment depends on them directly, and the binding on the policy it names."""
    extra = {} if schedule is None else {"schedule": schedule}
    deployment = run_lab("dev", {"experiments": {name: {"enabled": True, **extra} for name in CATALOG}})
    experiments = [item for item in deployment.registrations if k8s_schema.is_chaos_mesh_resource(item.type)]
    assert len(experiments) == len(CATALOG)
    layers = fence_layers(deployment)
    for experiment in experiments:
        missing = [layer.name for layer in layers if layer.urn not in experiment.dependencies]
        assert missing == [], f"{experiment.name} may be created before {missing}"
    binding = deployment.one(ADMISSION_BINDING)
    assert deployment.one(ADMISSION_POLICY).urn in binding.dependencies, f"{binding.name}: not after its policy"
    assert binding.inputs["spec"]["policyName"] == deployment.one(ADMISSION_POLICY).inputs["metadata"]["name"]


# --- bad input -----------------------------------------------------------------------------------

BAD_CHAOS_MESH = {
    "version": "latest",
    "runtime": "podman",
    "socketPath": "run/containerd.sock",
    "controllerReplicas": 0,
}


def test_bad_chaos_mesh_config_is_reported_all_at_once_with_what_is_accepted():
    with pytest.raises(ConfigError) as raised:
        parse_config({"chaosMesh": BAD_CHAOS_MESH}, stack="dev", today=FACTS_AS_OF)
    problems = raised.value.problems
    by_key = {
        key: [problem for problem in problems if problem.startswith(f"chaos-lab:chaosMesh.{key}:")]
        for key in BAD_CHAOS_MESH
    }
    assert all(len(found) == 1 for found in by_key.values()) and len(problems) == len(BAD_CHAOS_MESH), problems
    version, runtime, socket, replicas = (by_key[key][0] for key in BAD_CHAOS_MESH)
    assert "'latest'" in version and re.search(r"\d+\.\d+\.\d+", version), version
    assert "'podman'" in runtime and all(member.value in runtime for member in ContainerRuntime), runtime
    assert "run/containerd.sock" in socket and "absolute path" in socket, socket
    bounds = re.search(r"from (\d+) to (\d+)", replicas)
    assert bounds and not int(bounds[1]) <= 0 <= int(bounds[2]) and int(bounds[1]) <= 1 <= int(bounds[2]), replicas


def test_bad_chaos_mesh_config_stops_the_program_before_any_resource():
    overrides = {f"chaosMesh.{key}": value for key, value in BAD_CHAOS_MESH.items()}
    with pytest.raises(ProgramFailed) as raised:
        run_lab("dev", overrides)
    # load_config turns the ConfigError into a RunError: Pulumi prints it plainly, without a traceback.
    assert isinstance(raised.value.cause, pulumi.RunError), repr(raised.value.cause)
    for key in BAD_CHAOS_MESH:
        assert f"chaos-lab:chaosMesh.{key}:" in str(raised.value.cause), str(raised.value.cause)
    declared = [item.name for item in raised.value.deployment.registrations]
    assert declared == [], f"declared before the config was checked: {declared}"


# --- every Kubernetes object the stack declares is schema-checked --------------------------------


def test_every_kubernetes_type_of_the_stack_is_schema_checked_or_knowingly_skipped():
    deployment = run_lab(
        "dev", {"chaosMesh.longLivedDashboardToken": True, "experiments": {"basic-pod-kill": {"enabled": True}}}
    )
    checked, errors = k8s_schema.check_registrations(deployment.registrations)  # raises on an unclassified type
    assert errors == []
    assert set(checked) == k8s_schema.SCHEMA_CHECKED_TYPES, sorted(k8s_schema.SCHEMA_CHECKED_TYPES - set(checked))


def test_schema_version_is_the_newest_shipped_not_above_1_35():
    from kubernetes_validate.utils import all_versions
    from packaging.version import Version

    chosen = Version(k8s_schema.schema_version())
    assert (chosen.major, chosen.minor) <= (1, 35)
    assert not [v for v in map(Version, all_versions()) if chosen < v and (v.major, v.minor) <= (1, 35)]
