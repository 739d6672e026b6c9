"""The hourly cost estimate, computed from the one dated price table."""

from __future__ import annotations

import pytest

from chaoslab.config.aws_facts import FACTS_AS_OF, PRICES, SupportTier
from chaoslab.config.model import parse_config
from pulumi_harness import PROJECT_DIR
from stacks.cost import (
    WRITE_UP_SETUP,
    CostInputs,
    comparison_table,
    cost_inputs,
    estimate_hourly_cost,
    steady_state_cost,
)

# What the default prober publishes and the stack declares, as stacks/cost.py counts it from the code.
STEADY_STATE = steady_state_cost(parse_config({}, stack="test", today=FACTS_AS_OF))
STEADY_STATE_PER_HOUR = (
    STEADY_STATE.metrics * PRICES.cloudwatch_metric_per_month
    + STEADY_STATE.high_resolution_alarms * PRICES.cloudwatch_high_resolution_alarm_per_month
    + STEADY_STATE.composite_alarms * PRICES.cloudwatch_composite_alarm_per_month
    + STEADY_STATE.dashboards * PRICES.cloudwatch_dashboard_per_month
) / PRICES.hours_per_month + STEADY_STATE.put_metric_data_per_hour * PRICES.cloudwatch_requests_per_thousand / 1000


def estimate(raw: dict):
    return estimate_hourly_cost(cost_inputs(parse_config(raw, stack="test", today=FACTS_AS_OF), FACTS_AS_OF))


def test_default_lab_priced_item_by_item():
    breakdown = estimate({}).breakdown_per_hour
    dearest_default_type = max(PRICES.on_demand_per_hour.values())
    assert breakdown == pytest.approx(
        {
            "controlPlane (standard support)": PRICES.control_plane_per_hour[SupportTier.STANDARD],
            "nodes (3 x spot)": 3 * dearest_default_type * PRICES.spot_fraction_of_on_demand,
            "natGateways (0)": 0.0,
            "publicIpv4 (3)": 3 * PRICES.public_ipv4_per_hour,
            "nodeVolumes (3 x 20 GiB gp3)": 3 * 20 * PRICES.gp3_per_gib_month / PRICES.hours_per_month,
            f"steadyState ({STEADY_STATE.describe()})": STEADY_STATE_PER_HOUR,
        }
    )


def test_private_nodes_pay_for_one_nat_gateway_and_its_address_only():
    breakdown = estimate(
        {"network": {"natGateways": "single"}, "nodes": {"capacityType": "ON_DEMAND"}}
    ).breakdown_per_hour
    assert breakdown["natGateways (1)"] == PRICES.nat_gateway_per_hour
    assert breakdown["publicIpv4 (1)"] == PRICES.public_ipv4_per_hour
    assert breakdown["nodes (3 x on-demand)"] == pytest.approx(3 * max(PRICES.on_demand_per_hour.values()))


def test_extended_support_costs_six_times_standard():
    extended = estimate({"kubernetesVersion": "1.33"}).breakdown_per_hour["controlPlane (extended support)"]
    assert extended == pytest.approx(6 * PRICES.control_plane_per_hour[SupportTier.STANDARD])


def test_estimate_says_it_is_an_estimate_and_when_it_is_from():
    notes = estimate({}).notes
    assert f"as of {FACTS_AS_OF.isoformat()}" in notes[0]
    assert any("spot priced at 35% of on-demand" in note for note in notes)


def test_unknown_instance_types_are_named_not_guessed():
    result = estimate({"nodes": {"instanceTypes": ["m7i.large", "t3.medium"]}})
    assert any("no price on file for m7i.large" in note for note in result.notes)
    only_unknown = estimate_hourly_cost(CostInputs(SupportTier.STANDARD, False, ("m7i.large",), 3, 20, 0, True))
    assert only_unknown.breakdown_per_hour["nodes (3 x on-demand)"] == 0
    assert any("node cost shows as 0" in note for note in only_unknown.notes)


def test_write_up_setup_pays_for_a_version_past_extended_support_and_a_nat_gateway():
    write_up = estimate_hourly_cost(WRITE_UP_SETUP)
    assert (
        write_up.breakdown_per_hour["controlPlane (ended support)"]
        == PRICES.control_plane_per_hour[SupportTier.EXTENDED]
    )
    # The write-up has no steady-state watcher: compare like with like.
    assert write_up.total_per_hour > 4 * estimate({"steadyState": {"enabled": False}}).total_per_hour


def test_the_cost_doc_shows_the_figures_the_code_computes():
    assert comparison_table() in (PROJECT_DIR / "docs" / "cost.md").read_text()
