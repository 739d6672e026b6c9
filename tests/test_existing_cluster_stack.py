"""The kind stack: the same lab on a cluster you already have, with no AWS at all."""

from __future__ import annotations

import pytest

from pulumi_harness import Deployment, ProgramFailed, run_lab

KUBERNETES_COMPONENTS = {
    "chaos-lab:fence:SandboxFence",
    "chaos-lab:chaosmesh:ChaosMesh",
    "chaos-lab:demoapp:DemoApp",
    "chaos-lab:experiments:ChaosExperiments",
}


@pytest.fixture(scope="module")
def kind() -> Deployment:
    return run_lab("kind", {"experiments": {"basic-pod-kill": {"enabled": True}}})


def test_declares_no_aws_or_eks_resource(kind: Deployment):
    assert [
        item.type for item in kind.registrations if item.type.startswith(("aws:", "eks:", "pulumi:providers:aws"))
    ] == []


def test_provider_uses_the_ambient_kubeconfig(kind: Deployment):
    provider = kind.one("pulumi:providers:kubernetes")
    assert "kubeconfig" not in provider.inputs
    assert "context" not in provider.inputs
    pinned = run_lab("kind", {"kubeconfigContext": "kind-chaos"}).one("pulumi:providers:kubernetes")
    assert pinned.inputs["context"] == "kind-chaos"


def test_builds_the_same_lab_as_eks_above_the_cluster(kind: Deployment):
    dev = run_lab("dev", {"experiments": {"basic-pod-kill": {"enabled": True}}})

    def kubernetes_side(deployment: Deployment) -> list[tuple[str, str]]:
        # The in-cluster prober is on by default on EKS only (tests/test_steady_state_stack.py).
        return sorted(
            (item.type, item.name)
            for item in deployment.registrations
            if (item.type.startswith("kubernetes:") or item.type in KUBERNETES_COMPONENTS)
            and "chaos-lab:steady_state:SteadyState" not in item.urn
        )

    assert kubernetes_side(kind) == kubernetes_side(dev)
    assert kind.types() >= KUBERNETES_COMPONENTS


def test_outputs_say_there_is_no_aws_cost(kind: Deployment):
    assert kind.exports["estimatedHourlyCost"]["totalUsdPerHour"] == 0
    assert kind.exports["clusterName"] == "current kubeconfig context"
    assert "kubeconfig" not in kind.exports and "region" not in kind.exports


def test_k3s_socket_is_one_override_away():
    release = run_lab("kind", {"chaosMesh.socketPath": "/run/k3s/containerd/containerd.sock"}).one(
        "kubernetes:helm.sh/v3:Release"
    )
    assert release.inputs["values"]["chaosDaemon"]["socketPath"] == "/run/k3s/containerd/containerd.sock"


def test_bad_config_fails_before_any_resource():
    with pytest.raises(ProgramFailed) as raised:
        run_lab("kind", {"sandboxNamespace": "default", "nodes.capacityType": "CHEAP"})
    assert "chaos-lab:sandboxNamespace" in str(raised.value) and "chaos-lab:nodes.capacityType" in str(raised.value)
    assert raised.value.deployment.registrations == []
