"""What AWS FIS accepts in an experiment template, as a table, and a check of a rendered template against it.

Built from the AWS FIS User Guide (https://docs.aws.amazon.com/fis/latest/userguide/): the actions
reference (`fis-actions-reference.html`), targets (`targets.html`), stop conditions
(`stop-conditions.html`) and quotas (`https://docs.aws.amazon.com/general/latest/gr/fis.html`), plus
the API model's limits (botocore `fis/2020-12-01/service-2.json`: parameter values at most 1024
characters, names at most 64). Only the actions the lab may use are listed: a template naming any
other action is refused.

`template_problems` reads a template in the API's shape (`actions`/`targets` keyed by name, camelCase
fields) and returns every problem as "field: got X; accepted Y". Pure: imports no Pulumi, no boto3.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .values import is_dns_label

# Per parameter value and per action/target name, from the API model.
MAX_PARAMETER_CHARS = 1024
MAX_NAME_CHARS = 64
# Default quotas (Service Quotas: actions per template, stop conditions per template, ARNs per target).
MAX_ACTIONS = 20
MAX_STOP_CONDITIONS = 5
MAX_TARGET_ARNS = 5
MAX_TARGET_TAGS = 50
MINUTE_S = 60
TWELVE_HOURS_S = 12 * 3600
ALARM_SOURCE = "aws:cloudwatch:alarm"
_SELECTION_MODE = re.compile(r"^(ALL|COUNT\(\d+\)|PERCENT\(\d+\))$")
_ISO_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")
_ALARM_ARN = re.compile(r"^arn:aws[a-z-]*:cloudwatch:[a-z0-9-]+:\d{12}:alarm:.+$")

Check = Callable[[str], str | None]  # None when the value is accepted, else what is accepted


def parse_iso_duration(text: str) -> int | None:
    """Seconds in an ISO 8601 duration such as PT2M or PT1H30M; None when it is not one."""
    match = _ISO_DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None or text == "PT":
        return None
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def iso_duration(seconds: float) -> str:
    """PT2M for 120 seconds: whole minutes as minutes, anything else in seconds."""
    whole = int(seconds)
    return f"PT{whole // 60}M" if whole % 60 == 0 else f"PT{whole}S"


def _duration_between(low_s: int, high_s: int, shown: str) -> Check:
    def check(value: str) -> str | None:
        seconds = parse_iso_duration(value)
        return None if seconds is not None and low_s <= seconds <= high_s else f"an ISO 8601 duration from {shown}"

    return check


def _whole_number_between(low: int, high: int) -> Check:
    def check(value: str) -> str | None:
        return None if value.isdigit() and low <= int(value) <= high else f"a whole number from {low} to {high}"

    return check


def _one_of(*accepted: str) -> Check:
    def check(value: str) -> str | None:
        return None if value in accepted else "one of " + ", ".join(accepted)

    return check


def _dns_label(value: str) -> str | None:
    return None if is_dns_label(value) else "a Kubernetes namespace name"


def _json_object(value: str) -> str | None:
    try:
        return None if isinstance(json.loads(value), dict) else "a JSON object"
    except json.JSONDecodeError:
        return "a JSON object"


def _anything(value: str) -> str | None:
    return None


@dataclass(frozen=True)
class Parameter:
    check: Check
    required: bool = True


@dataclass(frozen=True)
class Action:
    """One FIS action: the target key it takes (None: no target), that target's resource type, its parameters."""

    target_key: str | None
    resource_type: str | None
    parameters: Mapping[str, Parameter] = field(default_factory=dict)
    # The parameter that says how long the action runs, when it has one.
    duration_parameter: str | None = None


_ONE_MINUTE_TO_TWELVE_HOURS = _duration_between(MINUTE_S, TWELVE_HOURS_S, "PT1M to PT12H")
CHAOS_MESH_KINDS = (
    "AWSChaos",
    "DNSChaos",
    "GCPChaos",
    "HTTPChaos",
    "IOChaos",
    "JVMChaos",
    "KernelChaos",
    "NetworkChaos",
    "PhysicalMachineChaos",
    "PodChaos",
    "PodHttpChaos",
    "PodIOChaos",
    "PodNetworkChaos",
    "Schedule",
    "StressChaos",
    "TimeChaos",
)
NETWORK_SCOPES = ("all", "availability-zone", "dynamodb", "prefix-list", "s3", "s3express", "vpc")

