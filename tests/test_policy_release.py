"""chaos-mesh-release-fenced, called directly on a Helm release shaped like the lab's."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from policy.rules.chaos_mesh_release import RELEASE_TYPE, chaos_mesh_release_fenced
from policy_support import resource_args, violations

# The lab's release, as the program declares it (pulumi-kubernetes names the props in camelCase).
LAB_RELEASE: dict[str, Any] = {
    "chart": "chaos-mesh",
    "version": "2.8.3",
    "repositoryOpts": {"repo": "https://charts.chaos-mesh.org"},
    "namespace": "chaos-mesh",
    "values": {
        "clusterScoped": True,
        "controllerManager": {"enableFilterNamespace": True, "replicaCount": 1},
        "dashboard": {"securityMode": True, "service": {"type": "ClusterIP"}},
        "chaosDaemon": {"runtime": "containerd", "socketPath": "/run/containerd/containerd.sock"},
    },
}


def release(**values: Any) -> dict[str, Any]:
    """The lab's release with top-level `values` replaced; a None value drops the key."""
    props = copy.deepcopy(LAB_RELEASE)
    for key, value in values.items():
        if value is None:
            del props["values"][key]
        else:
            props["values"][key] = value
    return props


def found(props: dict[str, Any], **options: Any) -> list[str]:
    return violations(chaos_mesh_release_fenced, resource_args(RELEASE_TYPE, props, **options))


def test_the_lab_release_passes() -> None:
    assert found(LAB_RELEASE) == []


@pytest.mark.parametrize("chart", ["chaos-mesh/chaos-mesh", "oci://ghcr.io/chaos-mesh/charts/chaos-mesh"])
def test_every_way_of_naming_the_chart_is_checked(chart: str) -> None:
    assert len(found({**release(clusterScoped=False), "chart": chart})) == 1


def test_the_namespace_scoped_mode_that_selects_nothing_on_2_8_3_is_refused() -> None:
    assert found(release(clusterScoped=False)) == [
        "values.clusterScoped: got False; accepted true: the namespace-scoped mode of Chaos Mesh 2.8.3 cannot list "
        "RemoteClusters or read Namespaces, so its experiments select nothing; the fence is the namespace filter and "
        "the sandbox's admission policy instead"
    ]


def test_a_missing_scope_is_the_charts_cluster_scoped_default() -> None:
    assert found(release(clusterScoped=None)) == []


@pytest.mark.parametrize("manager", [{"enableFilterNamespace": False}, {}], ids=["off", "chart-default"])
def test_the_namespace_filter_must_be_on(manager: dict[str, bool]) -> None:
    assert found(release(controllerManager=manager)) == [
        f"values.controllerManager.enableFilterNamespace: got {manager.get('enableFilterNamespace')!r}; accepted true, "
        "so only namespaces annotated chaos-mesh.org/inject=enabled can be hit"
    ]


def test_security_mode_must_be_set_explicitly() -> None:
    assert found(release(dashboard={"service": {"type": "ClusterIP"}})) == [
        "values.dashboard.securityMode: got None; accepted true, set explicitly: "
        "without it the dashboard acts with its own broad service account for anyone who reaches it"
    ]


@pytest.mark.parametrize(
    "service", [{"type": "LoadBalancer"}, {"type": "NodePort"}, {}], ids=["LoadBalancer", "NodePort", "chart-default"]
)
def test_the_dashboard_stays_inside_the_cluster(service: dict[str, str]) -> None:
    problems = found(release(dashboard={"securityMode": True, "service": service}))
    assert len(problems) == 1 and problems[0].startswith("values.dashboard.service.type: got ")


def test_an_ingress_exposes_the_dashboard_too() -> None:
    dashboard = {"securityMode": True, "service": {"type": "ClusterIP"}, "ingress": {"enabled": True}}
    assert found(release(dashboard=dashboard)) == [
        "values.dashboard.ingress.enabled: got true; accepted false: an ingress exposes the dashboard as a LoadBalancer would"
    ]


def test_no_dashboard_needs_no_dashboard_settings() -> None:
    assert found(release(dashboard={"create": False})) == []


def test_other_charts_are_not_its_concern() -> None:
    assert found({"chart": "ingress-nginx", "values": {"controller": {"service": {"type": "LoadBalancer"}}}}) == []
