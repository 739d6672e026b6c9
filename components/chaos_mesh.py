"""Chaos Mesh from its Helm chart, pinned, in the mode that really injects on 2.8.3, fenced to the sandbox.

The mode is the upstream-recommended fence (chaos-mesh/chaos-mesh#1953): `clusterScoped: true`, the
namespace filter on (`controllerManager.enableFilterNamespace`), and the annotation
`chaos-mesh.org/inject=enabled` on the sandbox only. The namespace-scoped mode (`clusterScoped: false` +
`targetNamespace`) does not work on 2.8.3, read from chaos-mesh/chaos-mesh at tag v2.8.3:
- the `remotecluster` controller, started by the default `enabledControllers: ["*"]`, watches
  RemoteCluster (controllers/multicluster/remotecluster/fx.go), a cluster-scoped kind
  (api/v1alpha1/remote_cluster_types.go), while that mode binds the chaos-mesh.org rules only through a
  RoleBinding (helm/chaos-mesh/templates/controller-manager-rbac.yaml): the list is forbidden and the
  manager's cache never syncs (fixed after 2.8.3 by chaos-mesh#4417);
- with the filter on, the pod selector GETs each selected Namespace (pkg/selector/pod/selector.go,
  pkg/selector/generic/namespace/selector.go `IsAllowedNamespaces`), which the chart grants only
  `{{- if .Values.clusterScoped }}`: every experiment is accepted and selects nothing.

Cluster-scoped, the controller may act in any namespace, so the fence does not rest on it: the filter
skips every namespace without the annotation, and the API server itself enforces the sandbox's Pod
Security profile and the admission policy on every chaos object (fence.py). Experiment objects live in
the sandbox, with every selector pinned to it. tests/test_chaos_mesh_rbac.py reads the vendored chart to
show the controller holds, in this mode, every grant the lab relies on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from chaoslab.config.model import CHAOS_MESH_NAMESPACE

CONTROL_PLANE_NAMESPACE = CHAOS_MESH_NAMESPACE
RELEASE_NAME = "chaos-mesh"
CHART = "chaos-mesh"
CHART_REPOSITORY = "https://charts.chaos-mesh.org"
# The chart's default `controllerManager.serviceAccount`; the admission policy lets only this sender
# create the kinds the controller makes for itself.
CONTROLLER_SERVICE_ACCOUNT = "chaos-controller-manager"
CONTROLLER_USER = f"system:serviceaccount:{CONTROL_PLANE_NAMESPACE}:{CONTROLLER_SERVICE_ACCOUNT}"
# chaos-daemon runs privileged with host paths (it enters the pods' namespaces), so its namespace is
# labelled `privileged` on purpose: a cluster-wide default profile must not stop it, and the restricted
# profile belongs on the sandbox, not here.
CONTROL_PLANE_POD_SECURITY = {"pod-security.kubernetes.io/enforce": "privileged"}
DASHBOARD_SERVICE = "chaos-dashboard"
DASHBOARD_PORT = 2333
# Long enough for image pulls on fresh spot nodes; `atomic` rolls a failed install back rather than
# leaving a half-installed controller whose webhooks reject every pod change.
INSTALL_TIMEOUT_S = 600
# Requests sized so the control plane plus the demo app fit three t3.medium nodes (2 vCPU, 4 GiB each).
CONTROLLER_RESOURCES = {"requests": {"cpu": "25m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}
DAEMON_RESOURCES = {"requests": {"cpu": "25m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}
DASHBOARD_RESOURCES = {"requests": {"cpu": "25m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}


@dataclass
class ChaosMeshArgs:
    chart_version: str
    runtime: str
    socket_path: str
    controller_replicas: int
    # Installed after these: the fence layers the API server enforces (the labelled sandbox, the admission
    # policy and its binding) and the chaos-mesh.org CRDs, which the stack applies itself
    # (chaos_mesh_crds.py) after that policy, so no chaos object can be created before the policy judging it exists.
    depends_on: Sequence[pulumi.Resource]


def chart_values(args: ChaosMeshArgs) -> dict[str, Any]:
    """The chart values; every one changes a chart default that is wrong for a fenced lab.

    `enabledControllers`/`enabledWebhooks` stay at the chart's `["*"]`: narrowing them is not safe on
    2.8.3, whose controllers/common/fx.go and controllers/multicluster/remotechaos/fx.go `return nil` at
    the first controller of a list that is not enabled, silently skipping every later one. The kinds off
    the lab's allow-list are refused at admission instead (fence.py).
    """
    return {
        "clusterScoped": True,
        "controllerManager": {
            "replicaCount": args.controller_replicas,
            "enableFilterNamespace": True,
            "resources": CONTROLLER_RESOURCES,
        },
        "chaosDaemon": {"runtime": args.runtime, "socketPath": args.socket_path, "resources": DAEMON_RESOURCES},
        # securityMode makes the dashboard act with the caller's token, so RBAC bounds what it can do.
        # ClusterIP: the chart's NodePort would publish it on every node.
        "dashboard": {"securityMode": True, "service": {"type": "ClusterIP"}, "resources": DASHBOARD_RESOURCES},
        "enableProfiling": False,
        # DNSChaos is not part of the lab; its server would be one more privileged pod to run.
        "dnsServer": {"create": False},
    }


class ChaosMesh(pulumi.ComponentResource):
    # Experiment objects depend on this: destroying the controller first leaves their finalizers unserved.
    release: k8s.helm.v3.Release
    dashboard_port_forward_command: pulumi.Output[str]

    def __init__(self, name: str, args: ChaosMeshArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chaos-lab:chaosmesh:ChaosMesh", name, None, opts)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CONTROL_PLANE_NAMESPACE, labels=CONTROL_PLANE_POD_SECURITY),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name=RELEASE_NAME,
            chart=CHART,
            version=args.chart_version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPOSITORY),
            namespace=namespace.metadata.name,
            values=chart_values(args),
            atomic=True,
            timeout=INSTALL_TIMEOUT_S,
            # The stack applies the CRDs (chaos_mesh_crds.py): Helm installs crds/ once and never upgrades them.
            skip_crds=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.dashboard_port_forward_command = pulumi.Output.format(
            "kubectl -n {0} port-forward svc/{1} {2}:{2}", namespace.metadata.name, DASHBOARD_SERVICE, DASHBOARD_PORT
        )
        self.register_outputs(
            {"release": self.release.id, "dashboard_port_forward_command": self.dashboard_port_forward_command}
        )
