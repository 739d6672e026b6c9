"""The lab's rules for chaos-mesh.org objects, as a ValidatingAdmissionPolicy the API server enforces itself.

The policy matches every chaos-mesh.org object created, or whose spec changes, in any namespace and from
any sender: kubectl, the dashboard, the Pulumi program, or the Chaos Mesh controller expanding a Schedule
or a Workflow. It holds even if Chaos Mesh's own webhook or namespace filter is misconfigured, and it is
the only layer that can tell a Workflow `Task` template (which makes the controller create any pod the
template describes: chaos-mesh/chaos-mesh pkg/workflow/task/pod.go at v2.8.3) from a harmless one.

`RULES` is the table: one CEL validation per rule, each with a `messageExpression` that names the field.
The lab's parameters (sandbox namespace, maximum duration, the controller's identity) are written into
the CEL when rendered, so the policy needs no params object. Pure: renders plain dicts, imports no Pulumi.

CEL notes, for whoever edits the expressions:
- `object` reaches CEL as plain maps and lists (the API server converts it to unstructured first:
  kubernetes/kubernetes staging/src/k8s.io/apiserver/pkg/admission/plugin/cel/filter.go
  `objectToResolveVal`), so `has()` tests a key; every chain is guarded level by level, because in Kubernetes `has(a.b.c)` with no `a.b`
  is an error, and an error under failurePolicy Fail denies with a generic message instead of ours.
- Standard CEL only (macros all/exists/filter/map, has, in, size, matches, type, duration): no
  Kubernetes extension library, so the tests' real CEL implementation evaluates exactly what ships.
- Kubernetes type-checks aggregate literals as homogeneous (`cel.HomogeneousAggregateLiterals`): the map
  literals here pair a string path with a value read from `object`, which is `dyn` and so fits any type.
- Cost: every comprehension walks one list of the object (workflow templates, selector namespaces,
  `pods` keys, owner references), nested at most two deep (templates x a fixed list of kind keys), so
  the cost grows linearly with the object's size, which the API server caps.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .cron import CRON_ONE_MINUTE, DESCRIPTORS, EVERY_AT_LEAST_THE_FLOOR, MIN_SCHEDULE_INTERVAL_S
from .durations import DURATION_PATTERN, format_duration
from .model import API_VERSION as CHAOS_API_VERSION

API_VERSION = "admissionregistration.k8s.io/v1"
CHAOS_GROUP = CHAOS_API_VERSION.split("/")[0]

# Faults that stay inside the selected pods' own processes and network namespace. Nothing that reaches
# a node's kernel or disks (KernelChaos, BlockChaos, IOChaos, TimeChaos), a JVM agent, DNS for everyone,
# a cloud API (AWSChaos, GCPChaos, AzureChaos) or a host over chaosd (PhysicalMachineChaos).
FAULT_KINDS = ("PodChaos", "NetworkChaos", "StressChaos", "HTTPChaos")
# What people may create: those faults, what orchestrates them, and the HTTP probe.
USER_KINDS = (*FAULT_KINDS, "Schedule", "Workflow", "StatusCheck")
# What the controller creates itself while running the kinds above: a Workflow's nodes, and the per-pod
# records NetworkChaos and HTTPChaos hand to chaos-daemon (the `Controlls` of
# controllers/chaosimpl/networkchaos/impl.go and httpchaos/impl.go). A person who could create a
# PodNetworkChaos would hand chaos-daemon a pod of their choosing, past every selector rule.
CONTROLLER_KINDS = ("WorkflowNode", "PodNetworkChaos", "PodHttpChaos")
SCHEDULE_TYPES = (*FAULT_KINDS, "Workflow")
GROUP_TEMPLATE_TYPES = ("Serial", "Parallel")
TEMPLATE_TYPES = (*FAULT_KINDS, *GROUP_TEMPLATE_TYPES, "Suspend", "StatusCheck")
# Every kind's spec key inside a Schedule, a workflow template and a WorkflowNode (the CRDs' own names,
# which no single casing rule produces).
EMBED_KEYS = {
    "PodChaos": "podChaos",
    "NetworkChaos": "networkChaos",
    "StressChaos": "stressChaos",
    "HTTPChaos": "httpChaos",
    "IOChaos": "ioChaos",
    "TimeChaos": "timeChaos",
    "DNSChaos": "dnsChaos",
    "JVMChaos": "jvmChaos",
    "KernelChaos": "kernelChaos",
    "BlockChaos": "blockChaos",
    "AWSChaos": "awsChaos",
    "GCPChaos": "gcpChaos",
    "AzureChaos": "azureChaos",
    "PhysicalMachineChaos": "physicalmachineChaos",
}
ALLOWED_EMBED_KEYS = tuple(EMBED_KEYS[kind] for kind in FAULT_KINDS)
# A spec a kind outside the allow-list would run, or a nested Schedule: refused wherever they sit, even
# beside an allowed type the controller would pick instead (a decoy).
REFUSED_EMBED_KEYS = tuple(key for kind, key in EMBED_KEYS.items() if kind not in FAULT_KINDS)
REFUSED_TEMPLATE_KEYS = (*REFUSED_EMBED_KEYS, "schedule")
# Only the controller's own service account, and only for its own chaos (owned by a WorkflowNode), may
# create a fault without a duration: the workflow template's deadline, already admitted, bounds it
# (pkg/workflow/controllers/chaos_node_reconciler.go `createChaos`, statuscheck_reconciler.go).
OWNER_OF_UNTIMED = "WorkflowNode"


@dataclass(frozen=True)
class Rule:
    """One validation: `expression` is true for an admitted object; `message` names the field otherwise."""

    name: str
    summary: str  # one sentence, for the docs
    expression: str
    message_expression: str


@dataclass(frozen=True, kw_only=True)
class AdmissionFence:
    """What the policy is rendered for."""

    sandbox: str
    max_duration_s: float
    controller_user: str  # system:serviceaccount:<namespace>:<name> of the Chaos Mesh controller


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _list(items: Iterable[str]) -> str:
    return "[" + ", ".join(_quote(item) for item in items) + "]"


def _present(base: str, *fields: str) -> str:
    """`has(base.a) && has(base.a.b)`: each level tested, as Kubernetes' CEL requires."""
    return " && ".join(f"has({'.'.join((base, *fields[: depth + 1]))})" for depth in range(len(fields)))


