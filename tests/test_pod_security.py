"""The sandbox and the prober's namespace enforce the Pod Security `restricted` profile, and every pod the
lab declares there passes it.

The profile's checks are written out in tests/pod_security.py from the Kubernetes Pod Security Standards
page, so a pod change that the API server would refuse fails here first. Not covered: what the real
admission plugin does with a version newer than the server's.
"""

from __future__ import annotations

import pytest

from chaoslab.config.model import DEFAULT_KUBERNETES_VERSION, DEFAULT_SANDBOX_NAMESPACE
from components.chaos_mesh import CONTROL_PLANE_NAMESPACE
from components.fence import pod_security_labels
from components.steady_state import NAMESPACE as STEADY_STATE_NAMESPACE
from pod_security import restricted_violations
from pulumi_harness import Deployment, run_lab

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NAMESPACE = "kubernetes:core/v1:Namespace"


@pytest.fixture(scope="module")
def dev() -> Deployment:
    return run_lab("dev")


def test_the_sandbox_enforces_the_restricted_profile_pinned_to_the_labs_kubernetes(dev):
    sandbox = next(
        item for item in dev.of_type(NAMESPACE) if item.inputs["metadata"]["name"] == DEFAULT_SANDBOX_NAMESPACE
    )
    labels = sandbox.inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == f"v{DEFAULT_KUBERNETES_VERSION}"
    assert {key: value for key, value in labels.items() if key.startswith("pod-security.")} == pod_security_labels(
        DEFAULT_KUBERNETES_VERSION
    )


def test_the_pinned_version_follows_the_configured_kubernetes_version():
    deployment = run_lab("dev", {"kubernetesVersion": "1.34"})
    sandbox = next(
        item for item in deployment.of_type(NAMESPACE) if item.inputs["metadata"]["name"] == DEFAULT_SANDBOX_NAMESPACE
    )
    assert sandbox.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"] == "v1.34"


def test_the_sandbox_and_the_probers_namespace_are_restricted_and_the_chaos_daemons_is_not(dev):
    restricted = {
        item.inputs["metadata"]["name"]
        for item in dev.of_type(NAMESPACE)
        if (item.inputs["metadata"].get("labels") or {}).get("pod-security.kubernetes.io/enforce") == "restricted"
    }
    assert restricted == {DEFAULT_SANDBOX_NAMESPACE, STEADY_STATE_NAMESPACE}
    assert CONTROL_PLANE_NAMESPACE not in restricted


@pytest.mark.parametrize(
    "overrides", [{}, {"app": {"frontendReplicas": 1, "backendReplicas": 1}}], ids=["default", "one-replica"]
)
def test_every_pod_the_lab_declares_passes_the_restricted_profile(overrides):
    deployment = run_lab("dev", overrides)
    pods = {item.name: item.inputs["spec"]["template"]["spec"] for item in deployment.of_type(DEPLOYMENT)}
    assert len(pods) == 4, sorted(pods)  # the three tiers and the prober
    assert {name: restricted_violations(pod) for name, pod in pods.items()} == {name: [] for name in pods}


def test_the_checks_catch_the_pod_a_task_template_would_make():
    """A Workflow Task's pod as chaos-mesh/chaos-mesh pkg/workflow/task/pod.go would create it from a
    hostile template: every control it breaks is reported."""
    pod = {
        "hostPID": True,
        "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
        "containers": [
            {
                "name": "task",
                "image": "busybox",
                "securityContext": {"privileged": True, "runAsUser": 0, "capabilities": {"add": ["SYS_ADMIN"]}},
                "ports": [{"containerPort": 22, "hostPort": 22}],
            }
        ],
    }
    found = " | ".join(restricted_violations(pod))
    for control in (
        "hostPID",
        "hostPath",
        "privileged",
        "allowPrivilegeEscalation",
        "hostPort 22",
        "capabilities.drop",
        "SYS_ADMIN",
        "runAsUser: 0",
        "runAsNonRoot",
        "seccompProfile",
    ):
        assert control in found, f"{control} not reported: {found}"
