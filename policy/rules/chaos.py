"""Rules for the chaos-mesh.org objects themselves: kinds on the allow-list, bounded in time, fenced in
space, scheduled no more than hourly, and never the last pod of a workload.

These are the preview-time twins of the in-cluster admission policy (experiments/admission.py);
tests/test_admission_policy.py runs both over one corpus of good and bad objects."""

from __future__ import annotations

import re
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

from .chaos_objects import (
    CONTROLLER_KINDS,
    EMBED_KEYS,
    FAULT_KINDS,
    SCHEDULE_TYPES,
    TEMPLATE_TYPES,
    USER_KINDS,
    Fault,
    chaos_kind,
    faults,
    must_end,
    templates,
)
from .pack_config import (
    FENCED_NAMESPACES_SCHEMA,
    MAX_DURATION_KEY,
    MAX_DURATION_SCHEMA,
    fenced_namespaces,
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
# A Schedule fires at most once an hour, written as shapes (the twin of experiments/cron.py): a descriptor,
# `@every` with a whole number of hours, or a cron line naming one minute.
MIN_SCHEDULE_INTERVAL = "1h"
SCHEDULE_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
EVERY_AT_LEAST_THE_FLOOR = r"^@every [1-9][0-9]*h([0-9]+m)?([0-9]+s)?$"
CRON_ONE_MINUTE = r"^[0-9]{1,2} "
# Specs of kinds outside the allow-list, and nested Schedules: refused wherever they sit.
REFUSED_EMBED_KEYS = tuple(key for kind, key in EMBED_KEYS.items() if kind not in (*FAULT_KINDS, "Workflow"))
REFUSED_TEMPLATE_KEYS = (*REFUSED_EMBED_KEYS, "schedule")


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
    problems: list[str] = []
    for fault in faults(kind, spec):
        problem = _unreadable(fault) if fault.spec is None else _limit_problem(fault, ceiling, ceiling_s)
        problems += [] if problem is None else [problem]
    if kind == "StatusCheck":
        check = Fault(kind, "spec", mapping(spec), "spec.duration", mapping(spec).get("duration"))
        problems += [problem for problem in [_limit_problem(check, ceiling, ceiling_s)] if problem is not None]
    for path, template in templates(kind, spec):
        if must_end(kind, spec, template):
            step = Fault(
                str(template.get("templateType")), path, template, f"{path}.deadline", template.get("deadline")
            )
            problems += [problem for problem in [_limit_problem(step, ceiling, ceiling_s)] if problem is not None]
    # A chaos step's deadline is both its fault's limit and a template's: say it once.
    for problem in dict.fromkeys(problems):
        report_violation(problem, None)


chaos_duration_bounded = ResourceValidationPolicy(
    name="chaos-duration-bounded",
    description="Every chaos-mesh.org object ends by itself within the maximum duration: each fault and StatusCheck has a duration, each leaf workflow template a deadline, and the entry template a deadline that bounds the whole run.",
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
        report_violation(
            f"metadata.namespace: got {namespace!r}; accepted one of the fenced namespaces ({', '.join(sorted(fenced))})",
            None,
        )
    for fault in faults(kind, args.props.get("spec")):
        if fault.spec is None:
            report_violation(_unreadable(fault), None)
            continue
        problems = list(_selector_problems(f"{fault.path}.selector", fault.spec.get("selector"), fenced))
        # NetworkChaos's `target` is a selector; HTTPChaos's is the string Request or Response.
        if isinstance(fault.spec.get("target"), Mapping):
            problems += _selector_problems(
                f"{fault.path}.target.selector", dig(fault.spec, "target", "selector"), fenced
            )
        for problem in problems:
            report_violation(problem, None)


chaos_selectors_fenced = ResourceValidationPolicy(
    name="chaos-selectors-fenced",
    description="Every chaos-mesh.org object lives in a fenced namespace and every selector in it, targets included, names only fenced namespaces, explicitly.",
    validate=validate_selectors_fenced,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=FENCED_NAMESPACES_SCHEMA,
)


def _kind_problems(kind: str, spec: Any) -> Iterator[str]:
    if kind in CONTROLLER_KINDS:
        yield f"kind: {kind} objects are made only by the Chaos Mesh controller, never declared by a stack"
    elif kind not in USER_KINDS:
        yield f"kind: {kind} is outside the chaos lab allow-list, whatever its selector says; accepted {', '.join(USER_KINDS)}"
    if kind == "Schedule":
        inner = mapping(spec).get("type")
        if inner not in SCHEDULE_TYPES:
            yield f"spec.type: got {inner!r}, outside the chaos lab allow-list; accepted {', '.join(SCHEDULE_TYPES)}"
        yield from (
            f"spec.{key}: the spec of a kind outside the chaos lab allow-list"
            for key in REFUSED_EMBED_KEYS
            if key in mapping(spec)
        )
    for path, template in templates(kind, spec):
        template_type = template.get("templateType")
        if template_type == "Task" or "task" in template:
            yield f"{path}: a Task template makes the Chaos Mesh controller create any pod it describes; not accepted in the lab"
        elif template_type not in TEMPLATE_TYPES:
            yield f"{path}.templateType: got {template_type!r}, outside the chaos lab allow-list; accepted {', '.join(TEMPLATE_TYPES)}"
        yield from (
            f"{path}.{key}: the spec of a kind outside the chaos lab allow-list"
            for key in REFUSED_TEMPLATE_KEYS
            if key in template
        )


def validate_kinds_allowed(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    kind = chaos_kind(args.resource_type)
    if kind is None:
        return
    for problem in _kind_problems(kind, args.props.get("spec")):
        report_violation(problem, None)


chaos_kinds_allowed = ResourceValidationPolicy(
    name="chaos-kinds-allowed",
    description=f"Every chaos-mesh.org object, Schedule type and workflow template is on the lab's allow-list ({', '.join(FAULT_KINDS)}, orchestrated by Schedule and Workflow, probed by StatusCheck); no Task template, no spec of another kind tucked beside an allowed one.",
    validate=validate_kinds_allowed,
    enforcement_level=EnforcementLevel.MANDATORY,
)


def validate_schedules_bounded(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if chaos_kind(args.resource_type) != "Schedule":
        return
    spec = mapping(args.props.get("spec"))
    cron = spec.get("schedule")
    if not isinstance(cron, str) or not (
        cron in SCHEDULE_DESCRIPTORS or re.match(EVERY_AT_LEAST_THE_FLOOR, cron) or re.match(CRON_ONE_MINUTE, cron)
    ):
        report_violation(
            f"spec.schedule: got {cron!r}; accepted at most one run every {MIN_SCHEDULE_INTERVAL}: @hourly or rarer, "
            "@every with whole hours (e.g. @every 2h), or a cron line whose minute is one number",
            None,
        )
    if spec.get("concurrencyPolicy", "Forbid") != "Forbid":
        report_violation(
            f"spec.concurrencyPolicy: got {spec.get('concurrencyPolicy')!r}; accepted Forbid: overlapping runs stack their faults",
            None,
        )


chaos_schedules_bounded = ResourceValidationPolicy(
    name="chaos-schedules-bounded",
    description=f"A Schedule fires at most once every {MIN_SCHEDULE_INTERVAL} and never lets runs overlap (concurrencyPolicy Forbid).",
    validate=validate_schedules_bounded,
    enforcement_level=EnforcementLevel.MANDATORY,
)


def service_url_pattern(namespace: str) -> str:
    """An HTTP(S) URL of a Service in `namespace`, by its in-cluster DNS name, with nothing after the host
    that could move it elsewhere (no userinfo, no further domain)."""
    return rf"^https?://[a-z0-9]([-a-z0-9]*[a-z0-9])?\.{re.escape(namespace)}\.svc(\.cluster\.local)?(:[0-9]{{1,5}})?(/.*)?$"


def validate_status_checks_fenced(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    kind = chaos_kind(args.resource_type)
    if kind is None:
        return
    spec = args.props.get("spec")
    checks = [("spec", mapping(spec))] if kind == "StatusCheck" else []
    checks += [
        (f"{path}.statusCheck", mapping(template.get("statusCheck")))
        for path, template in templates(kind, spec)
        if "statusCheck" in template
    ]
    fenced = sorted(fenced_namespaces(args.get_config()))
    for path, check in checks:
        url = dig(check, "http", "url")
        inside = isinstance(url, str) and any(re.match(service_url_pattern(namespace), url) for namespace in fenced)
        if not inside or check.get("type", "HTTP") != "HTTP":
            report_violation(
                f"{path}.http.url: got {url!r}; accepted only an HTTP URL of a Service in a fenced namespace ({', '.join(fenced)}), "
                f"e.g. http://frontend-service.{fenced[0]}.svc.cluster.local/",
                None,
            )


chaos_status_checks_fenced = ResourceValidationPolicy(
    name="chaos-status-checks-fenced",
    description="Every StatusCheck, standalone or in a workflow, probes over HTTP a Service in a fenced namespace, so the controller is never sent elsewhere.",
    validate=validate_status_checks_fenced,
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
    description=f'A pod-kill or pod-failure hits a Deployment with at least {MIN_REPLICAS_TO_KILL} replicas, unless the object is annotated {ALLOW_SINGLE_REPLICA_ANNOTATION}: "true".',
    validate=validate_pod_kill_replicas,
    enforcement_level=EnforcementLevel.MANDATORY,
)
