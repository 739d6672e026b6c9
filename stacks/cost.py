"""Estimated hourly cost of what a stack declares, from the one dated price table in `aws_facts`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from chaoslab.config import topology
from chaoslab.config.aws_facts import FACTS_AS_OF, PRICES, PriceTable, SupportTier, support_tier
from chaoslab.config.model import CapacityType, LabConfig, NatGateways, parse_config
from chaoslab.prober import figures
from chaoslab.samples import ErrorKind
from components.steady_state import alarm_definitions

# With no NAT gateway the lab has no private subnets; with `single` exactly one gateway serves both zones.
NAT_GATEWAY_COUNT = {NatGateways.NONE: 0, NatGateways.SINGLE: 1}


@dataclass(frozen=True)
class SteadyStateCost:
    """What the in-cluster steady state adds to the CloudWatch bill."""

    metrics: int
    high_resolution_alarms: int
    composite_alarms: int
    dashboards: int
    put_metric_data_per_hour: float

    def per_hour(self, prices: PriceTable) -> float:
        monthly = (
            self.metrics * prices.cloudwatch_metric_per_month
            + self.high_resolution_alarms * prices.cloudwatch_high_resolution_alarm_per_month
            + self.composite_alarms * prices.cloudwatch_composite_alarm_per_month
            + self.dashboards * prices.cloudwatch_dashboard_per_month
        )
        return (
            monthly / prices.hours_per_month
            + self.put_metric_data_per_hour * prices.cloudwatch_requests_per_thousand / 1000
        )

    def describe(self) -> str:
        return (
            f"{self.metrics} metrics, {self.high_resolution_alarms} high-res + {self.composite_alarms} composite alarms, "
            f"{self.dashboards} dashboard, {self.put_metric_data_per_hour:g} PutMetricData/h"
        )


def steady_state_cost(config: LabConfig) -> SteadyStateCost | None:
    """Counted from what the prober publishes and the stack declares, not typed in."""
    if not config.steady_state.enabled:
        return None
    target = topology.frontend_url(config.sandbox_namespace, config.steady_state.path)
    # Every series a prober publishes: each latency percentile and each error kind, all non-empty.
    everything = figures.IntervalFigures(
        started_at=0.0,
        requests=1,
        ok=1,
        not_sent=0,
        latency_ms=dict.fromkeys(figures.LATENCY_PERCENTILES, 1.0),
        errors=dict.fromkeys(ErrorKind, 0),
    )
    return SteadyStateCost(
        metrics=len(figures.metric_data(everything, config.stack, target)),
        high_resolution_alarms=len(alarm_definitions(config.stack, target, config.steady_state)),
        composite_alarms=1,
        dashboards=1,
        put_metric_data_per_hour=3600 / figures.PUBLISH_INTERVAL_S,
    )


@dataclass(frozen=True)
class CostInputs:
    support_tier: SupportTier
    spot: bool
    instance_types: Sequence[str]
    node_count: int
    disk_size_gib: int
    nat_gateway_count: int
    nodes_have_public_ips: bool
    steady_state: SteadyStateCost | None = None


@dataclass(frozen=True)
class CostEstimate:
    total_per_hour: float
    breakdown_per_hour: dict[str, float]
    notes: tuple[str, ...]

    def as_output(self) -> dict[str, object]:
        return {
            "totalUsdPerHour": round(self.total_per_hour, 4),
            "breakdownUsdPerHour": {item: round(cost, 4) for item, cost in self.breakdown_per_hour.items()},
            "notes": list(self.notes),
        }


def estimate_hourly_cost(inputs: CostInputs, prices: PriceTable = PRICES) -> CostEstimate:
    """List-price estimate; spot is an estimate by construction, and says so in its notes."""
    notes = [f"us-east-1 list prices as of {prices.as_of.isoformat()}"]
    if inputs.steady_state is not None:
        notes.append("CloudWatch priced without its free tier (10 metrics, 10 standard alarms, 3 dashboards)")
    known = [prices.on_demand_per_hour[name] for name in inputs.instance_types if name in prices.on_demand_per_hour]
    unknown = [name for name in inputs.instance_types if name not in prices.on_demand_per_hour]
    if unknown:
        notes.append(f"no price on file for {', '.join(unknown)}: nodes are priced as the dearest known type")
    # The dearest listed type, so the estimate errs high whichever pool spot capacity comes from.
    node_price = max(known, default=0.0)
    if not known:
        notes.append("no listed instance type has a price on file: node cost shows as 0")
    capacity = "on-demand"
    if inputs.spot:
        node_price *= prices.spot_fraction_of_on_demand
        capacity = "spot"
        notes.append(
            f"spot priced at {prices.spot_fraction_of_on_demand:.0%} of on-demand; real spot prices move by pool and hour"
        )
    public_ips = inputs.nat_gateway_count + (inputs.node_count if inputs.nodes_have_public_ips else 0)
    breakdown = {
        f"controlPlane ({inputs.support_tier.value} support)": prices.control_plane_per_hour[inputs.support_tier],
        f"nodes ({inputs.node_count} x {capacity})": inputs.node_count * node_price,
        f"natGateways ({inputs.nat_gateway_count})": inputs.nat_gateway_count * prices.nat_gateway_per_hour,
        f"publicIpv4 ({public_ips})": public_ips * prices.public_ipv4_per_hour,
        f"nodeVolumes ({inputs.node_count} x {inputs.disk_size_gib} GiB gp3)": inputs.node_count
        * inputs.disk_size_gib
        * prices.gp3_per_gib_month
        / prices.hours_per_month,
        f"steadyState ({inputs.steady_state.describe() if inputs.steady_state else 'none'})": (
            inputs.steady_state.per_hour(prices) if inputs.steady_state else 0.0
        ),
    }
    return CostEstimate(total_per_hour=sum(breakdown.values()), breakdown_per_hour=breakdown, notes=tuple(notes))


def cost_inputs(config: LabConfig, today: date) -> CostInputs:
    """What an EKS stack with this config declares, as far as its hourly bill goes."""
    nat_gateways = NAT_GATEWAY_COUNT[config.network.nat_gateways]
    return CostInputs(
        support_tier=support_tier(config.kubernetes_version, today),
        spot=config.nodes.capacity_type is CapacityType.SPOT,
        instance_types=config.nodes.instance_types,
        node_count=config.nodes.desired_size,
        disk_size_gib=config.nodes.disk_size_gib,
        nat_gateway_count=nat_gateways,
        nodes_have_public_ips=nat_gateways == 0,
        steady_state=steady_state_cost(config),
    )


# The write-up's `eksctl create cluster --version 1.31 --node-type t3.medium --nodes 3 --managed --spot`
# with eksctl's defaults: one NAT gateway, node groups in public subnets, 80 GiB gp3 root volumes.
WRITE_UP_SETUP = CostInputs(
    support_tier=support_tier("1.31", FACTS_AS_OF),
    spot=True,
    instance_types=("t3.medium",),
    node_count=3,
    disk_size_gib=80,
    nat_gateway_count=1,
    nodes_have_public_ips=True,
)


def comparison_table(day: date = FACTS_AS_OF) -> str:
    """Markdown table: the default dev stack against the write-up's setup, line by line."""
    lab = estimate_hourly_cost(cost_inputs(parse_config({}, stack="dev", today=day), day))
    write_up = estimate_hourly_cost(WRITE_UP_SETUP)
    rows = ["| item | chaos-lab dev (default) | write-up's eksctl setup |", "| --- | --- | --- |"]
    for (lab_item, lab_cost), (write_up_item, write_up_cost) in zip(
        lab.breakdown_per_hour.items(), write_up.breakdown_per_hour.items(), strict=True
    ):
        rows.append(
            f"| {lab_item.split(' ')[0]} | {lab_item.partition(' ')[2]} ${lab_cost:.4f} | {write_up_item.partition(' ')[2]} ${write_up_cost:.4f} |"
        )
    rows.append(f"| **total per hour** | **${lab.total_per_hour:.4f}** | **${write_up.total_per_hour:.4f}** |")
    hours = PRICES.hours_per_month
    rows.append(
        f"| per month ({hours:g} h) | ${lab.total_per_hour * hours:.2f} | ${write_up.total_per_hour * hours:.2f} |"
    )
    return "\n".join(rows)


if __name__ == "__main__":
    print(comparison_table())
