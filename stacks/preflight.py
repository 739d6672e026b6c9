"""What the program reads from the AWS account before it declares anything.

Two answers depend on the account rather than on the config alone: which zones can hold the lab, and
which Kubernetes version the cluster runs now. The second is read from EKS itself (the running
control plane), not from the stack's state or a config key, because it is the version EKS will
compare the request against: a key recording it could be stale, and a program cannot read its own
stack's outputs. Either problem stops the program with the config key named, before any resource.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from chaoslab.config.model import LabConfig, kubernetes_version_step_problem
from chaoslab.config.zones import Zone, choose_zones
from chaoslab.experiments.errors import ConfigError


def usable_zones(config: LabConfig, region: str, cluster_zone_ids: Sequence[str]) -> tuple[Zone, ...]:
    """Raises ConfigError when the region, or the running cluster's zones, leave fewer zones than the lab needs."""
    # Only real availability zones: Local and Wavelength Zones cannot hold EKS cluster subnets.
    found = aws.get_availability_zones(
        state="available", filters=[aws.GetAvailabilityZonesFilterArgs(name="zone-type", values=["availability-zone"])]
    )
    offerings = aws.ec2.get_instance_type_offerings(
        location_type="availability-zone-id",
        filters=[
            aws.ec2.GetInstanceTypeOfferingsFilterArgs(name="instance-type", values=list(config.nodes.instance_types))
        ],
    )
    offered: dict[str, set[str]] = {}
    for instance_type, zone_id in zip(offerings.instance_types, offerings.locations, strict=True):
        offered.setdefault(zone_id, set()).add(instance_type)
    zones = [Zone(name=name, zone_id=zone_id) for name, zone_id in zip(found.names, found.zone_ids, strict=True)]
    return choose_zones(region, zones, offered, config.nodes.instance_types, cluster_zone_ids)


@dataclass(frozen=True)
class RunningCluster:
    version: str
    zone_ids: tuple[str, ...]


def running_cluster(cluster_name: str) -> RunningCluster | None:
    """The control plane EKS runs under this name now, or None before it exists."""
    if cluster_name not in aws.eks.get_clusters().names:
        return None
    cluster = aws.eks.get_cluster(name=cluster_name)
    zone_ids = sorted(
        {aws.ec2.get_subnet(id=subnet_id).availability_zone_id for subnet_id in cluster.vpc_config.subnet_ids}
    )
    return RunningCluster(version=cluster.version, zone_ids=tuple(zone_ids))


def preflight(config: LabConfig, cluster_name: str) -> tuple[Zone, ...]:
    """The zones to build in. Raises pulumi.RunError listing every problem, as config errors do."""
    problems: list[str] = []
    zones: tuple[Zone, ...] = ()
    running = running_cluster(cluster_name)
    try:
        zones = usable_zones(config, pulumi.Config("aws").require("region"), running.zone_ids if running else ())
    except ConfigError as error:
        problems.extend(error.problems)
    step = kubernetes_version_step_problem(running.version if running else None, config.kubernetes_version)
    if step is not None:
        problems.append(step)
    if problems:
        raise pulumi.RunError(str(ConfigError(problems)))
    return zones
