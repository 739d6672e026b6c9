"""FIS templates checked against the table of what FIS accepts (experiments/fis_actions.py), before `up`.

Every action the catalog can render is checked in its default shape and at its limits; each kind of
mistake FIS would refuse is refused here first, naming the field.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from chaoslab.config.aws_facts import PRICES
from chaoslab.config.topology import workloads
from chaoslab.experiments import CATALOG, Fence
from chaoslab.experiments.config import parse_all_experiments
from chaoslab.experiments.fis import (
    FIS_CATALOG,
    LAB_NODE_GROUP_TAG,
    ChaosMeshThroughFis,
    FisExperiment,
    FisLab,
    LabRefs,
    zone_filter_path,
)
from chaoslab.experiments.fis_actions import (
    ACTIONS,
    MAX_PARAMETER_CHARS,
    iso_duration,
    parse_iso_duration,
    template_problems,
)

FENCE = Fence(
    namespace="chaos-sandbox",
    max_duration_s=600.0,
    workloads=workloads(2, 3),
    probe_url="http://frontend-service.chaos-sandbox.svc.cluster.local/",
)
LAB = FisLab(node_group="chaos-workers", spot=True, nodes=3)
REFS = LabRefs.placeholders("dev", "chaos-lab-dev")
ALARM = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:dev-frontend-errors"


def fis_experiments(raw: dict[str, Any], lab: FisLab = LAB) -> tuple[list[FisExperiment], list[str]]:
    parsed = parse_all_experiments(raw, FENCE, lab)
    return parsed.fis, parsed.problems


def one(name: str, **overrides: Any) -> FisExperiment:
    found, problems = fis_experiments({name: {"enabled": True, **overrides}})
    assert problems == []
    (experiment,) = found
    return experiment


def every_fis_shape() -> list[tuple[str, dict[str, Any]]]:
    """Every FIS entry in its default and limit shapes, and every Chaos Mesh entry that fits through FIS."""
    shapes: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in FIS_CATALOG]
    shapes += [
        ("spot-interruption", {"instances": 2, "notice": "10m"}),
        ("node-group-loss", {"percentage": 66}),
        ("zone-outage", {"duration": "10m", "zone": "use1-az2", "scope": "availability-zone"}),
    ]
    for name in CATALOG:
        if not fis_experiments({name: {"enabled": True, "engine": "fis"}})[1]:
            shapes.append((name, {"engine": "fis"}))
    return shapes


@pytest.mark.parametrize(("name", "overrides"), every_fis_shape(), ids=str)
def test_every_template_the_catalog_renders_passes_the_table(name: str, overrides: dict[str, Any]) -> None:
    assert one(name, **overrides).problems(REFS, [ALARM]) == []


def test_the_table_covers_every_action_the_catalog_uses() -> None:
    used = {
        action["actionId"]
        for name, overrides in every_fis_shape()
        for action in one(name, **overrides).template(REFS, [ALARM])["actions"].values()
    }
    assert used == {
        "aws:ec2:send-spot-instance-interruptions",
        "aws:eks:terminate-nodegroup-instances",
        "aws:network:disrupt-connectivity",
        "aws:eks:inject-kubernetes-custom-resource",
    }
    assert used <= set(ACTIONS)


def _template(name: str = "zone-outage") -> dict[str, Any]:
    return copy.deepcopy(one(name).template(REFS, [ALARM]))


def _broken(name: str, edit: Any) -> list[str]:
    template = _template(name)
    edit(template)
    return template_problems(template)


@pytest.mark.parametrize(
    ("name", "edit", "problem"),
    [
        (
            "zone-outage",
            lambda t: t["actions"]["disrupt"].update(actionId="aws:network:cut-everything"),
            "actions.disrupt.actionId: got 'aws:network:cut-everything'; accepted one of ",
        ),
        (
            "spot-interruption",
            lambda t: t["actions"]["interrupt"].update(targets={"Instances": "spot-nodes"}),
            "actions.interrupt.targets.Instances: unexpected target key; accepted SpotInstances for aws:ec2:send-spot-instance-interruptions",
        ),
        (
            "node-group-loss",
            lambda t: t["targets"]["node-group"].update(resourceType="aws:ec2:instance"),
            "targets.node-group.resourceType: got 'aws:ec2:instance'; accepted aws:eks:nodegroup for aws:eks:terminate-nodegroup-instances",
        ),
        (
            "node-group-loss",
            lambda t: t["actions"]["terminate"]["parameters"].pop("instanceTerminationPercentage"),
            "actions.terminate.parameters.instanceTerminationPercentage: missing; it is required",
        ),
        (
            "node-group-loss",
            lambda t: t["actions"]["terminate"]["parameters"].update(instanceTerminationPercentage="150"),
            "actions.terminate.parameters.instanceTerminationPercentage: got '150'; accepted a whole number from 1 to 100",
        ),
        (
            "spot-interruption",
            lambda t: t["actions"]["interrupt"]["parameters"].update(durationBeforeInterruption="PT1M"),
            "actions.interrupt.parameters.durationBeforeInterruption: got 'PT1M'; accepted an ISO 8601 duration from PT2M to PT15M",
        ),
        (
            "zone-outage",
            lambda t: t["actions"]["disrupt"]["parameters"].update(duration="PT13H"),
            "actions.disrupt.parameters.duration: got 'PT13H'; accepted an ISO 8601 duration from PT1M to PT12H",
        ),
        (
            "zone-outage",
            lambda t: t["actions"]["disrupt"]["parameters"].update(scope="internet"),
            "actions.disrupt.parameters.scope: got 'internet'; accepted one of all, availability-zone, dynamodb, prefix-list, s3, s3express, vpc",
        ),
        (
            "zone-outage",
            lambda t: t["actions"]["disrupt"]["parameters"].update(ttl="PT1M"),
            "actions.disrupt.parameters.ttl: unknown parameter; accepted scope, duration, prefixListIdentifier",
        ),
        (
            "zone-outage",
            lambda t: t["targets"]["zone-subnets"].pop("resourceTags"),
            "targets.zone-subnets: got neither resourceArns nor resourceTags; accepted exactly one of them",
        ),
        (
            "node-group-loss",
            lambda t: t["targets"]["node-group"].update(
                resourceArns=["arn:aws:eks:us-east-1:123456789012:nodegroup/*"]
            ),
            "targets.node-group.resourceArns: got 'arn:aws:eks:us-east-1:123456789012:nodegroup/*'; accepted a full ARN without wildcards",
        ),
        (
            "spot-interruption",
            lambda t: t["targets"]["spot-nodes"].update(selectionMode="SOME"),
            "targets.spot-nodes.selectionMode: got 'SOME'; accepted ALL, COUNT(n) or PERCENT(n)",
        ),
        (
            "zone-outage",
            lambda t: t.update(stopConditions=[{"source": "none"}]),
            "stopConditions[0].source: got 'none'; accepted 'aws:cloudwatch:alarm' (never 'none')",
        ),
        (
            "zone-outage",
            lambda t: t.update(stopConditions=[]),
            "stopConditions: got []; accepted 1 to 5 CloudWatch alarms (never 'none')",
        ),
        (
            "basic-pod-kill",
            lambda t: t["targets"]["cluster"].update(selectionMode="COUNT(1)"),
            "targets.cluster: a aws:eks:cluster target takes exactly one ARN, selectionMode ALL, and no filters or parameters",
        ),
    ],
)
def test_each_mistake_fis_would_refuse_is_refused_naming_the_field(name: str, edit: Any, problem: str) -> None:
    if name == "basic-pod-kill":
        template = copy.deepcopy(one(name, engine="fis").template(REFS, [ALARM]))
        edit(template)
        found = template_problems(template)
    else:
        found = _broken(name, edit)
    assert any(text.startswith(problem) for text in found), found


def test_a_kubernetes_spec_over_1024_characters_is_refused_by_the_table_too() -> None:
    template = copy.deepcopy(one("basic-pod-kill", engine="fis").template(REFS, [ALARM]))
    template["actions"]["chaos-mesh"]["parameters"]["kubernetesSpec"] = json.dumps(
        {"padding": "x" * MAX_PARAMETER_CHARS}
    )
    assert template_problems(template) == [
        f"actions.chaos-mesh.parameters.kubernetesSpec: got {MAX_PARAMETER_CHARS + 15} characters; accepted at most {MAX_PARAMETER_CHARS}"
    ]


@pytest.mark.parametrize(
    ("text", "seconds"), [("PT2M", 120), ("PT1H30M", 5400), ("PT90S", 90), ("PT", None), ("2m", None)]
)
def test_iso_durations(text: str, seconds: int | None) -> None:
    assert parse_iso_duration(text) == seconds
    if seconds is not None:
        assert parse_iso_duration(iso_duration(seconds)) == seconds


# --- the lab's own rules, in config -----------------------------------------------------------------


def test_targets_are_the_labs_own_resources() -> None:
    spot, loss, zone = (one(name).template(REFS, [ALARM])["targets"] for name in FIS_CATALOG)
    assert spot["spot-nodes"]["resourceTags"] == {"eks:cluster-name": "chaos-lab-dev"}
    assert spot["spot-nodes"]["filters"] == [{"path": "State.Name", "values": ["running"]}]
    assert spot["spot-nodes"]["selectionMode"] == "COUNT(1)"
    assert loss["node-group"]["resourceTags"] == {LAB_NODE_GROUP_TAG: "chaos-lab-dev"}
    assert zone["zone-subnets"]["resourceTags"] == {"kubernetes.io/cluster/chaos-lab-dev": "shared"}
    assert zone["zone-subnets"]["filters"] == [{"path": "AvailabilityZone", "values": [REFS.zones[0]]}]


def test_a_zone_given_by_id_is_matched_on_the_zone_id() -> None:
    assert zone_filter_path("use1-az2") == "AvailabilityZoneId" and zone_filter_path("us-east-1b") == "AvailabilityZone"


@pytest.mark.parametrize(
    ("raw", "lab", "problem"),
    [
        (
            {"spot-interruption": {"enabled": True}},
            FisLab("chaos-workers", spot=False, nodes=3),
            "experiments.spot-interruption: FIS sends interruptions only to spot instances; accepted only with chaos-lab:nodes.capacityType SPOT",
        ),
        (
            {"spot-interruption": {"enabled": True, "instances": 3}},
            LAB,
            "experiments.spot-interruption.instances: got 3 of the 3 nodes in chaos-workers; accepted at most 2, so a node is left to reschedule onto",
        ),
        (
            {"spot-interruption": {"enabled": True, "notice": "1m"}},
            LAB,
            "experiments.spot-interruption.notice: got '1m'; accepted 2m to 15m (FIS's range)",
        ),
        (
            {"spot-interruption": {"enabled": True, "notice": "90s"}},
            LAB,
            "experiments.spot-interruption.notice: got '90s' (FIS takes whole minutes here); accepted a whole number of minutes, at least 1m, such as 2m or 5m",
        ),
        (
            {"spot-interruption": {"enabled": True, "notice": "11m"}},
            LAB,
            "experiments.spot-interruption.notice: got '11m'; accepted at most 10m (chaos-lab:maxExperimentDuration): the notice is the action's run time",
        ),
        (
            {"node-group-loss": {"enabled": True, "percentage": 100}},
            LAB,
            "experiments.node-group-loss.percentage: got 100: that is every node of chaos-workers; accepted at most 66, so a node is left to reschedule onto",
        ),
        (
            {"node-group-loss": {"enabled": True, "percentage": 20}},
            LAB,
            "experiments.node-group-loss.percentage: got 20: that is no whole node of 3; accepted at least 34",
        ),
        (
            {"zone-outage": {"enabled": True, "duration": "11m"}},
            LAB,
            "experiments.zone-outage.duration: got '11m'; accepted at most 10m (chaos-lab:maxExperimentDuration)",
        ),
        (
            {"zone-outage": {"enabled": True, "zone": "atlantis"}},
            LAB,
            "experiments.zone-outage.zone: got 'atlantis'; accepted one of the lab's availability zones by name (us-east-1a) or ID (use1-az1), or null for the first",
        ),
        (
            {"zone-outage": {"enabled": True, "schedule": "@daily"}},
            LAB,
            "experiments.zone-outage.schedule: unknown override; accepted enabled, zone, duration, scope",
        ),
        (
            {"basic-pod-kill": {"enabled": True, "engine": "fis", "schedule": "@daily"}},
            LAB,
            "experiments.basic-pod-kill.schedule: a Schedule repeats for ever, while a FIS action ends at its maxDuration; accepted "
            "engine: fis only without a schedule (run it on demand with chaoslab run)",
        ),
        (
            {"zone-outage": {"enabled": True}},
            None,
            "experiments.zone-outage: FIS acts on AWS resources and this stack declares none; accepted only with chaos-lab:clusterProvider eks",
        ),
        (
            {"basic-pod-kill": {"enabled": True, "engine": "fis"}},
            None,
            "experiments.basic-pod-kill.engine: got 'fis'; FIS acts on AWS resources and this stack declares none; accepted only with "
            "chaos-lab:clusterProvider eks",
        ),
    ],
)
def test_each_bad_fis_entry_is_one_clear_problem(raw: dict[str, Any], lab: FisLab | None, problem: str) -> None:
    parsed = parse_all_experiments(raw, FENCE, lab)
    assert (parsed.fis, parsed.chaos_mesh, parsed.problems) == ([], [], [problem])


def test_an_over_long_spec_is_refused_naming_the_entry_and_its_length() -> None:
    workflow = CATALOG["progressive-delay"]
    experiment = workflow.experiment(workflow.defaults, FENCE)
    length = len(ChaosMeshThroughFis(experiment=experiment, workloads=FENCE.workloads).kubernetes_spec())
    assert length > MAX_PARAMETER_CHARS
    assert fis_experiments({"progressive-delay": {"enabled": True, "engine": "fis"}})[1] == [
        f"experiments.progressive-delay.engine: the rendered spec is {length} characters; FIS takes at most "
        f"{MAX_PARAMETER_CHARS} in kubernetesSpec: accepted engine: chaos-mesh for this entry"
    ]


def test_a_chaos_mesh_entry_through_fis_is_not_also_a_stack_resource() -> None:
    parsed = parse_all_experiments(
        {"basic-pod-kill": {"enabled": True, "engine": "fis"}, "packet-loss-scenario": {"enabled": True}}, FENCE, LAB
    )
    assert [experiment.name for experiment in parsed.fis] == ["basic-pod-kill"]
    assert [experiment.name for experiment in parsed.chaos_mesh] == ["packet-loss-scenario"]


def test_the_custom_resource_is_the_entrys_own_spec_and_ends_before_fis_gives_up() -> None:
    experiment = one("basic-pod-kill", engine="fis")
    parameters = experiment.template(REFS, [ALARM])["actions"]["chaos-mesh"]["parameters"]
    manifest = CATALOG["basic-pod-kill"].experiment(CATALOG["basic-pod-kill"].defaults, FENCE).manifest()
    assert json.loads(parameters["kubernetesSpec"]) == manifest["spec"]
    assert (parameters["kubernetesKind"], parameters["kubernetesNamespace"]) == ("PodChaos", "chaos-sandbox")
    assert parse_iso_duration(parameters["maxDuration"]) > 60  # the pod-kill's 60s
    assert parse_iso_duration(parameters["maxDuration"]) % 60 == 0


def test_the_price_per_run_follows_the_action_minutes() -> None:
    assert [one(name).action_minutes() for name in FIS_CATALOG] == [2, 1, 5]
    assert one("zone-outage", duration="10m").action_minutes() == 10
    description = one("spot-interruption").describe(LAB, ["alarm"], 0.10)
    assert (description["targets"], description["pricePerRunUsd"], description["stopConditions"]) == (
        "1 of 3 spot nodes in chaos-workers",
        0.2,
        ["alarm"],
    )


def test_the_fis_doc_quotes_the_computed_prices() -> None:
    fis_doc = (Path(__file__).resolve().parent.parent / "docs" / "fis.md").read_text()
    for name in FIS_CATALOG:
        minutes = one(name).action_minutes()
        assert f"`{name}` {minutes} min (${minutes * PRICES.fis_per_action_minute:.2f})" in fis_doc, name
    minutes = one("basic-pod-kill", engine="fis").action_minutes()
    assert f"(`basic-pod-kill`: {minutes} min, ${minutes * PRICES.fis_per_action_minute:.2f})" in fis_doc


def test_a_wait_action_needs_no_target_and_a_target_on_it_is_refused() -> None:
    """aws:fis:wait is the table's one action without a target key (FIS's action reference lists no target)."""
    template = _template()
    template["actions"]["pause"] = {"actionId": "aws:fis:wait", "parameters": {"duration": "PT5M"}}
    assert template_problems(template) == []
    template["actions"]["pause"]["targets"] = {"Instances": next(iter(template["targets"]))}
    assert template_problems(template) == [
        "actions.pause.targets.Instances: unexpected target key; accepted no target for aws:fis:wait"
    ]
