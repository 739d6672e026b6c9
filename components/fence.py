"""The sandbox namespace and the people-facing half of the safety fence: who may create chaos, and where.

Chaos Mesh itself is fenced by its chart values (see chaos_mesh.py); this component gives operators a
`chaos-manager` identity that can manage chaos objects in the sandbox and nowhere else, a read-only
`chaos-viewer`, and only the cluster-wide reads the dashboard needs to draw its namespace picker.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

MANAGER_ACCOUNT = "chaos-manager"
VIEWER_ACCOUNT = "chaos-viewer"
# The namespace filter (`controllerManager.enableFilterNamespace`) selects pods only in namespaces
# carrying this annotation; a label of the same name would not count.
INJECT_ANNOTATION = "chaos-mesh.org/inject"
SANDBOX_LABELS = {"purpose": "chaos-experiments", "environment": "sandbox"}
# Named rather than `*`, so a Chaos Mesh upgrade that adds a kind does not widen access unreviewed.
CHAOS_RESOURCES = (
    "podchaos",
    "networkchaos",
    "stresschaos",
    "iochaos",
    "timechaos",
    "dnschaos",
    "httpchaos",
    "kernelchaos",
    "jvmchaos",
    "schedules",
    "workflows",
    "workflownodes",
    "statuschecks",
)
READ_VERBS = ("get", "list", "watch")
MANAGE_VERBS = (*READ_VERBS, "create", "delete", "patch", "update")
# The dashboard's token-scoped "manager" rules, as Chaos Mesh generates them, with resources named.
MANAGER_RULES = (
    {"apiGroups": ["chaos-mesh.org"], "resources": list(CHAOS_RESOURCES), "verbs": list(MANAGE_VERBS)},
    {"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": list(READ_VERBS)},
)
VIEWER_RULES = (
    {"apiGroups": ["chaos-mesh.org"], "resources": list(CHAOS_RESOURCES), "verbs": list(READ_VERBS)},
    {"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": list(READ_VERBS)},
)
# Listing namespaces is cluster-scoped; the dashboard needs it for its namespace picker and nothing more.
DASHBOARD_CLUSTER_RULES = ({"apiGroups": [""], "resources": ["namespaces"], "verbs": list(READ_VERBS)},)
TOKEN_DURATION = "2h"


@dataclass
class SandboxFenceArgs:
    namespace: str
    # A service-account-token Secret never expires; off by default in favour of `kubectl create token`.
    long_lived_manager_token: bool = False


class SandboxFence(pulumi.ComponentResource):
    namespace: pulumi.Output[str]
    token_command: pulumi.Output[str]
    viewer_token_command: pulumi.Output[str]
    long_lived_token: pulumi.Output[str] | None

    def __init__(self, name: str, args: SandboxFenceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chaos-lab:fence:SandboxFence", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        sandbox = k8s.core.v1.Namespace(
            f"{name}-sandbox",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.namespace, labels=SANDBOX_LABELS, annotations={INJECT_ANNOTATION: "enabled"}
            ),
            opts=child,
        )
        namespace = sandbox.metadata.name
        cluster_reader = k8s.rbac.v1.ClusterRole(
            f"{name}-dashboard-cluster-reader",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"chaos-lab-{args.namespace}-dashboard-reader"),
            rules=list(DASHBOARD_CLUSTER_RULES),
            opts=child,
        )
        manager = self._account(name, MANAGER_ACCOUNT, MANAGER_RULES, namespace, cluster_reader)
        self._account(name, VIEWER_ACCOUNT, VIEWER_RULES, namespace, cluster_reader)

        self.long_lived_token = None
        if args.long_lived_manager_token:
            pulumi.log.warn(
                f"chaosMesh.longLivedDashboardToken is on: a {MANAGER_ACCOUNT} token that never expires is stored "
                "in the cluster and in the stack's outputs; prefer the short-lived token from tokenCommand",
                resource=self,
            )
            secret = k8s.core.v1.Secret(
                f"{name}-{MANAGER_ACCOUNT}-token",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"{MANAGER_ACCOUNT}-token",
                    namespace=namespace,
                    # Naming the account through its resource orders the Secret after it: Kubernetes deletes a
                    # token Secret whose service account does not exist yet.
                    annotations={"kubernetes.io/service-account.name": manager.metadata.name},
                ),
                type="kubernetes.io/service-account-token",
                opts=child,
            )
            # The token controller fills `data.token` after creation; it is base64 like all Secret data.
            self.long_lived_token = pulumi.Output.secret(
                secret.data.apply(lambda data: base64.b64decode((data or {}).get("token", "")).decode())
            )

        self.namespace = namespace
        self.token_command = self._token_command(namespace, MANAGER_ACCOUNT)
        self.viewer_token_command = self._token_command(namespace, VIEWER_ACCOUNT)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "token_command": self.token_command,
                "viewer_token_command": self.viewer_token_command,
                "long_lived_token": self.long_lived_token,
            }
        )

    def _account(
        self,
        name: str,
        account: str,
        rules: tuple[dict[str, list[str]], ...],
        namespace: pulumi.Output[str],
        cluster_reader: k8s.rbac.v1.ClusterRole,
    ) -> k8s.core.v1.ServiceAccount:
        child = pulumi.ResourceOptions(parent=self)
        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-{account}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=account, namespace=namespace),
            # Nothing runs as these accounts; they only carry the RBAC their tokens act with.
            automount_service_account_token=False,
            opts=child,
        )
        subject = k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=account, namespace=namespace)
        role = k8s.rbac.v1.Role(
            f"{name}-{account}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=account, namespace=namespace),
            rules=list(rules),
            opts=child,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-{account}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=account, namespace=namespace),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name=role.metadata.name),
            subjects=[subject],
            opts=child,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-{account}-dashboard-reader",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=pulumi.Output.concat("chaos-lab-", namespace, f"-{account}")),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=cluster_reader.metadata.name
            ),
            subjects=[subject],
            opts=child,
        )
        return service_account

    @staticmethod
    def _token_command(namespace: pulumi.Output[str], account: str) -> pulumi.Output[str]:
        return pulumi.Output.format(
            "kubectl -n {0} create token {1} --duration={2}", namespace, account, TOKEN_DURATION
        )