def _field_or(base: str, field: str, default: str) -> str:
    return f"({_present(base, field)} ? {base}.{field} : {default})"


# The path of a workflow template in messages, e.g. spec.templates[step-1-delay].
_TEMPLATE_PATH = "variables.workflowPath + '.templates[' + (has(t.name) ? string(t.name) : '?') + ']'"
_IS_ENTRY = "(has(t.name) && has(variables.workflow.entry) && t.name == variables.workflow.entry)"


def _selector_fenced(holder: str, sandbox: str) -> str:
    """`holder.selector` names the sandbox explicitly, and nothing else, in `namespaces` and `pods`."""
    selector = f"{holder}.selector"
    return (
        f"({_present(holder, 'selector', 'namespaces')} && size({selector}.namespaces) > 0"
        f" && {selector}.namespaces.all(n, n == {_quote(sandbox)})"
        f" && (!has({selector}.pods) || {selector}.pods.all(n, n == {_quote(sandbox)})))"
    )


def _own_embedded_faults() -> str:
    """The allowed faults a Schedule or a WorkflowNode embeds, each under its kind's key."""
    # A WorkflowNode's is inline in its spec (api/v1alpha1/workflownode_types.go: `*EmbedChaos json:",inline"`).
    return " + ".join(
        f"(object.kind in ['Schedule', 'WorkflowNode'] && {_quote(key)} in variables.spec"
        f" ? [{{'path': 'spec.{key}', 'spec': variables.spec.{key}}}] : [])"
        for key in ALLOWED_EMBED_KEYS
    )


def _faults_in_templates() -> str:
    """The allowed faults in the workflow's templates, each under its kind's key."""
    return " + ".join(
        f"variables.templates.filter(t, {_quote(key)} in t).map(t, {{'path': {_TEMPLATE_PATH} + '.{key}', 'spec': t.{key}}})"
        for key in ALLOWED_EMBED_KEYS
    )


def _embedded_durations() -> str:
    """The duration of each allowed fault a Schedule embeds, '' where it has none."""
    return " + ".join(
        f"(object.kind == 'Schedule' && {_quote(key)} in variables.spec"
        f" ? [{{'path': 'spec.{key}.duration', 'value': {_field_or(f'variables.spec.{key}', 'duration', _quote(''))}}}] : [])"
        for key in ALLOWED_EMBED_KEYS
    )


