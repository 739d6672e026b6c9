"""Chaos Mesh from its Helm chart, pinned, and fenced by its own settings to the sandbox namespace.

Layout: the control plane runs in `chaos-mesh`; with `clusterScoped: false` and `targetNamespace` set to
the sandbox, the controller watches only the sandbox, holds RBAC only there, and rejects selectors that
point elsewhere. So experiment objects live in the sandbox (not in `chaos-mesh` as the write-up has it,
where its `targetNamespace` did nothing because `clusterScoped` was left true). On top, the namespace
filter only injects into namespaces annotated `chaos-mesh.org/inject=enabled`, which only the sandbox is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

CONTROL_PLANE_NAMESPACE = "chaos-mesh"
RELEASE_NAME = "chaos-mesh"
CHART = "chaos-mesh"
CHART_REPOSITORY = "https://charts.chaos-mesh.org"
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
    sandbox_namespace: pulumi.Input[str]


def chart_values(args: ChaosMeshArgs, sandbox_namespace: str) -> dict[str, Any]:
    """The chart values; every one changes a chart default that is wrong for a fenced lab."""
    return {
        "clusterScoped": False,
        "controllerManager": {
            "replicaCount": args.controller_replicas,
            "enableFilterNamespace": True,
            "targetNamespace": sandbox_namespace,
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
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CONTROL_PLANE_NAMESPACE),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name=RELEASE_NAME,
            chart=CHART,
            version=args.chart_version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPOSITORY),
            namespace=namespace.metadata.name,
            values=pulumi.Output.from_input(args.sandbox_namespace).apply(lambda sandbox: chart_values(args, sandbox)),
            atomic=True,
            timeout=INSTALL_TIMEOUT_S,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.dashboard_port_forward_command = pulumi.Output.format(
            "kubectl -n {0} port-forward svc/{1} {2}:{2}", namespace.metadata.name, DASHBOARD_SERVICE, DASHBOARD_PORT
        )
        self.register_outputs(
            {"release": self.release.id, "dashboard_port_forward_command": self.dashboard_port_forward_command}
        )
