"""Rules for the chaos-mesh.org objects themselves: bounded in time, fenced in space, and never the
last pod of a workload."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from .chaos_objects import Fault, chaos_kind, faults, workflow_bound_s, workflow_of
from .pack_config import (
    FENCED_NAMESPACES_SCHEMA,
    MAX_DURATION_KEY,
    MAX_DURATION_SCHEMA,
    fenced_namespaces,
    format_duration,
    max_duration,
    parse_duration_s,
)
from .props import dig, items, mapping

# Set to "true" on a chaos object that may kill or fail the only pod of a workload, on purpose.
ALLOW_SINGLE_REPLICA_ANNOTATION = "chaos-lab.dev/allow-single-replica"
# Killing or failing the only pod of a workload is an outage, not a resilience test.
MIN_REPLICAS_TO_KILL = 2
POD_TAKING_ACTIONS = frozenset({"pod-kill", "pod-failure"})
DEPLOYMENT_TYPE = "kubernetes:apps/v1:Deployment"


def _unreadable(fault: Fault) -> str:
    return f"{fault.path}: {fault.kind!r} is not a kind Chaos Mesh defines, so the pack cannot check it"


def _limit_problem(fault: Fault, ceiling: str, ceiling_s: float) -> str | None:
    try:
        seconds = parse_duration_s(fault.limit)
    except ValueError:
        got = "missing" if fault.limit is None else f"got {fault.limit!r}, not a duration"
        return f"{fault.limit_path}: {got}; every fault must end by itself, within {ceiling}"
    if seconds > ceiling_s:
        return f"{fault.limit_path}: got {fault.limit}; accepted at most {ceiling} (policy config {MAX_DURATION_KEY})"
    return None


def validate_duration_bounded(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    kind = chaos_kind(args.resource_type)
    if kind is None:
        return
    ceiling, ceiling_s = max_duration(args.get_config())
    spec = args.props.get("spec")
    for fault in faults(kind, spec):
        problem = _unreadable(fault) if fault.spec is None else _limit_problem(fault, ceiling, ceiling_s)
        if problem is not None:
            report_violation(problem, None)
    workflow = workflow_of(kind, spec)
    if workflow is None:
        return
    path, body = workflow
    total_s = workflow_bound_s(body)
    if total_s is None:
        report_violation(f"{path}: some template reached from entry {body.get('entry')!r} has no deadline, so a run may never end", None)
    elif total_s > ceiling_s:
        report_violation(
            f"{path}: one run lasts up to {format_duration(total_s)} (serial steps add up); accepted at most {ceiling} in all", None
        )


chaos_duration_bounded = ResourceValidationPolicy(
    name="chaos-duration-bounded",
    description="Every chaos-mesh.org object ends by itself within the maximum duration: each fault has a duration, each workflow step a deadline, and a whole workflow run fits too.",
    validate=validate_duration_bounded,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=MAX_DURATION_SCHEMA,
)


def _selector_problems(path: str, selector: Any, fenced: frozenset[str]) -> Iterator[str]:
    accepted = f"accepted only fenced namespaces ({', '.join(sorted(fenced))})"
    if not isinstance(selector, Mapping):
        yield f"{path}: missing; {accepted}, named in selector.namespaces"
        return
    namespaces = list(items(selector.get("namespaces")))
    if not namespaces:
        # The webhook would fill in the object's own namespace: right today, but only by accident.
        yield f"{path}.namespaces: missing or empty; {accepted}, listed explicitly"
    outside = sorted({str(namespace) for namespace in namespaces if namespace not in fenced})
    if outside:
        yield f"{path}.namespaces: got {outside}; {accepted}"
    # `pods` maps namespaces to pod names: a second way to reach into a namespace.
    outside_pods = sorted(str(namespace) for namespace in mapping(selector.get("pods")) if namespace not in fenced)
    if outside_pods:
        yield f"{path}.pods: names pods in {outside_pods}; {accepted}"


def validate_selectors_fenced(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    kind = chaos_kind(args.resource_type)
    if kind is None:
        return
    fenced = fenced_namespaces(args.get_config())
    namespace = dig(args.props, "metadata", "namespace")
    if namespace not in fenced:
        report_violation(f"metadata.namespace: got {namespace!r}; accepted one of the fenced namespaces ({', '.join(sorted(fenced))})", None)
    for fault in faults(kind, args.props.get("spec")):
        if fault.spec is None:
            report_violation(_unreadable(fault), None)
            continue
        problems = list(_selector_problems(f"{fault.path}.selector", fault.spec.get("selector"), fenced))
        if "target" in fault.spec:
            problems += _selector_problems(f"{fault.path}.target.selector", dig(fault.spec, "target", "selector"), fenced)
        for problem in problems:
            report_violation(problem, None)


chaos_selectors_fenced = ResourceValidationPolicy(
    name="chaos-selectors-fenced",
    description="Every chaos-mesh.org object lives in a fenced namespace and every selector in it, targets included, names only fenced namespaces, explicitly.",
    validate=validate_selectors_fenced,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=FENCED_NAMESPACES_SCHEMA,
)


def declared_replicas(resources: Iterable[PolicyResource]) -> Counter[tuple[str, str]]:
    """Replicas per (namespace, app label of the pod template), over every Deployment in the stack."""
    replicas: Counter[tuple[str, str]] = Counter()
    for resource in resources:
        if resource.resource_type != DEPLOYMENT_TYPE:
            continue
        namespace = dig(resource.props, "metadata", "namespace")
        app = dig(resource.props, "spec", "template", "metadata", "labels", "app")
        count = dig(resource.props, "spec", "replicas")
        replicas[(namespace, app)] += 1 if count is None else int(count)  # Kubernetes defaults to 1
    return replicas


def _replica_problem(fault: Fault, replicas: Counter[tuple[str, str]]) -> str | None:
    action = mapping(fault.spec).get("action")
    selector = mapping(mapping(fault.spec).get("selector"))
    app = dig(selector, "labelSelectors", "app")
    escape = f'or annotate the object {ALLOW_SINGLE_REPLICA_ANNOTATION}: "true"'
    if not isinstance(app, str):
        return f"{fault.path}.selector.labelSelectors.app: missing; {action} must name the workload it hits, {escape}"
    workloads = [(namespace, app) for namespace in items(selector.get("namespaces")) if (namespace, app) in replicas]
    if not workloads:
        return f"{fault.path}: {action} hits app={app}, which no Deployment in the stack runs in {list(items(selector.get('namespaces')))}; {escape}"
    total = sum(replicas[workload] for workload in workloads)
    if total < MIN_REPLICAS_TO_KILL:
        return (
            f"{fault.path}: {action} hits app={app}, which runs {total} replica(s), so it takes the whole workload down; "
            f"accepted a Deployment with at least {MIN_REPLICAS_TO_KILL} replicas, {escape}"
        )
    return None


def validate_pod_kill_replicas(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    replicas = declared_replicas(args.resources)
    for resource in args.resources:
        kind = chaos_kind(resource.resource_type)
        if kind is None or dig(resource.props, "metadata", "annotations", ALLOW_SINGLE_REPLICA_ANNOTATION) == "true":
            continue
        for fault in faults(kind, resource.props.get("spec")):
            if fault.kind != "PodChaos" or mapping(fault.spec).get("action") not in POD_TAKING_ACTIONS:
                continue
            problem = _replica_problem(fault, replicas)
            if problem is not None:
                report_violation(problem, resource.urn)


pod_kill_needs_replicas = StackValidationPolicy(
    name="pod-kill-needs-replicas",
    description=f"A pod-kill or pod-failure hits a Deployment with at least {MIN_REPLICAS_TO_KILL} replicas, unless the object is annotated {ALLOW_SINGLE_REPLICA_ANNOTATION}: \"true\".",
    validate=validate_pod_kill_replicas,
    enforcement_level=EnforcementLevel.MANDATORY,
)