# Long on purpose: the policy's variables read as one ordered table, each built on those above it.
def variables(fence: AdmissionFence) -> list[tuple[str, str]]:
    """The policy's `variables`, by name, in order.

    Each may use only those before it (kubernetes/api admissionregistration/v1/types.go,
    ValidatingAdmissionPolicySpec.Variables), so the order is part of the meaning.
    """
    ceiling = f"duration({_quote(f'{int(fence.max_duration_s)}s')})"
    return [
        ("spec", "has(object.spec) ? object.spec : {}"),
        ("controller", f"request.userInfo.username == {_quote(fence.controller_user)}"),
        (
            "forWorkflowNode",
            f"variables.controller && {_present('object', 'metadata', 'ownerReferences')}"
            f" && object.metadata.ownerReferences.exists(o, has(o.kind) && o.kind == {_quote(OWNER_OF_UNTIMED)})",
        ),
        (
            "workflow",
            "object.kind == 'Workflow' ? variables.spec"
            " : (object.kind == 'Schedule' && has(variables.spec.workflow) ? variables.spec.workflow : {})",
        ),
        ("workflowPath", "object.kind == 'Workflow' ? 'spec' : 'spec.workflow'"),
        ("templates", "has(variables.workflow.templates) ? variables.workflow.templates : []"),
        (
            "faults",
            f"(object.kind in {_list(FAULT_KINDS)} ? [{{'path': 'spec', 'spec': variables.spec}}] : [])"
            f" + {_own_embedded_faults()} + {_faults_in_templates()}",
        ),
        (
            "unfencedSelectors",
            f"variables.faults.filter(f, !{_selector_fenced('f.spec', fence.sandbox)}).map(f, f.path + '.selector')"
            # HTTPChaos's `target` is a string (Request or Response); NetworkChaos's is a selector.
            f" + variables.faults.filter(f, has(f.spec.target) && type(f.spec.target) == map"
            f" && !{_selector_fenced('f.spec.target', fence.sandbox)}).map(f, f.path + '.target.selector')",
        ),
        (
            "limits",
            f"(object.kind in {_list((*FAULT_KINDS, 'StatusCheck'))} && !variables.forWorkflowNode"
            f" ? [{{'path': 'spec.duration', 'value': {_field_or('variables.spec', 'duration', _quote(''))}}}] : [])"
            f" + {_embedded_durations()}"
            # A leaf template runs until its deadline; the entry's deadline bounds the whole run.
            f" + variables.templates.filter(t, has(t.deadline) || {_IS_ENTRY}"
            f" || !(has(t.templateType) && t.templateType in {_list(GROUP_TEMPLATE_TYPES)}))"
            f".map(t, {{'path': {_TEMPLATE_PATH} + '.deadline', 'value': has(t.deadline) ? t.deadline : ''}})",
        ),
        (
            "unboundedLimits",
            f"variables.limits.filter(l, !(type(l.value) == string && l.value.matches({_quote(DURATION_PATTERN)})"
            f" && duration(l.value) <= {ceiling})).map(l, l.path)",
        ),
        (
            "statusChecks",
            f"(object.kind == 'StatusCheck' ? [{{'path': 'spec', 'check': variables.spec}}] : [])"
            f" + (object.kind == 'WorkflowNode' && has(variables.spec.statusCheck)"
            f" ? [{{'path': 'spec.statusCheck', 'check': variables.spec.statusCheck}}] : [])"
            f" + variables.templates.filter(t, has(t.statusCheck)).map(t, {{'path': {_TEMPLATE_PATH} + '.statusCheck', 'check': t.statusCheck}})",
        ),
    ]


