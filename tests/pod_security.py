"""The Pod Security Standards' `restricted` profile, as checks on a pod spec (camelCase, as in a manifest).

Written from https://kubernetes.io/docs/concepts/security/pod-security-standards/ (v1.35): every
Baseline control, then the Restricted ones. What admission would see, minus defaulting: a field the
spec leaves out is taken as unset, which is what the profile tests for.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

# Baseline "Capabilities": the only ones a container may add; Restricted narrows that to one.
RESTRICTED_ADDABLE_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
RESTRICTED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
ALLOWED_SECCOMP = frozenset({"RuntimeDefault", "Localhost"})
ALLOWED_APPARMOR = frozenset({"RuntimeDefault", "Localhost"})
ALLOWED_SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
NON_VOLUME_SOURCE_KEYS = frozenset({"name"})


def _containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            yield f"{field}[{container.get('name')}]", container


def restricted_violations(spec: Mapping[str, Any]) -> list[str]:
    """Every way `spec` breaks the restricted profile; [] when it is admitted."""
    found = [f"{key}: true" for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key)]
    pod = spec.get("securityContext") or {}
    if (pod.get("windowsOptions") or {}).get("hostProcess"):
        found.append("securityContext.windowsOptions.hostProcess: true")
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - NON_VOLUME_SOURCE_KEYS
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            found.append(f"volumes[{volume.get('name')}]: type {sorted(kinds - RESTRICTED_VOLUME_TYPES)}")
    found += [
        f"securityContext.sysctls: {sysctl.get('name')}"
        for sysctl in pod.get("sysctls") or []
        if sysctl.get("name") not in SAFE_SYSCTLS
    ]
    found += _identity_problems("securityContext", pod)
    pod_seccomp = (pod.get("seccompProfile") or {}).get("type")
    if pod_seccomp is not None and pod_seccomp not in ALLOWED_SECCOMP:
        found.append(f"securityContext.seccompProfile.type: {pod_seccomp}")
    for where, container in _containers(spec):
        security = container.get("securityContext") or {}
        if security.get("privileged"):
            found.append(f"{where}.securityContext.privileged: true")
        if (security.get("windowsOptions") or {}).get("hostProcess"):
            found.append(f"{where}.securityContext.windowsOptions.hostProcess: true")
        if security.get("allowPrivilegeEscalation") is not False:
            found.append(f"{where}.securityContext.allowPrivilegeEscalation: must be false")
        if security.get("procMount", "Default") != "Default":
            found.append(f"{where}.securityContext.procMount: {security['procMount']}")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                found.append(f"{where}.ports: hostPort {port['hostPort']}")
        capabilities = security.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"{where}.securityContext.capabilities.drop: must include ALL")
        added = set(capabilities.get("add") or []) - RESTRICTED_ADDABLE_CAPABILITIES
        if added:
            found.append(f"{where}.securityContext.capabilities.add: {sorted(added)}")
        found += _identity_problems(f"{where}.securityContext", security)
        if security.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True:
            found.append(f"{where}: runAsNonRoot must be true on the pod or the container")
        seccomp = (security.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ALLOWED_SECCOMP:
            found.append(
                f"{where}: seccompProfile.type must be RuntimeDefault or Localhost on the pod or the container, got {seccomp}"
            )
    return found


def _identity_problems(where: str, context: Mapping[str, Any]) -> list[str]:
    """Controls that read the same fields on the pod's and each container's security context."""
    found = []
    if context.get("runAsUser") == 0:
        found.append(f"{where}.runAsUser: 0")
    apparmor = (context.get("appArmorProfile") or {}).get("type")
    if apparmor is not None and apparmor not in ALLOWED_APPARMOR:
        found.append(f"{where}.appArmorProfile.type: {apparmor}")
    selinux = context.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in ALLOWED_SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
        found.append(f"{where}.seLinuxOptions: {dict(selinux)}")
    return found
