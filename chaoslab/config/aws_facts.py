"""Dated AWS facts the lab decides with: EKS support windows, zones EKS refuses, and us-east-1 list prices.

All change over time, so they live here, in one place, with the day they were read. Refresh them
from the EKS Kubernetes version calendar, the EKS user guide's subnet requirements and the AWS Price
List API (`boto3.client("pricing")`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

FACTS_AS_OF = date(2026, 11, 27)


class SupportTier(StrEnum):
    STANDARD = "standard"
    EXTENDED = "extended"
    ENDED = "ended"


@dataclass(frozen=True)
class EksVersion:
    minor: str
    standard_support_ends: date
    # Extended support is the 12 months after standard support, billed at the extended rate.
    extended_support_ends: date

    def tier_on(self, day: date) -> SupportTier:
        if day <= self.standard_support_ends:
            return SupportTier.STANDARD
        if day <= self.extended_support_ends:
            return SupportTier.EXTENDED
        return SupportTier.ENDED


EKS_VERSIONS: tuple[EksVersion, ...] = (
    EksVersion("1.31", date(2025, 11, 26), date(2026, 11, 26)),
    EksVersion("1.32", date(2026, 3, 23), date(2027, 3, 23)),
    EksVersion("1.33", date(2026, 7, 29), date(2027, 7, 29)),
    EksVersion("1.34", date(2026, 12, 2), date(2027, 12, 2)),
    EksVersion("1.35", date(2027, 3, 27), date(2028, 3, 27)),
)

# A lab that is rebuilt every few weeks should not land on a version whose cheap support is about to end.
MIN_STANDARD_SUPPORT_LEFT_DAYS = 90

# Versions before this one are past, or close to, the end of extended support and cost 6x when they run.
OLDEST_ACCEPTED_VERSION = "1.33"


# Zone IDs (the same physical zone in every account, unlike zone names) where EKS refuses cluster subnets,
# by region. From the EKS User Guide, "View Amazon EKS networking requirements for VPC and subnets",
# section "Subnet requirements for clusters" (awsdocs/amazon-eks-user-guide
# latest/ug/networking/network-reqs.adoc, read on ZONES_AS_OF).
ZONES_AS_OF = date(2026, 12, 1)
EKS_UNSUPPORTED_ZONE_IDS: dict[str, tuple[str, ...]] = {
    "us-east-1": ("use1-az3",),
    "us-west-1": ("usw1-az2",),
    "ca-central-1": ("cac1-az3",),
}


def version_key(minor: str) -> tuple[int, int]:
    major, minor_number = minor.split(".")
    return int(major), int(minor_number)


def recommended_version(day: date) -> str:
    """Newest version in standard support with at least MIN_STANDARD_SUPPORT_LEFT_DAYS of it left on `day`."""
    candidates = [
        version
        for version in EKS_VERSIONS
        if (version.standard_support_ends - day).days >= MIN_STANDARD_SUPPORT_LEFT_DAYS
    ]
    if not candidates:
        raise LookupError(f"no EKS version in the dated table has standard support left on {day}: refresh the table")
    return max(candidates, key=lambda version: version_key(version.minor)).minor


def support_tier(minor: str, day: date) -> SupportTier:
    """Tier of `minor` on `day`; a version newer than the table is assumed to be in standard support."""
    for version in EKS_VERSIONS:
        if version.minor == minor:
            return version.tier_on(day)
    return SupportTier.STANDARD


@dataclass(frozen=True)
class PriceTable:
    """us-east-1 list prices in USD per hour unless the name says otherwise."""

    as_of: date
    control_plane_per_hour: dict[SupportTier, float]
    on_demand_per_hour: dict[str, float]
    # Spot prices move by pool and hour; for these types they commonly sit 60-70 % below on-demand.
    spot_fraction_of_on_demand: float
    nat_gateway_per_hour: float
    public_ipv4_per_hour: float
    gp3_per_gib_month: float
    hours_per_month: float
    # CloudWatch (https://aws.amazon.com/cloudwatch/pricing/, first tier, before the free tier): a
    # custom metric costs the same at one-second resolution; what high resolution adds is the calls.
    cloudwatch_metric_per_month: float
    cloudwatch_high_resolution_alarm_per_month: float
    cloudwatch_composite_alarm_per_month: float
    cloudwatch_dashboard_per_month: float
    cloudwatch_requests_per_thousand: float  # PutMetricData and the other metric API calls
    # AWS FIS bills each action's run time, rounded to the nearest minute, whatever it targets
    # (https://aws.amazon.com/fis/pricing/).
    fis_per_action_minute: float


PRICES = PriceTable(
    as_of=FACTS_AS_OF,
    control_plane_per_hour={
        SupportTier.STANDARD: 0.10,
        SupportTier.EXTENDED: 0.60,
        # EKS upgrades a cluster whose extended support ended onto the next minor, itself in extended support.
        SupportTier.ENDED: 0.60,
    },
    on_demand_per_hour={"t3.medium": 0.0416, "t3a.medium": 0.0376, "t2.medium": 0.0464},
    spot_fraction_of_on_demand=0.35,
    nat_gateway_per_hour=0.045,
    public_ipv4_per_hour=0.005,
    gp3_per_gib_month=0.08,
    hours_per_month=730.0,
    cloudwatch_metric_per_month=0.30,
    cloudwatch_high_resolution_alarm_per_month=0.30,
    cloudwatch_composite_alarm_per_month=0.50,
    cloudwatch_dashboard_per_month=3.00,
    cloudwatch_requests_per_thousand=0.01,
    fis_per_action_minute=0.10,
)
