"""The sandbox enforces the Pod Security `restricted` profile, and every pod the demo app declares passes it.

`restricted_violations` writes out the profile's checks (baseline's included) from the Kubernetes Pod
Security Standards page, https://kubernetes.io/docs/concepts/security/pod-security-standards/, one
function line per control, so a demo-app change that the API server would refuse fails here first.
Not covered: the Windows-only `hostProcess` semantics beyond "must not be true", AppArmor annotations
(the lab sets none), and what the real admission plugin does with a version newer than the server's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from components.chaos_mesh import CONTROL_PLANE_NAMESPACE
from components.fence import pod_security_labels
from pulumi_harness import Deployment, run_lab
from chaoslab.config.model import DEFAULT_KUBERNETES_VERSION, DEFAULT_SANDBOX_NAMESPACE

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NAMESPACE = "kubernetes:core/v1:Namespace"
# Restricted: "Volume Types".
RESTRICTED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
# Baseline: "Sysctls" (the safe set).
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost"})
# Restricted: "Capabilities" may only add this one.
ADDABLE_CAPABILITY = "NET_BIND_SERVICE"


def containers(pod: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in pod.get(field) or []:
            yield f"{field}[{container.get('name')}]", container


def restricted_violations(pod: Mapping[str, Any]) -> list[str]:
    """Every restricted-profile control the pod spec breaks, as "field: why"."""
    found: list[str] = []
    pod_context = pod.get("securityContext") or {}
    # Baseline: Host Namespaces, HostProcess, Host Ports, HostPath, Sysctls, SELinux, /proc Mount, Seccomp.
    found += [f"spec.{field}: host namespaces are forbidden" for field in ("hostNetwork", "hostPID", "hostIPC") if pod.get(field)]
    found += [f"spec.volumes[{volume.get('name')}]: {kind} volumes are not allowed"
              for volume in pod.get("volumes") or [] for kind in set(volume) - {"name"} if kind not in RESTRICTED_VOLUME_TYPES]
    found += [f"spec.securityContext.sysctls: {sysctl.get('name')} is not a safe sysctl"
              for sysctl in pod_context.get("sysctls") or [] if sysctl.get("name") not in SAFE_SYSCTLS]
    contexts = [("spec.securityContext", pod_context)] + [
        (f"spec.{where}.securityContext", container.get("securityContext") or {}) for where, container in containers(pod)
    ]
    for where, context in contexts:
        if (context.get("windowsOptions") or {}).get("hostProcess"):
            found.append(f"{where}.windowsOptions.hostProcess: forbidden")
        selinux = context.get("seLinuxOptions") or {}
        if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
            found.append(f"{where}.seLinuxOptions: only the container_* types, no user or role")
        if context.get("runAsUser") == 0:
            found.append(f"{where}.runAsUser: 0 (root) is forbidden")
        seccomp = (context.get("seccompProfile") or {}).get("type")
        if seccomp is not None and seccomp not in SECCOMP_TYPES:
            found.append(f"{where}.seccompProfile.type: {seccomp} is not RuntimeDefault or Localhost")
    # Per container: Privileged, Capabilities, Host Ports, /proc Mount, Privilege escalation, and the two
    # pod-or-every-container controls (Running as Non-root, Seccomp).
    for where, container in containers(pod):
        context = container.get("securityContext") or {}
        path = f"spec.{where}.securityContext"
        if context.get("privileged"):
            found.append(f"{path}.privileged: forbidden")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{path}.allowPrivilegeEscalation: must be false")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"{path}.capabilities.drop: must include ALL")
        found += [f"{path}.capabilities.add: {added} is not allowed" for added in capabilities.get("add") or [] if added != ADDABLE_CAPABILITY]
        if context.get("procMount", "Default") != "Default":
            found.append(f"{path}.procMount: must be Default")
        found += [f"spec.{where}.ports: hostPort {port['hostPort']} is forbidden" for port in container.get("ports") or [] if port.get("hostPort")]
        if not context.get("runAsNonRoot", pod_context.get("runAsNonRoot")):
            found.append(f"{path}.runAsNonRoot: must be true, here or on the pod")
        if (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get("type") not in SECCOMP_TYPES:
            found.append(f"{path}.seccompProfile: RuntimeDefault or Localhost, here or on the pod")
    return found


@pytest.fixture(scope="module")
def dev() -> Deployment:
    return run_lab("dev")


def test_the_sandbox_enforces_the_restricted_profile_pinned_to_the_labs_kubernetes(dev):
    sandbox = next(item for item in dev.of_type(NAMESPACE) if item.inputs["metadata"]["name"] == DEFAULT_SANDBOX_NAMESPACE)
    labels = sandbox.inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == f"v{DEFAULT_KUBERNETES_VERSION}"
    assert {key: value for key, value in labels.items() if key.startswith("pod-security.")} == pod_security_labels(DEFAULT_KUBERNETES_VERSION)


def test_the_pinned_version_follows_the_configured_kubernetes_version():
    deployment = run_lab("dev", {"kubernetesVersion": "1.34"})
    sandbox = next(item for item in deployment.of_type(NAMESPACE) if item.inputs["metadata"]["name"] == DEFAULT_SANDBOX_NAMESPACE)
    assert sandbox.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"] == "v1.34"


def test_only_the_sandbox_is_restricted_and_the_chaos_daemons_namespace_is_not(dev):
    restricted = [
        item.inputs["metadata"]["name"] for item in dev.of_type(NAMESPACE)
        if (item.inputs["metadata"].get("labels") or {}).get("pod-security.kubernetes.io/enforce") == "restricted"
    ]
    assert restricted == [DEFAULT_SANDBOX_NAMESPACE]
    assert CONTROL_PLANE_NAMESPACE not in restricted


@pytest.mark.parametrize("overrides", [{}, {"app": {"frontendReplicas": 1, "backendReplicas": 1}}], ids=["default", "one-replica"])
def test_every_demo_app_pod_passes_the_restricted_profile(overrides):
    deployment = run_lab("dev", overrides)
    pods = {item.name: item.inputs["spec"]["template"]["spec"] for item in deployment.of_type(DEPLOYMENT)}
    assert len(pods) == 3, sorted(pods)
    assert {name: restricted_violations(pod) for name, pod in pods.items()} == {name: [] for name in pods}


def test_the_checks_catch_the_pod_a_task_template_would_make():
    """A Workflow Task's pod as chaos-mesh/chaos-mesh pkg/workflow/task/pod.go would create it from a
    hostile template: every control it breaks is reported."""
    pod = {
        "hostPID": True,
        "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
        "containers": [
            {"name": "task", "image": "busybox", "securityContext": {"privileged": True, "runAsUser": 0, "capabilities": {"add": ["SYS_ADMIN"]}},
             "ports": [{"containerPort": 22, "hostPort": 22}]}
        ],
    }
    assert restricted_violations(pod) == [
        "spec.hostPID: host namespaces are forbidden",
        "spec.volumes[host]: hostPath volumes are not allowed",
        "spec.containers[task].securityContext.runAsUser: 0 (root) is forbidden",
        "spec.containers[task].securityContext.privileged: forbidden",
        "spec.containers[task].securityContext.allowPrivilegeEscalation: must be false",
        "spec.containers[task].securityContext.capabilities.drop: must include ALL",
        "spec.containers[task].securityContext.capabilities.add: SYS_ADMIN is not allowed",
        "spec.containers[task].ports: hostPort 22 is forbidden",
        "spec.containers[task].securityContext.runAsNonRoot: must be true, here or on the pod",
        "spec.containers[task].securityContext.seccompProfile: RuntimeDefault or Localhost, here or on the pod",
    ]
