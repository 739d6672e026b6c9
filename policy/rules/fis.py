"""AWS FIS experiment templates and the role FIS acts as: stopped by alarms, aimed at named resources, bounded in time.

The template's shape is pulumi-aws's `aws:fis/experimentTemplate:ExperimentTemplate` (camelCase: `stopConditions`,
`targets[].resourceArns`, `targets[].resourceTags[{key, value}]`, `actions[].parameters[{key, value}]`). Facts from
the AWS FIS User Guide (https://docs.aws.amazon.com/fis/latest/userguide/): a stop condition's source is
`aws:cloudwatch:alarm` or `none` (stop-conditions.html); a target names resources by ARNs or by tags
(targets.html); the trust conditions are those of getting-started-iam-service-role.html.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from .pack_config import MAX_DURATION_SCHEMA, format_duration, max_duration
from .props import items, mapping

TEMPLATE_TYPE = "aws:fis/experimentTemplate:ExperimentTemplate"
ROLE_TYPE = "aws:iam/role:Role"
ALARM_SOURCE = "aws:cloudwatch:alarm"
FIS_SERVICE = "fis.amazonaws.com"
# The parameters that say how long an action runs (fis-actions-reference.html).
DURATION_PARAMETERS = ("duration", "durationBeforeInterruption", "maxDuration", "startInstancesAfterDuration")
# `maxDuration` is a watchdog past the chaos object's own duration, which the lab rounds up to the next minute.
WATCHDOG_MARGIN_S = 60
_ISO = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")


def _iso_seconds(text: Any) -> int | None:
    match = _ISO.fullmatch(text) if isinstance(text, str) and text != "PT" else None
    if match is None:
        return None
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _pairs(value: Any) -> dict[str, Any]:
    return {str(mapping(pair).get("key")): mapping(pair).get("value") for pair in items(value)}


# --- fis-stop-conditions-required -----------------------------------------------------------------


def validate_stop_conditions(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != TEMPLATE_TYPE:
        return
    conditions = items(args.props.get("stopConditions"))
    if not conditions:
        report_violation(
            "stopConditions: got none; accepted at least one CloudWatch alarm, so a breach stops the run", None
        )
    for index, condition in enumerate(map(mapping, conditions)):
        if condition.get("source") != ALARM_SOURCE or not condition.get("value"):
            report_violation(
                f"stopConditions[{index}].source: got {condition.get('source')!r}; accepted {ALARM_SOURCE!r} with an alarm ARN, "
                "never 'none': an experiment nothing can stop runs on through an outage",
                None,
            )


fis_stop_conditions_required = ResourceValidationPolicy(
    name="fis-stop-conditions-required",
    description="Every FIS experiment template stops on at least one CloudWatch alarm and has no stop condition `none`.",
    validate=validate_stop_conditions,
    enforcement_level=EnforcementLevel.MANDATORY,
)

# --- fis-targets-scoped ---------------------------------------------------------------------------


def _target_problems(index: int, target: Mapping[str, Any]) -> Iterator[str]:
    path = f"targets[{index}]"
    arns = [str(arn) for arn in items(target.get("resourceArns"))]
    tags = _pairs(target.get("resourceTags"))
    if not arns and not tags:
        yield f"{path}: got neither resourceArns nor resourceTags, so FIS selects every {target.get('resourceType')} in the account; accepted the lab's own resources by ARN or tag"
    for arn in arns:
        if "*" in arn:
            yield f"{path}.resourceArns: got {arn!r}; accepted full ARNs without wildcards"
    for key, value in tags.items():
        if not value or "*" in str(value) or "*" in key:
            yield f"{path}.resourceTags.{key}: got {value!r}; accepted a non-empty tag without wildcards"


def validate_targets_scoped(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != TEMPLATE_TYPE:
        return
    for index, target in enumerate(map(mapping, items(args.props.get("targets")))):
        for problem in _target_problems(index, target):
            report_violation(problem, None)


fis_targets_scoped = ResourceValidationPolicy(
    name="fis-targets-scoped",
    description="Every FIS target names its resources by ARN or by tag, without wildcards: never a whole account's resources of a type.",
    validate=validate_targets_scoped,
    enforcement_level=EnforcementLevel.MANDATORY,
)

# --- fis-durations-bounded ------------------------------------------------------------------------


def validate_durations_bounded(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != TEMPLATE_TYPE:
        return
    ceiling, ceiling_s = max_duration(args.get_config())
    for index, action in enumerate(map(mapping, items(args.props.get("actions")))):
        parameters = _pairs(action.get("parameters"))
        for key in DURATION_PARAMETERS:
            if key not in parameters:
                continue
            seconds = _iso_seconds(parameters[key])
            limit_s = ceiling_s + (WATCHDOG_MARGIN_S if key == "maxDuration" else 0)
            if seconds is None or seconds > limit_s:
                report_violation(
                    f"actions[{index}].parameters.{key}: got {parameters[key]!r}; accepted an ISO 8601 duration of at most "
                    f"{format_duration(limit_s)} (maxExperimentDuration {ceiling}"
                    f"{', plus a minute for the watchdog' if key == 'maxDuration' else ''})",
                    None,
                )


fis_durations_bounded = ResourceValidationPolicy(
    name="fis-durations-bounded",
    description="Every FIS action's duration (duration, notice, restart delay) is within the maximum experiment duration; a custom resource's maxDuration within it plus one minute.",
    validate=validate_durations_bounded,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=MAX_DURATION_SCHEMA,
)

# --- fis-role-trust-pinned ------------------------------------------------------------------------


def _trusts_fis(statement: Mapping[str, Any]) -> bool:
    service = mapping(statement.get("Principal")).get("Service")
    services = [service] if isinstance(service, str) else [str(item) for item in items(service)]
    return FIS_SERVICE in services


def validate_fis_trust(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != ROLE_TYPE:
        return
    document = args.props.get("assumeRolePolicy")
    try:
        policy = json.loads(document) if isinstance(document, str) else mapping(document)
    except json.JSONDecodeError:
        return
    statements = policy.get("Statement")
    for index, statement in enumerate(
        map(mapping, [statements] if isinstance(statements, Mapping) else items(statements))
    ):
        if not _trusts_fis(statement):
            continue
        condition = mapping(statement.get("Condition"))
        if not mapping(condition.get("StringEquals")).get("aws:SourceAccount"):
            report_violation(
                f"Statement[{index}].Condition.StringEquals.aws:SourceAccount: missing; accepted this account's ID",
                None,
            )
        source_arn = mapping(condition.get("ArnLike")).get("aws:SourceArn") or mapping(condition.get("ArnEquals")).get(
            "aws:SourceArn"
        )
        if not source_arn or not str(source_arn).startswith("arn:") or ":fis:" not in str(source_arn):
            report_violation(
                f"Statement[{index}].Condition.ArnLike.aws:SourceArn: missing; accepted arn:aws:fis:<region>:<account>:experiment/*",
                None,
            )


fis_role_trust_pinned = ResourceValidationPolicy(
    name="fis-role-trust-pinned",
    description="A role FIS may assume pins the account (aws:SourceAccount) and this account's FIS experiments (aws:SourceArn).",
    validate=validate_fis_trust,
    enforcement_level=EnforcementLevel.MANDATORY,
)
