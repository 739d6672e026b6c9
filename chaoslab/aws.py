"""AWS clients for `run`, `halt`, `resume` and `report`: the stack's Region, the operator's credentials.

The Region is the stack's `region` output, never the ambient default: a lab in eu-west-1 is operated in
eu-west-1 whatever the shell's AWS_REGION says. Credentials come from boto3's usual chain (environment,
profile, SSO). Tests give `Environment.connect_aws` a factory whose clients reach moto on loopback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from chaoslab.experiments.errors import ActionFailed, InvalidDefinition

REGION_OUTPUT = "region"
TEMPLATE_IDS_OUTPUT = "fisTemplateIds"
ALARM_ARNS_OUTPUT = "steadyStateAlarmArns"
# The two metric alarms: each names what broke. The composite (`broken`) is ALARM exactly when one of
# them is, and DescribeAlarms lists it apart from them.
STOPPING_ALARMS = ("successRate", "p95Latency")


class ConnectAws(Protocol):
    def __call__(self, service: str, region: str) -> Any: ...


def boto3_client(service: str, region: str) -> Any:
    # Imported here: `probe` must work where only the CLI's light dependencies are.
    import boto3

    # A session of its own: boto3's default session is not thread-safe, and `run` makes a client on the
    # abort watch's thread (https://boto3.amazonaws.com/v1/documentation/api/latest/guide/clients.html, Multithreading).
    return boto3.session.Session().client(service, region_name=region)


def stack_region(stack: str, outputs: Mapping[str, Any]) -> str:
    region = outputs.get(REGION_OUTPUT)
    if not isinstance(region, str) or not region:
        raise InvalidDefinition(
            f"stack {stack!r} has no `{REGION_OUTPUT}` output: FIS and CloudWatch exist only for an EKS stack "
            "(chaos-lab:clusterProvider eks) after `pulumi up`"
        )
    return region


def template_ids(outputs: Mapping[str, Any]) -> dict[str, str]:
    """The stack's FIS template IDs by entry; empty when no FIS entry is enabled."""
    return dict(outputs.get(TEMPLATE_IDS_OUTPUT) or {})


def alarm_arns(stack: str, outputs: Mapping[str, Any]) -> Sequence[str]:
    arns = outputs.get(ALARM_ARNS_OUTPUT)
    if not isinstance(arns, Mapping) or not all(isinstance(arns.get(key), str) for key in STOPPING_ALARMS):
        # ActionFailed, not InvalidDefinition: `run` reads this after its `pulumi up`, so something was changed.
        raise ActionFailed(
            f"stack {stack!r} has no `{ALARM_ARNS_OUTPUT}` output with {' and '.join(STOPPING_ALARMS)}: "
            "the steady-state alarms exist when chaos-lab:steadyState.enabled is true on an EKS stack"
        )
    return [arns[key] for key in STOPPING_ALARMS]
