"""The Chaos Mesh Helm release: the fence is its values, so they are checked here.

What the chart renders (its Deployments, its RBAC) lives inside the Release and is invisible to
policies; only the values that decide it can be checked. Where a chart default is unsafe, a missing
value counts as that default.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from .props import dig, mapping

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
CHART_NAME = "chaos-mesh"
# Chaos Mesh 2.8.3's default, kept when `dashboard.service.type` is left out.
CHART_DEFAULT_DASHBOARD_SERVICE_TYPE = "NodePort"
# Both open the dashboard beyond the cluster: a LoadBalancer to its network, a NodePort on every node.
EXPOSED_SERVICE_TYPES = frozenset({"LoadBalancer", "NodePort"})


def is_chaos_mesh(chart: Any) -> bool:
    """`chaos-mesh`, `chaos-mesh/chaos-mesh` (repo/chart) or an OCI reference ending in it."""
    return isinstance(chart, str) and chart.rstrip("/").rsplit("/", 1)[-1] == CHART_NAME


def _release_problems(values: Mapping[str, Any]) -> Iterator[str]:
    # A missing value is the chart's default, true. False is the namespace-scoped mode, which does not
    # work on 2.8.3: its RoleBinding cannot list the cluster-scoped RemoteCluster kind a default controller
    # watches, and cannot GET the Namespaces the filter reads (chaos-mesh/chaos-mesh
    # helm/chaos-mesh/templates/controller-manager-rbac.yaml at v2.8.3).
    if values.get("clusterScoped", True) is not True:
        yield (
            f"values.clusterScoped: got {values.get('clusterScoped')!r}; accepted true: the namespace-scoped mode of Chaos Mesh "
            "2.8.3 cannot list RemoteClusters or read Namespaces, so its experiments select nothing; the fence is the "
            "namespace filter and the sandbox's admission policy instead"
        )
    manager = mapping(values.get("controllerManager"))
    if manager.get("enableFilterNamespace") is not True:
        yield (
            f"values.controllerManager.enableFilterNamespace: got {manager.get('enableFilterNamespace')!r}; accepted true, "
            "so only namespaces annotated chaos-mesh.org/inject=enabled can be hit"
        )
    dashboard = mapping(values.get("dashboard"))
    if dashboard.get("create") is False:
        return
    if dashboard.get("securityMode") is not True:
        yield (
            f"values.dashboard.securityMode: got {dashboard.get('securityMode')!r}; accepted true, set explicitly: "
            "without it the dashboard acts with its own broad service account for anyone who reaches it"
        )
    service_type = dig(dashboard, "service", "type") or CHART_DEFAULT_DASHBOARD_SERVICE_TYPE
    if service_type in EXPOSED_SERVICE_TYPES:
        yield f"values.dashboard.service.type: got {service_type!r} (the chart's default when unset); accepted ClusterIP, reached with kubectl port-forward"
    if dig(dashboard, "ingress", "enabled") is True:
        yield "values.dashboard.ingress.enabled: got true; accepted false: an ingress exposes the dashboard as a LoadBalancer would"


def validate_release_fenced(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != RELEASE_TYPE or not is_chaos_mesh(args.props.get("chart")):
        return
    for problem in _release_problems(mapping(args.props.get("values"))):
        report_violation(problem, None)


chaos_mesh_release_fenced = ResourceValidationPolicy(
    name="chaos-mesh-release-fenced",
    description="The Chaos Mesh release runs in the mode that works on 2.8.3 (cluster-scoped) with the namespace filter on, and its dashboard runs in security mode behind a ClusterIP service.",
    validate=validate_release_fenced,
    enforcement_level=EnforcementLevel.MANDATORY,
)
