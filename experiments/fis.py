"""Infrastructure experiments run by AWS FIS, as catalog entries beside the Chaos Mesh ones.

Three entries act on what Chaos Mesh cannot reach (`FIS_CATALOG`): a spot interruption, the loss of
part of the managed node group, and one zone's subnets cut off. Any Chaos Mesh entry may also run
through FIS (`engine: fis`), as `aws:eks:inject-kubernetes-custom-resource`, so FIS's stop conditions
and safety lever cover it too.

A `FisExperiment` renders its experiment template in the API's shape from `LabRefs`: the lab's own
resources (cluster, node group, zones), which are plain strings when the config is checked and Pulumi
outputs when the component declares the template. Every target is the lab's by ARN or by a tag only
the lab's resources carry; none is ever account-wide. Pure: imports no Pulumi.
"""

from __future__ import annotations

import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any

from . import values
from .catalog import Overridable, Problem, param
from .durations import format_duration, parse_duration
from .fence import Fence
from .fis_actions import ALARM_SOURCE, MAX_PARAMETER_CHARS, action_seconds, iso_duration, template_problems
from .model import Experiment, Schedule
from .values import Invalid, show

# EKS tags every instance of a managed node group with its cluster's name (propagated from the group's Auto
# Scaling group).
CLUSTER_NAME_TAG = "eks:cluster-name"
# The lab tags its managed node group with its cluster's name under this key, so FIS finds the group by tag:
# the group's own name carries a random suffix (it is replaced create-before-delete), and an ARN would
# name one generation of it.
LAB_NODE_GROUP_TAG = "chaos-lab/node-group"
# The tag the lab's network puts on every subnet of its VPC (components/network.py).
SUBNET_CLUSTER_TAG_PREFIX = "kubernetes.io/cluster/"
SUBNET_CLUSTER_TAG_VALUE = "shared"
# Tags on every template, and on every experiment `chaoslab` starts, so `halt` finds this stack's runs.
STACK_TAG = "chaos-lab:stack"
ENTRY_TAG = "chaos-lab:experiment"
# FIS's shortest action and notice.
MIN_FIS_DURATION_S = 60
SPOT_NOTICE_RANGE_S = (120, 900)
_AZ_NAME = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d[a-z]$")
_AZ_ID = re.compile(r"^[a-z]{3,4}\d*-az\d+$")


class Engine(Enum):
    """Who creates a Chaos Mesh entry's object: the Pulumi program (as a stack resource) or FIS at run time."""

    CHAOS_MESH = "chaos-mesh"
    FIS = "fis"


class NetworkScope(Enum):
    """What `aws:network:disrupt-connectivity` denies; `prefix-list` needs a list the lab does not make."""

    ALL = "all"
    AVAILABILITY_ZONE = "availability-zone"
    DYNAMODB = "dynamodb"
    S3 = "s3"
    VPC = "vpc"


@dataclass(frozen=True)
class FisLab:
    """What the lab runs FIS against, as far as config can tell before `up`."""

    node_group: str
    spot: bool
    nodes: int  # the node group's desired size
    zones: tuple[str, ...] = ()  # known once the network is declared; empty while reading config


@dataclass(frozen=True)
class LabRefs:
    """The lab's resources a template names: strings when checking config, outputs when declaring."""

    stack: str
    cluster_name: Any
    cluster_arn: Any
    zones: Sequence[str]  # the lab's zones, in the network's order

    @classmethod
    def placeholders(cls, stack: str, cluster_name: str) -> LabRefs:
        """ARN-shaped stand-ins, so a template can be checked against FIS's rules before anything exists."""
        account, region = "123456789012", "us-east-1"
        return cls(
            stack=stack,
            cluster_name=cluster_name,
            cluster_arn=f"arn:aws:eks:{region}:{account}:cluster/{cluster_name}",
            zones=(f"{region}a", f"{region}b"),
        )


def _minutes(raw: Any) -> str:
    """A lab-style duration (`2m`, `90s`) that is a whole number of minutes."""
    text = values.duration(raw)
    seconds = parse_duration(text)
    if seconds < MIN_FIS_DURATION_S or not float(seconds / 60).is_integer():
        raise Invalid("a whole number of minutes, at least 1m, such as 2m or 5m", "FIS takes whole minutes here")
    return text