def _off_list_types() -> str:
    """Where a Schedule, a workflow template or a WorkflowNode names or embeds a kind off the allow-list."""
    refused_in_templates = (
        f"variables.templates.filter(t, {_list(REFUSED_TEMPLATE_KEYS)}.exists(k, k in t))"
        f".map(t, {_TEMPLATE_PATH} + '.' + {_list(REFUSED_TEMPLATE_KEYS)}.filter(k, k in t)[0])"
    )
    return (
        f"(object.kind == 'Schedule' && !(has(variables.spec.type) && variables.spec.type in {_list(SCHEDULE_TYPES)}) ? ['spec.type'] : [])"
        f" + (object.kind == 'Schedule' ? {_list(REFUSED_EMBED_KEYS)}.filter(k, k in variables.spec).map(k, 'spec.' + k) : [])"
        f" + variables.templates.filter(t, !(has(t.templateType) && t.templateType in {_list(TEMPLATE_TYPES)}))"
        f".map(t, {_TEMPLATE_PATH} + '.templateType')"
        f" + {refused_in_templates}"
        f" + (object.kind == 'WorkflowNode' && !(has(variables.spec.type) && variables.spec.type in {_list(TEMPLATE_TYPES)}) ? ['spec.type'] : [])"
        f" + (object.kind == 'WorkflowNode' ? {_list(REFUSED_TEMPLATE_KEYS)}.filter(k, k in variables.spec).map(k, 'spec.' + k) : [])"
    )


def _tasks() -> str:
    """Where a workflow template or a WorkflowNode is a Task or carries one."""
    return (
        f"variables.templates.filter(t, 'task' in t || (has(t.templateType) && t.templateType == 'Task')).map(t, {_TEMPLATE_PATH})"
        " + (object.kind == 'WorkflowNode' && (has(variables.spec.task) || (has(variables.spec.type) && variables.spec.type == 'Task'))"
        " ? ['spec'] : [])"
    )


def _unfenced_status_checks(sandbox: str) -> str:
    """Where a status check is not an HTTP check of a Service in `sandbox`."""
    service_url = rf"^https?://[a-z0-9]([-a-z0-9]*[a-z0-9])?\.{sandbox}\.svc(\.cluster\.local)?(:[0-9]{{1,5}})?(/.*)?$"
    return (
        f"variables.statusChecks.filter(c, !({_present('c.check', 'http', 'url')} && c.check.http.url.matches({_quote(service_url)})"
        " && (!has(c.check.type) || c.check.type == 'HTTP'))).map(c, c.path + '.http.url')"
    )