ACTIONS: Mapping[str, Action] = {
    "aws:ec2:send-spot-instance-interruptions": Action(
        "SpotInstances",
        "aws:ec2:spot-instance",
        {"durationBeforeInterruption": Parameter(_duration_between(2 * MINUTE_S, 15 * MINUTE_S, "PT2M to PT15M"))},
        duration_parameter="durationBeforeInterruption",
    ),
    "aws:eks:terminate-nodegroup-instances": Action(
        "Nodegroups", "aws:eks:nodegroup", {"instanceTerminationPercentage": Parameter(_whole_number_between(1, 100))}
    ),
    "aws:ec2:stop-instances": Action(
        "Instances",
        "aws:ec2:instance",
        {
            "startInstancesAfterDuration": Parameter(_ONE_MINUTE_TO_TWELVE_HOURS, required=False),
            "completeIfInstancesTerminated": Parameter(_one_of("true", "false"), required=False),
        },
        duration_parameter="startInstancesAfterDuration",
    ),
    "aws:ec2:terminate-instances": Action("Instances", "aws:ec2:instance"),
    "aws:network:disrupt-connectivity": Action(
        "Subnets",
        "aws:ec2:subnet",
        {
            "scope": Parameter(_one_of(*NETWORK_SCOPES)),
            "duration": Parameter(_ONE_MINUTE_TO_TWELVE_HOURS),
            "prefixListIdentifier": Parameter(_anything, required=False),
        },
        duration_parameter="duration",
    ),
    "aws:eks:inject-kubernetes-custom-resource": Action(
        "Cluster",
        "aws:eks:cluster",
        {
            "kubernetesApiVersion": Parameter(_one_of("chaos-mesh.org/v1alpha1", "litmuschaos.io/v1alpha1")),
            "kubernetesKind": Parameter(_one_of(*CHAOS_MESH_KINDS, "ChaosEngine")),
            "kubernetesNamespace": Parameter(_dns_label),
            "kubernetesSpec": Parameter(_json_object),
            "maxDuration": Parameter(_ONE_MINUTE_TO_TWELVE_HOURS),
        },
        duration_parameter="maxDuration",
    ),
    "aws:fis:wait": Action(
        None, None, {"duration": Parameter(_ONE_MINUTE_TO_TWELVE_HOURS)}, duration_parameter="duration"
    ),
}

# Resource types a target may name; the cluster target takes exactly one ARN and nothing else.
RESOURCE_TYPES = frozenset(action.resource_type for action in ACTIONS.values() if action.resource_type)
ARN_ONLY_TYPES = frozenset({"aws:eks:cluster"})


def _got(value: Any) -> str:
    return repr(value)


def _stop_condition_problems(stop_conditions: Any) -> list[str]:
    if not isinstance(stop_conditions, list) or not stop_conditions:
        return [
            f"stopConditions: got {_got(stop_conditions)}; accepted 1 to {MAX_STOP_CONDITIONS} CloudWatch alarms (never 'none')"
        ]
    found = []
    if len(stop_conditions) > MAX_STOP_CONDITIONS:
        found.append(f"stopConditions: got {len(stop_conditions)}; accepted at most {MAX_STOP_CONDITIONS}")
    for index, condition in enumerate(stop_conditions):
        source = condition.get("source") if isinstance(condition, Mapping) else None
        if source != ALARM_SOURCE:
            found.append(
                f"stopConditions[{index}].source: got {_got(source)}; accepted {ALARM_SOURCE!r} (never 'none')"
            )
        elif isinstance(condition.get("value"), str) and not _ALARM_ARN.fullmatch(condition["value"]):
            found.append(
                f"stopConditions[{index}].value: got {_got(condition['value'])}; accepted a CloudWatch alarm ARN"
            )
    return found


def _target_problems(name: str, target: Mapping[str, Any]) -> list[str]:
    path = f"targets.{name}"
    found = []
    resource_type = target.get("resourceType")
    if resource_type not in RESOURCE_TYPES:
        found.append(
            f"{path}.resourceType: got {_got(resource_type)}; accepted one of {', '.join(sorted(RESOURCE_TYPES))}"
        )
    mode = target.get("selectionMode")
    if not isinstance(mode, str) or not _SELECTION_MODE.fullmatch(mode):
        found.append(f"{path}.selectionMode: got {_got(mode)}; accepted ALL, COUNT(n) or PERCENT(n)")
    arns, tags, filters = (
        target.get("resourceArns") or [],
        target.get("resourceTags") or {},
        target.get("filters") or [],
    )
    if bool(arns) == bool(tags):
        found.append(
            f"{path}: got {'both resourceArns and resourceTags' if arns else 'neither resourceArns nor resourceTags'}; "
            "accepted exactly one of them, so the target is the lab's own resources and never the account's"
        )
    if len(arns) > MAX_TARGET_ARNS:
        found.append(f"{path}.resourceArns: got {len(arns)}; accepted at most {MAX_TARGET_ARNS}")
    found += [
        f"{path}.resourceArns: got {_got(arn)}; accepted a full ARN without wildcards"
        for arn in arns
        if isinstance(arn, str) and ("*" in arn or not arn.startswith("arn:"))
    ]
    if len(tags) > MAX_TARGET_TAGS:
        found.append(f"{path}.resourceTags: got {len(tags)}; accepted at most {MAX_TARGET_TAGS}")
    found += [
        f"{path}.resourceTags.{key}: got {_got(value)}; accepted a non-empty value without wildcards"
        for key, value in tags.items()
        if isinstance(value, str) and (not value or "*" in value)
    ]
    if arns and filters:
        found.append(
            f"{path}.filters: got {len(filters)} filter(s) beside resourceArns; accepted filters only with resourceTags"
        )
    if resource_type in ARN_ONLY_TYPES and (len(arns) != 1 or mode != "ALL" or filters or target.get("parameters")):
        found.append(
            f"{path}: a {resource_type} target takes exactly one ARN, selectionMode ALL, and no filters or parameters"
        )
    return found


