"""The sandbox namespace and the fence layers the Kubernetes API server enforces by itself.

- Pod Security Admission holds the sandbox to the `restricted` profile, so no pod there, whoever makes it
  (a person, a Deployment, or the Chaos Mesh controller running a Workflow Task), is privileged, uses
  host namespaces or paths, runs as root or adds capabilities.
- A ValidatingAdmissionPolicy (experiments/admission.py) judges every chaos-mesh.org object, whoever
  sends it: allowed kinds only, selectors pinned to the sandbox, bounded durations, no Task templates,
  status checks of the sandbox's own Services, schedules no more than hourly.
- RBAC gives operators a `chaos-manager` identity that can create the allowed chaos kinds in the sandbox
  and nowhere else, a read-only `chaos-viewer`, and only the cluster-wide reads the dashboard needs to
  draw its namespace picker.

`admission` lists what must exist before the first chaos object may be created: the labelled
namespace, the policy and its binding. Chaos Mesh's own values (chaos_mesh.py) are the other layers.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from chaoslab.experiments import admission

MANAGER_ACCOUNT = "chaos-manager"
VIEWER_ACCOUNT = "chaos-viewer"
# The namespace filter (`controllerManager.enableFilterNamespace`) selects pods only in namespaces
# carrying this annotation; a label of the same name would not count.
INJECT_ANNOTATION = "chaos-mesh.org/inject"
SANDBOX_LABELS = {"purpose": "chaos-experiments", "environment": "sandbox"}
# Pod Security Admission's most locked-down profile (https://kubernetes.io/docs/concepts/security/pod-security-standards/),
# enforced, and also warned about and audited so a violation is visible wherever someone looks.
POD_SECURITY_PROFILE = "restricted"
POD_SECURITY_MODES = ("enforce", "warn", "audit")
POD_SECURITY_LABEL_PREFIX = "pod-security.kubernetes.io/"


def plural(kind: str) -> str:
    """The resource name of a chaos-mesh.org kind: `podchaos` for PodChaos, `schedules` for Schedule."""
    return kind.lower() if kind.endswith("Chaos") else f"{kind.lower()}s"


# Named rather than `*`, so a Chaos Mesh upgrade that adds a kind does not widen access unreviewed.
# Operators may create only the kinds the admission policy allows them...
CHAOS_RESOURCES = tuple(plural(kind) for kind in admission.USER_KINDS)
# ...and see, but never create, what the controller makes from them and the kinds off the allow-list, so
# the dashboard and `kubectl get` still show anything that got into the sandbox some other way.
VISIBLE_ONLY_CHAOS_RESOURCES = (
    *(plural(kind) for kind in admission.CONTROLLER_KINDS),
    *(plural(kind) for kind in admission.EMBED_KEYS if kind not in admission.FAULT_KINDS),
)
READ_VERBS = ("get", "list", "watch")
MANAGE_VERBS = (*READ_VERBS, "create", "delete", "patch", "update")
# The dashboard's token-scoped "manager" rules, as Chaos Mesh generates them, with resources named.


def policy_rule(api_group: str, resources: Sequence[str], verbs: Sequence[str]) -> k8s.rbac.v1.PolicyRuleArgs:
    return k8s.rbac.v1.PolicyRuleArgs(api_groups=[api_group], resources=list(resources), verbs=list(verbs))


MANAGER_RULES = (
    policy_rule(admission.CHAOS_GROUP, CHAOS_RESOURCES, MANAGE_VERBS),
    policy_rule(admission.CHAOS_GROUP, VISIBLE_ONLY_CHAOS_RESOURCES, READ_VERBS),
    policy_rule("", ["pods", "namespaces"], READ_VERBS),
)
VIEWER_RULES = (
    policy_rule(admission.CHAOS_GROUP, [*CHAOS_RESOURCES, *VISIBLE_ONLY_CHAOS_RESOURCES], READ_VERBS),
    policy_rule("", ["pods", "namespaces"], READ_VERBS),
)
# Listing namespaces is cluster-scoped; the dashboard needs it for its namespace picker and nothing more.
DASHBOARD_CLUSTER_RULES = (policy_rule("", ["namespaces"], READ_VERBS),)
TOKEN_DURATION = "2h"


@dataclass
class SandboxFenceArgs:
    namespace: str
    # chaos-lab:maxExperimentDuration in seconds: the longest any chaos object may run.
    max_experiment_duration_s: float
    # The Kubernetes minor the Pod Security profile is pinned to, e.g. "1.35": a cluster upgrade then
    # never tightens or loosens the profile unreviewed.
    pod_security_version: str
    # system:serviceaccount:<namespace>:<name> of the Chaos Mesh controller, the only sender allowed to
    # create the kinds it makes for itself.
    chaos_controller_user: str
    # A service-account-token Secret never expires; off by default in favour of `kubectl create token`.
    long_lived_manager_token: bool = False


def pod_security_labels(version: str) -> dict[str, str]:
    """The `restricted` profile in every mode, each pinned to `version` (e.g. "1.35")."""
    labels = {}
    for mode in POD_SECURITY_MODES:
        labels[f"{POD_SECURITY_LABEL_PREFIX}{mode}"] = POD_SECURITY_PROFILE
        labels[f"{POD_SECURITY_LABEL_PREFIX}{mode}-version"] = f"v{version}"
    return labels


class SandboxFence(pulumi.ComponentResource):
    # Created before any chaos object may be: the labelled sandbox, the admission policy and its binding.
    admission: list[pulumi.Resource]
    namespace: pulumi.Output[str]
    token_command: pulumi.Output[str]
    viewer_token_command: pulumi.Output[str]
    long_lived_token: pulumi.Output[str] | None

    def __init__(self, name: str, args: SandboxFenceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chaos-lab:fence:SandboxFence", name, None, opts)
        sandbox = self._sandbox(name, args)
        namespace = sandbox.metadata.name
        self.admission = [sandbox, *self._admission_policy(name, args)]
        cluster_reader = self._dashboard_cluster_reader(name, args)
        manager = self._account(name, MANAGER_ACCOUNT, MANAGER_RULES, namespace, cluster_reader)
        self._account(name, VIEWER_ACCOUNT, VIEWER_RULES, namespace, cluster_reader)
        self.long_lived_token = (
            self._long_lived_token(name, namespace, manager) if args.long_lived_manager_token else None
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

    def _sandbox(self, name: str, args: SandboxFenceArgs) -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            f"{name}-sandbox",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.namespace,
                labels={**SANDBOX_LABELS, **pod_security_labels(args.pod_security_version)},
                annotations={INJECT_ANNOTATION: "enabled"},
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _admission_policy(self, name: str, args: SandboxFenceArgs) -> list[pulumi.Resource]:
        """The policy and its binding; cluster-wide objects, so named after the sandbox they fence."""
        child = pulumi.ResourceOptions(parent=self)
        fence = admission.AdmissionFence(
            sandbox=args.namespace,
            max_duration_s=args.max_experiment_duration_s,
            controller_user=args.chaos_controller_user,
        )
        policy_name = f"chaos-lab-{args.namespace}-chaos-rules"
        manifest = admission.policy(policy_name, fence)
        policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{name}-chaos-rules", metadata=manifest["metadata"], spec=manifest["spec"], opts=child
        )
        bound = admission.binding(policy_name, policy_name)
        binding = k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{name}-chaos-rules",
            metadata=bound["metadata"],
            spec=bound["spec"],
            # The binding names the policy by name; created after it, it never points at nothing.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        return [policy, binding]

    def _dashboard_cluster_reader(self, name: str, args: SandboxFenceArgs) -> k8s.rbac.v1.ClusterRole:
        """The one cluster-wide read, bound to both accounts; cluster-wide, so named after the sandbox."""
        return k8s.rbac.v1.ClusterRole(
            f"{name}-dashboard-cluster-reader",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"chaos-lab-{args.namespace}-dashboard-reader"),
            rules=list(DASHBOARD_CLUSTER_RULES),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _account(
        self,
        name: str,
        account: str,
        rules: Sequence[k8s.rbac.v1.PolicyRuleArgs],
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
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name=role.metadata.name
            ),
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

    def _long_lived_token(
        self, name: str, namespace: pulumi.Output[str], manager: k8s.core.v1.ServiceAccount
    ) -> pulumi.Output[str]:
        """A `chaos-manager` token Secret, which never expires, and its token as a secret output."""
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
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The token controller fills `data.token` after creation; it is base64 like all Secret data.
        return pulumi.Output.secret(
            secret.data.apply(lambda data: base64.b64decode((data or {}).get("token", "")).decode())
        )

    @staticmethod
    def _token_command(namespace: pulumi.Output[str], account: str) -> pulumi.Output[str]:
        return pulumi.Output.format(
            "kubectl -n {0} create token {1} --duration={2}", namespace, account, TOKEN_DURATION
        )