# Long on purpose: one table of rules (name, summary, CEL, message), read and reviewed side by side.
def rules(fence: AdmissionFence) -> tuple[Rule, ...]:
    sandbox = _quote(fence.sandbox)
    floor = format_duration(MIN_SCHEDULE_INTERVAL_S)
    off_list_types = _off_list_types()
    tasks = _tasks()
    unfenced_checks = _unfenced_status_checks(fence.sandbox)
    schedule = _field_or("variables.spec", "schedule", _quote(""))
    return (
        Rule(
            name="kind-allowed",
            summary=f"The kind is one people may create ({', '.join(USER_KINDS)}), or one the Chaos Mesh controller creates itself "
            f"({', '.join(CONTROLLER_KINDS)}) and the sender is that controller.",
            expression=f"object.kind in {_list(USER_KINDS)} || (variables.controller && object.kind in {_list(CONTROLLER_KINDS)})",
            message_expression=(
                f"object.kind in {_list(CONTROLLER_KINDS)}"
                " ? 'kind: ' + object.kind + ' objects are made only by the Chaos Mesh controller, not by ' + request.userInfo.username"
                f" : 'kind: ' + object.kind + ' is outside the chaos lab allow-list; accepted {', '.join(USER_KINDS)}'"
            ),
        ),
        Rule(
            name="embedded-kinds-allowed",
            summary="A Schedule's type, every workflow template's type and every spec embedded in either is on the same allow-list "
            "(faults, Serial, Parallel, Suspend, StatusCheck), even beside an allowed one the controller would pick instead.",
            expression=f"size({off_list_types}) == 0",
            message_expression=(
                f"({off_list_types})[0] + ': a kind outside the chaos lab allow-list; accepted {', '.join(TEMPLATE_TYPES)}"
                f" (and for a Schedule also Workflow)'"
            ),
        ),
        Rule(
            name="no-task-templates",
            summary="No workflow template is a Task, or carries a `task`: a Task makes the controller create any pod it describes.",
            expression=f"size({tasks}) == 0",
            message_expression=(
                f"({tasks})[0] + ': a Task template makes the Chaos Mesh controller create any pod it describes; not accepted in the lab'"
            ),
        ),
        Rule(
            name="in-the-sandbox",
            summary="The object lives in the sandbox namespace.",
            expression=f"request.namespace == {sandbox}",
            message_expression=f"'metadata.namespace: got ' + request.namespace + '; accepted only the sandbox ' + {sandbox}",
        ),
        Rule(
            name="selectors-fenced",
            summary="Every selector, NetworkChaos targets and selectors nested in Schedules, workflow templates and WorkflowNodes "
            "included, lists the sandbox, explicitly and alone, in `namespaces`, and keys `pods` only by it.",
            expression="size(variables.unfencedSelectors) == 0",
            message_expression=(
                f"variables.unfencedSelectors[0] + ': must name namespaces: [' + {sandbox} + '] explicitly, and no other namespace"
                " there or as a key of pods'"
            ),
        ),
        Rule(
            name="durations-bounded",
            summary=f"Every fault has a duration, every leaf and entry workflow template a deadline, each at most "
            f"{format_duration(fence.max_duration_s)}; only the controller's own chaos for a WorkflowNode may omit it.",
            expression="size(variables.unboundedLimits) == 0",
            message_expression=(
                f"variables.unboundedLimits[0] + ': missing or longer than {format_duration(fence.max_duration_s)};"
                " every fault and workflow must end by itself within the lab maximum (a Go duration such as 90s)'"
            ),
        ),
        Rule(
            name="status-checks-fenced",
            summary="Every StatusCheck, standalone or in a workflow, is an HTTP check of a Service in the sandbox "
            "(`http(s)://<service>.<sandbox>.svc[.cluster.local][:port]/...`).",
            expression=f"size({unfenced_checks}) == 0",
            message_expression=(
                f"({unfenced_checks})[0] + ': accepted only an HTTP URL of a Service in ' + {sandbox}"
                f" + ', e.g. http://frontend-service.' + {sandbox} + '.svc.cluster.local/'"
            ),
        ),
        Rule(
            name="schedule-floor",
            summary=f"A Schedule fires at most once every {floor}: a descriptor, `@every` with whole hours, or a cron line with one minute.",
            expression=(
                f"object.kind != 'Schedule' || {schedule} in {_list(DESCRIPTORS)}"
                f" || {schedule}.matches({_quote(EVERY_AT_LEAST_THE_FLOOR)})"
                f" || {schedule}.matches({_quote(CRON_ONE_MINUTE)})"
            ),
            message_expression=(
                f"'spec.schedule: got ' + {schedule} + '; accepted at most one run every {floor}: @hourly or rarer, "
                "@every with whole hours (e.g. @every 2h), or a cron line whose minute is one number'"
            ),
        ),
        Rule(
            name="schedule-no-overlap",
            summary="A Schedule never lets runs overlap: `concurrencyPolicy` is Forbid (or left to that default).",
            expression="object.kind != 'Schedule' || !has(variables.spec.concurrencyPolicy) || variables.spec.concurrencyPolicy == 'Forbid'",
            message_expression="'spec.concurrencyPolicy: got ' + string(variables.spec.concurrencyPolicy) + '; accepted Forbid: overlapping runs stack their faults'",
        ),
    )


# Changes that leave the spec alone (finalizers, status, the pause annotation `chaoslab halt` sets) are
# not judged again: a stop or a cleanup must never be refused.
SPEC_SET_OR_CHANGED = (
    "request.operation == 'CREATE' || !has(oldObject.spec) || !has(object.spec) || oldObject.spec != object.spec"
)


def policy(name: str, fence: AdmissionFence) -> dict[str, Any]:
    """The ValidatingAdmissionPolicy: every rule over every chaos-mesh.org kind, in every namespace."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            # An expression that cannot be evaluated denies: a fence must fail closed.
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [CHAOS_GROUP],
                        "apiVersions": ["*"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["*"],
                    }
                ]
            },
            "matchConditions": [{"name": "spec-set-or-changed", "expression": SPEC_SET_OR_CHANGED}],
            "variables": [{"name": var, "expression": expression} for var, expression in variables(fence)],
            "validations": [
                {
                    "expression": rule.expression,
                    "messageExpression": rule.message_expression,
                    "message": f"{rule.name}: {rule.summary}",
                    "reason": "Forbidden",
                }
                for rule in rules(fence)
            ],
        },
    }


def binding(name: str, policy_name: str) -> dict[str, Any]:
    """Binds the policy everywhere, denying (not only warning about) what it rejects."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": policy_name, "validationActions": ["Deny"]},
    }