def _parameter_problems(path: str, action: Action, parameters: Mapping[str, Any]) -> list[str]:
    found = []
    for key in parameters:
        if key not in action.parameters:
            known = ", ".join(action.parameters) or "none"
            found.append(f"{path}.parameters.{key}: unknown parameter; accepted {known}")
    for key, rule in action.parameters.items():
        value = parameters.get(key)
        if value is None:
            if rule.required:
                found.append(f"{path}.parameters.{key}: missing; it is required")
            continue
        if not isinstance(value, str):
            found.append(f"{path}.parameters.{key}: got {_got(value)}; accepted a string")
            continue
        if len(value) > MAX_PARAMETER_CHARS:
            found.append(
                f"{path}.parameters.{key}: got {len(value)} characters; accepted at most {MAX_PARAMETER_CHARS}"
            )
            continue
        accepted = rule.check(value)
        if accepted is not None:
            found.append(f"{path}.parameters.{key}: got {_got(value)}; accepted {accepted}")
    return found


def _action_problems(name: str, spec: Mapping[str, Any], targets: Mapping[str, Any]) -> list[str]:
    path = f"actions.{name}"
    action_id = spec.get("actionId")
    action = ACTIONS.get(action_id) if isinstance(action_id, str) else None
    if action is None:
        return [f"{path}.actionId: got {_got(action_id)}; accepted one of {', '.join(ACTIONS)}"]
    found = _parameter_problems(path, action, spec.get("parameters") or {})
    named = spec.get("targets") or {}
    expected = set() if action.target_key is None else {action.target_key}
    for key in set(named) - expected:
        found.append(
            f"{path}.targets.{key}: unexpected target key; accepted {action.target_key or 'no target'} for {action_id}"
        )
    for key in expected - set(named):
        found.append(f"{path}.targets.{key}: missing; {action_id} needs its target")
    for key in set(named) & expected:
        target = targets.get(named[key])
        if target is None:
            found.append(
                f"{path}.targets.{key}: got {_got(named[key])}; accepted one of the template's targets ({', '.join(targets)})"
            )
        elif target.get("resourceType") != action.resource_type:
            found.append(
                f"targets.{named[key]}.resourceType: got {_got(target.get('resourceType'))}; "
                f"accepted {action.resource_type} for {action_id}"
            )
    return found


def template_problems(template: Mapping[str, Any]) -> list[str]:
    """Every problem of a template in the API's shape; [] when FIS's documented rules all hold."""
    actions = template.get("actions") or {}
    targets = template.get("targets") or {}
    found = _stop_condition_problems(template.get("stopConditions"))
    if not actions:
        found.append("actions: got none; accepted 1 to 20 actions")
    if len(actions) > MAX_ACTIONS:
        found.append(f"actions: got {len(actions)}; accepted at most {MAX_ACTIONS}")
    for kind, names in (("actions", actions), ("targets", targets)):
        found += [
            f"{kind}.{name}: name longer than {MAX_NAME_CHARS} characters"
            for name in names
            if len(name) > MAX_NAME_CHARS
        ]
    for name, target in targets.items():
        found += _target_problems(name, target)
    for name, spec in actions.items():
        found += _action_problems(name, spec, targets)
    return found


def action_seconds(spec: Mapping[str, Any]) -> int:
    """How long an action runs at most, from its duration parameter; 0 for one that acts at once."""
    action = ACTIONS[spec["actionId"]]
    if action.duration_parameter is None:
        return 0
    return parse_iso_duration((spec.get("parameters") or {}).get(action.duration_parameter, "")) or 0