def _zone(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, str) and (_AZ_NAME.fullmatch(raw) or _AZ_ID.fullmatch(raw)):
        return raw
    raise Invalid("one of the lab's availability zones by name (us-east-1a) or ID (use1-az1), or null for the first")


def zone_filter_path(zone: str) -> str:
    """The DescribeSubnets field a zone is matched on: its name or its ID."""
    return "AvailabilityZoneId" if _AZ_ID.fullmatch(zone) else "AvailabilityZone"


def _target(
    resource_type: str,
    *,
    arns: Sequence[Any] = (),
    tags: Mapping[str, Any] | None = None,
    mode: str = "ALL",
    filters: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    target: dict[str, Any] = {"resourceType": resource_type, "selectionMode": mode}
    if arns:
        target["resourceArns"] = list(arns)
    if tags:
        target["resourceTags"] = dict(tags)
    if filters:
        target["filters"] = [dict(item) for item in filters]
    return target


class FisPlan(ABC):
    """What one FIS experiment does: its actions and targets, in words and as the API's dicts."""

    @abstractmethod
    def actions_and_targets(self, refs: LabRefs) -> tuple[dict[str, Any], dict[str, Any]]: ...

    @abstractmethod
    def action_text(self) -> str: ...

    @abstractmethod
    def target_text(self, lab: FisLab) -> str: ...

    def problems(self, fence: Fence, lab: FisLab) -> list[Problem]:
        return []


@dataclass(frozen=True, kw_only=True)
class SpotInterruptionParameters(Overridable, FisPlan):
    instances: int = param("instances", values.whole_number(1, 100))
    notice: str = param("notice", _minutes)

    def problems(self, fence: Fence, lab: FisLab) -> list[Problem]:
        found: list[Problem] = []
        if not lab.spot:
            found.append(
                (
                    "",
                    "FIS sends interruptions only to spot instances; accepted only with chaos-lab:nodes.capacityType SPOT",
                )
            )
        if self.instances >= lab.nodes:
            found.append(
                (
                    "instances",
                    f"got {self.instances} of the {lab.nodes} nodes in {lab.node_group}; accepted at most "
                    f"{lab.nodes - 1}, so a node is left to reschedule onto",
                )
            )
        low, high = SPOT_NOTICE_RANGE_S
        notice_s = parse_duration(self.notice)
        if not low <= notice_s <= high:
            found.append(
                (
                    "notice",
                    f"got {show(self.notice)}; accepted {format_duration(low)} to {format_duration(high)} (FIS's range)",
                )
            )
        elif notice_s > fence.max_duration_s:
            found.append(
                (
                    "notice",
                    f"got {show(self.notice)}; accepted at most {format_duration(fence.max_duration_s)} "
                    "(chaos-lab:maxExperimentDuration): the notice is the action's run time",
                )
            )
        return found

    def actions_and_targets(self, refs: LabRefs) -> tuple[dict[str, Any], dict[str, Any]]:
        target = _target(
            "aws:ec2:spot-instance",
            # Only the lab's node group runs nodes in the lab's cluster.
            tags={CLUSTER_NAME_TAG: refs.cluster_name},
            mode=f"COUNT({self.instances})",
            # A terminated instance in the selection gets the whole run cancelled.
            filters=[{"path": "State.Name", "values": ["running"]}],
        )
        action = {
            "actionId": "aws:ec2:send-spot-instance-interruptions",
            "parameters": {"durationBeforeInterruption": iso_duration(parse_duration(self.notice))},
            "targets": {"SpotInstances": "spot-nodes"},
        }
        return {"interrupt": action}, {"spot-nodes": target}

    def action_text(self) -> str:
        return f"spot interruption with {self.notice} notice (rebalance recommendation at once, then the instance is reclaimed)"

    def target_text(self, lab: FisLab) -> str:
        return f"{self.instances} of {lab.nodes} spot nodes in {lab.node_group}"


@dataclass(frozen=True, kw_only=True)
class NodeGroupLossParameters(Overridable, FisPlan):
    percentage: int = param("percentage", values.whole_number(1, 100))

    def _terminated(self, lab: FisLab) -> int:
        return math.floor(lab.nodes * self.percentage / 100)

    def problems(self, fence: Fence, lab: FisLab) -> list[Problem]:
        terminated = self._terminated(lab)
        if terminated == 0:
            return [
                (
                    "percentage",
                    f"got {self.percentage}: that is no whole node of {lab.nodes}; accepted at least "
                    f"{math.ceil(100 / lab.nodes)}",
                )
            ]
        if terminated >= lab.nodes:
            return [
                (
                    "percentage",
                    f"got {self.percentage}: that is every node of {lab.node_group}; accepted at most "
                    f"{math.floor(100 * (lab.nodes - 1) / lab.nodes)}, so a node is left to reschedule onto",
                )
            ]
        return []

    def actions_and_targets(self, refs: LabRefs) -> tuple[dict[str, Any], dict[str, Any]]:
        action = {
            "actionId": "aws:eks:terminate-nodegroup-instances",
            "parameters": {"instanceTerminationPercentage": str(self.percentage)},
            "targets": {"Nodegroups": "node-group"},
        }
        return {"terminate": action}, {
            "node-group": _target("aws:eks:nodegroup", tags={LAB_NODE_GROUP_TAG: refs.cluster_name})
        }

    def action_text(self) -> str:
        return f"terminate {self.percentage}% of the node group's instances; the group launches replacements"

    def target_text(self, lab: FisLab) -> str:
        # FIS does not document how it rounds the percentage: the lab's checks use the floor.
        return f"{self._terminated(lab)} of {lab.nodes} nodes in {lab.node_group} ({self.percentage}%)"


@dataclass(frozen=True, kw_only=True)
class ZoneOutageParameters(Overridable, FisPlan):
    zone: str | None = param("zone", _zone)
    duration: str = param("duration", _minutes)
    scope: NetworkScope = param("scope", values.one_of(NetworkScope))

    def problems(self, fence: Fence, lab: FisLab) -> list[Problem]:
        if parse_duration(self.duration) > fence.max_duration_s:
            longest = format_duration(fence.max_duration_s)
            return [
                ("duration", f"got {show(self.duration)}; accepted at most {longest} (chaos-lab:maxExperimentDuration)")
            ]
        return []

    def chosen_zone(self, zones: Sequence[str]) -> str:
        return self.zone if self.zone is not None else zones[0]

    def actions_and_targets(self, refs: LabRefs) -> tuple[dict[str, Any], dict[str, Any]]:
        zone = self.chosen_zone(refs.zones)
        target = _target(
            "aws:ec2:subnet",
            tags={f"{SUBNET_CLUSTER_TAG_PREFIX}{refs.cluster_name}": SUBNET_CLUSTER_TAG_VALUE},
            filters=[{"path": zone_filter_path(zone), "values": [zone]}],
        )
        action = {
            "actionId": "aws:network:disrupt-connectivity",
            "parameters": {"scope": self.scope.value, "duration": iso_duration(parse_duration(self.duration))},
            "targets": {"Subnets": "zone-subnets"},
        }
        return {"disrupt": action}, {"zone-subnets": target}

    def action_text(self) -> str:
        return f"deny {self.scope.value} traffic in and out of the zone's subnets for {self.duration} (a cloned network ACL)"

    def target_text(self, lab: FisLab) -> str:
        zone = self.chosen_zone(lab.zones) if lab.zones else self.zone or "the lab's first zone"
        return f"the lab's subnets in {zone}, and the nodes of {lab.node_group} in them"


@dataclass(frozen=True)
class ChaosMeshThroughFis(FisPlan):
    """A Chaos Mesh entry's object, created in the sandbox by FIS instead of by the Pulumi program."""

    experiment: Experiment
    workloads: Mapping[str, int]

    def kubernetes_spec(self) -> str:
        # Compact, as the 1024-character limit applies to this text.
        return json.dumps(self.experiment.manifest()["spec"], separators=(",", ":"), sort_keys=True)

    def max_duration_s(self) -> int:
        """The action's watchdog: the next whole minute past the chaos's own bound. A chaos duration that
        does not end before maxDuration fails the action ("Action exceeded the specified maximum
        duration", tae2089/fis-chaos README.md)."""
        bound = self.experiment.chaos.bound_s() or 0
        return (math.floor(bound / 60) + 1) * 60

    def problems(self, fence: Fence, lab: FisLab) -> list[Problem]:
        found: list[Problem] = []
        if isinstance(self.experiment.chaos, Schedule):
            found.append(
                (
                    "schedule",
                    "a Schedule repeats for ever, while a FIS action ends at its maxDuration; accepted "
                    "engine: fis only without a schedule (run it on demand with chaoslab run)",
                )
            )
        length = len(self.kubernetes_spec())
        if length > MAX_PARAMETER_CHARS:
            found.append(
                (
                    "engine",
                    f"the rendered spec is {length} characters; FIS takes at most {MAX_PARAMETER_CHARS} "
                    "in kubernetesSpec: accepted engine: chaos-mesh for this entry",
                )
            )
        return found

    def actions_and_targets(self, refs: LabRefs) -> tuple[dict[str, Any], dict[str, Any]]:
        manifest = self.experiment.manifest()
        action = {
            "actionId": "aws:eks:inject-kubernetes-custom-resource",
            "parameters": {
                "kubernetesApiVersion": manifest["apiVersion"],
                "kubernetesKind": manifest["kind"],
                "kubernetesNamespace": manifest["metadata"]["namespace"],
                "kubernetesSpec": self.kubernetes_spec(),
                "maxDuration": iso_duration(self.max_duration_s()),
            },
            "targets": {"Cluster": "cluster"},
        }
        return {"chaos-mesh": action}, {"cluster": _target("aws:eks:cluster", arns=[refs.cluster_arn])}

    def action_text(self) -> str:
        return f"{self.experiment.kind} through FIS: {self.experiment.chaos.action_text()}"

    def target_text(self, lab: FisLab) -> str:
        return self.experiment.chaos.blast_radius(self.workloads)


@dataclass(frozen=True)
class FisExperiment:
    """One experiment template: the entry's name, what it simulates, and its plan."""

    name: str
    simulates: str
    plan: FisPlan

    def template(self, refs: LabRefs, alarm_arns: Sequence[Any]) -> dict[str, Any]:
        """The template in the API's shape; the role, log group and tags are the component's to add."""
        actions, targets = self.plan.actions_and_targets(refs)
        return {
            "description": f"chaos-lab {refs.stack}: {self.name}",
            "stopConditions": [{"source": ALARM_SOURCE, "value": arn} for arn in alarm_arns],
            "actions": actions,
            "targets": targets,
        }

    def problems(self, refs: LabRefs, alarm_arns: Sequence[Any]) -> list[str]:
        return template_problems(self.template(refs, alarm_arns))

    def action_minutes(self) -> int:
        """Billed action-minutes of one run, at most: FIS rounds each action to the nearest minute; one that
        acts at once is counted as a minute, so the estimate errs high."""
        placeholder = LabRefs.placeholders("preview", "chaos-lab")
        actions, _ = self.plan.actions_and_targets(placeholder)
        return sum(max(1, round(action_seconds(action) / 60)) for action in actions.values())

    def describe(self, lab: FisLab, stop_conditions: Any, price_per_action_minute: float) -> dict[str, Any]:
        minutes = self.action_minutes()
        return {
            "name": self.name,
            "engine": Engine.FIS.value,
            "action": self.plan.action_text(),
            "targets": self.plan.target_text(lab),
            "stopConditions": stop_conditions,
            "actionMinutes": minutes,
            "pricePerRunUsd": round(minutes * price_per_action_minute, 2),
            "simulates": self.simulates,
        }


@dataclass(frozen=True)
class FisCatalogEntry:
    name: str
    simulates: str
    defaults: Overridable

    def parameters(self) -> dict[str, Any]:
        return self.defaults.to_plain()


_FIS_ENTRIES = (
    FisCatalogEntry(
        name="spot-interruption",
        simulates="AWS reclaiming a spot node with two minutes' notice: its pods are evicted and must come back elsewhere.",
        defaults=SpotInterruptionParameters(instances=1, notice="2m"),
    ),
    FisCatalogEntry(
        name="node-group-loss",
        simulates="Losing part of the node group at once, as when an instance type's capacity disappears.",
        # A third of the default three nodes: one node.
        defaults=NodeGroupLossParameters(percentage=34),
    ),
    FisCatalogEntry(
        name="zone-outage",
        simulates="One availability zone cut off from the network: its nodes, and the pods on them, unreachable.",
        defaults=ZoneOutageParameters(zone=None, duration="5m", scope=NetworkScope.ALL),
    ),
)

FIS_CATALOG: Mapping[str, FisCatalogEntry] = MappingProxyType({entry.name: entry for entry in _FIS_ENTRIES})
