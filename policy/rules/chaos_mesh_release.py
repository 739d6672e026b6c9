"""The Chaos Mesh Helm release: the fence is its values, so they are checked here.

What the chart renders (its Deployments, its RBAC) lives inside the Release and is invisible to
policies; only the values that decide it can be checked. Where a chart default is unsafe, a missing
value counts as that default.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from .pack_config import FENCED_NAMESPACES_SCHEMA, fenced_namespaces
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


def _release_problems(values: Mapping[str, Any], fenced: frozenset[str]) -> Iterator[str]:
    fenced_text = ", ".join(sorted(fenced))
    if values.get("clusterScoped") is not False:
        yield (
            f"values.clusterScoped: got {values.get('clusterScoped')!r}; accepted false: the chart's default true "
            "lets the controller act in every namespace and ignores targetNamespace"
        )
    manager = mapping(values.get("controllerManager"))
    if manager.get("enableFilterNamespace") is not True:
        yield (
            f"values.controllerManager.enableFilterNamespace: got {manager.get('enableFilterNamespace')!r}; accepted true, "
            "so only namespaces annotated chaos-mesh.org/inject=enabled can be hit"
        )
    if manager.get("targetNamespace") not in fenced:
        yield f"values.controllerManager.targetNamespace: got {manager.get('targetNamespace')!r}; accepted a fenced namespace ({fenced_text})"
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
    for problem in _release_problems(mapping(args.props.get("values")), fenced_namespaces(args.get_config())):
        report_violation(problem, None)


chaos_mesh_release_fenced = ResourceValidationPolicy(
    name="chaos-mesh-release-fenced",
    description="The Chaos Mesh release is namespace-scoped to a fenced namespace with the namespace filter on, and its dashboard runs in security mode behind a ClusterIP service.",
    validate=validate_release_fenced,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=FENCED_NAMESPACES_SCHEMA,
)
