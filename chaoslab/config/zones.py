"""Which availability zones the lab builds in, chosen by zone ID.

Zone names (`us-east-1a`) are shuffled per account; zone IDs (`use1-az4`) name the same physical zone
everywhere, so both the exclusions and the choice are made by ID. A zone is usable when EKS accepts
cluster subnets there (the dated table in `aws_facts.py`) and EC2 offers every configured instance
type there. A new cluster takes the lowest usable zone IDs; a running one keeps its zones, because EKS
accepts new cluster subnets only in the zones the cluster was created in (EKS user guide, "VPC and
subnet requirements").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chaoslab.config.aws_facts import EKS_UNSUPPORTED_ZONE_IDS, ZONES_AS_OF
from chaoslab.experiments.errors import ConfigError

ZONE_COUNT = 2
# Each zone's subnets take the /20 slot of its zone ID's number, so a zone that joins or leaves the
# choice never needs a CIDR another subnet still holds (subnets are replaced create-first).
ZONE_SLOTS = 8
_ZONE_ID = re.compile(r"^[a-z0-9]+-az(\d+)$")


@dataclass(frozen=True)
class Zone:
    name: str
    zone_id: str

    @property
    def slot(self) -> int:
        """0-based address slot: `use1-az4` takes slot 3."""
        match = _ZONE_ID.fullmatch(self.zone_id)
        if match is None:
            raise ValueError(f"not an availability zone ID: {self.zone_id!r}")
        return int(match.group(1)) - 1


def _exclusion(zone: Zone, region: str, offered: Mapping[str, set[str]], instance_types: Sequence[str]) -> str | None:
    if zone.zone_id in EKS_UNSUPPORTED_ZONE_IDS.get(region, ()):
        return f"{zone.zone_id}: EKS refuses cluster subnets there (EKS user guide, as of {ZONES_AS_OF})"
    missing = [name for name in instance_types if name not in offered.get(zone.zone_id, set())]
    if missing:
        return f"{zone.zone_id}: no {', '.join(missing)} offered"
    if not _ZONE_ID.fullmatch(zone.zone_id) or zone.slot >= ZONE_SLOTS:
        return f"{zone.zone_id}: no address slot in the lab's VPC"
    return None


def choose_zones(
    region: str,
    zones: Sequence[Zone],
    offered: Mapping[str, set[str]],
    instance_types: Sequence[str],
    cluster_zone_ids: Sequence[str] = (),
) -> tuple[Zone, ...]:
    """The zones to build in; `offered` maps zone ID to its instance types.

    `cluster_zone_ids` are the running cluster's zones (empty before it exists). Raises ConfigError
    naming `nodes.instanceTypes`, the one key that moves the answer, when the zones do not do.
    """
    reasons = {zone.zone_id: _exclusion(zone, region, offered, instance_types) for zone in zones}
    usable = sorted((zone for zone in zones if reasons[zone.zone_id] is None), key=lambda zone: zone.slot)
    excluded = [reason for reason in reasons.values() if reason]
    if cluster_zone_ids:
        lost = [
            why
            for zone_id in cluster_zone_ids
            if (why := reasons.get(zone_id, f"{zone_id}: not an available zone")) is not None
        ]
        if lost:
            raise ConfigError(
                [
                    f"chaos-lab:nodes.instanceTypes: got {list(instance_types)!r}; accepted instance types offered in the "
                    f"cluster's zones ({', '.join(cluster_zone_ids)}), which EKS fixes when it creates a cluster: {'; '.join(lost)}"
                ]
            )
        return tuple(zone for zone in usable if zone.zone_id in cluster_zone_ids)
    if len(usable) < ZONE_COUNT:
        raise ConfigError(
            [
                f"chaos-lab:nodes.instanceTypes: got {list(instance_types)!r}; accepted instance types that {region} "
                f"offers in at least {ZONE_COUNT} availability zones EKS supports. Usable: "
                f"{', '.join(zone.zone_id for zone in usable) or 'none'}; excluded: {'; '.join(excluded) or 'none'}"
            ]
        )
    return tuple(usable[:ZONE_COUNT])
