"""Experiments as stack resources: switched by config, declared as Chaos Mesh objects, summarised for review.

Under mocks this proves what the program declares (objects, names, options, dependencies) and that each
object is one the real Chaos Mesh 2.8.3 CRD schema accepts. It cannot prove what Chaos Mesh's admission
webhook or controller then do; the experiments package's own tests cover the webhook-only rules.
"""

from __future__ import annotations

from typing import Any

import pytest

from chaoslab.experiments import CATALOG
from components.chaos_experiments import DELETE_TIMEOUT, REPLACE_ON_CHANGES
from crd_schema import schema_errors
from experiments_support import all_enabled
from pulumi_harness import Deployment, ProgramFailed, run_lab

CHAOS_GROUP = "kubernetes:chaos-mesh.org/v1alpha1:"


def chaos_objects(deployment: Deployment) -> list:
    return [item for item in deployment.registrations if item.type.startswith(CHAOS_GROUP)]


def with_experiments(experiments: dict[str, Any], **overrides: Any) -> Deployment:
    return run_lab("dev", {"experiments": experiments, **overrides})


@pytest.fixture(scope="module")
def every_experiment() -> Deployment:
    return with_experiments(all_enabled())


@pytest.fixture(scope="module")
def every_schedule() -> Deployment:
    return with_experiments(all_enabled(schedule="@every 2h"))


def test_none_enabled_declares_no_chaos_object():
    deployment = run_lab("dev")
    assert chaos_objects(deployment) == []
    assert deployment.exports["experiments"] == {"halted": False, "enabled": {}}


def test_one_enabled_declares_exactly_one():
    deployment = with_experiments({"basic-pod-kill": {"enabled": True}, "api-high-latency": {"enabled": False}})
    [pod_kill] = chaos_objects(deployment)
    assert pod_kill.type == CHAOS_GROUP + "PodChaos"
    assert pod_kill.inputs["metadata"]["name"] == "basic-pod-kill"


def test_halted_declares_none_whatever_is_enabled():
    deployment = with_experiments(all_enabled(), halted=True)
    assert chaos_objects(deployment) == []
    assert deployment.exports["experiments"] == {"halted": True, "enabled": {}}


def test_every_catalog_entry_renders_an_object_the_crd_accepts(
    every_experiment: Deployment, every_schedule: Deployment
):
    for deployment in (every_experiment, every_schedule):
        objects = chaos_objects(deployment)
        assert sorted(item.inputs["metadata"]["name"] for item in objects) == sorted(CATALOG)
        for item in objects:
            manifest = {key: item.inputs[key] for key in ("apiVersion", "kind", "metadata", "spec")}
            assert schema_errors(manifest) == [], item.name
    assert {item.type for item in chaos_objects(every_schedule)} == {CHAOS_GROUP + "Schedule"}


def test_objects_live_in_the_sandbox_with_fixed_names(every_experiment: Deployment):
    for item in chaos_objects(every_experiment):
        metadata = item.inputs["metadata"]
        assert metadata["namespace"] == "chaos-sandbox"
        assert metadata["name"] == item.name.removeprefix("chaos-"), "the catalog name, no random suffix"


def test_objects_depend_on_the_release_and_replace_delete_first(every_experiment: Deployment):
    release = every_experiment.one("kubernetes:helm.sh/v3:Release")
    component = every_experiment.one("chaos-lab:experiments:ChaosExperiments")
    for item in chaos_objects(every_experiment):
        assert release.urn in item.dependencies, f"{item.name} could outlive the controller on destroy"
        assert item.delete_before_replace is True
        assert item.replace_on_changes == REPLACE_ON_CHANGES == ["spec"]
        assert item.custom_timeouts["delete"] == DELETE_TIMEOUT
        assert item.parent == component.urn


def test_sandbox_override_moves_every_selector():
    deployment = with_experiments({"database-partition": {"enabled": True}}, sandboxNamespace="game-day")
    [partition] = chaos_objects(deployment)
    spec = partition.inputs["spec"]
    assert partition.inputs["metadata"]["namespace"] == "game-day"
    assert spec["selector"]["namespaces"] == ["game-day"] == spec["target"]["selector"]["namespaces"]


def test_preview_output_says_what_each_experiment_breaks(every_experiment: Deployment):
    summary = every_experiment.exports["experiments"]
    assert summary["halted"] is False
    enabled = summary["enabled"]
    assert list(enabled) == list(CATALOG)
    assert {name: (item["kind"], item["blastRadius"], item["duration"]) for name, item in enabled.items()} == {
        "basic-pod-kill": ("PodChaos", "1 of 3 backend-api pods", "60s"),
        "api-high-latency": ("NetworkChaos", "traffic frontend-app → backend-api, all 2 pods", "120s"),
        "packet-loss-scenario": ("NetworkChaos", "1 of 3 backend-api pods, all traffic in and out", "90s"),
        "database-partition": ("NetworkChaos", "all 1 database pods isolated from all 3 backend-api pods", "120s"),
        "progressive-delay": ("Workflow", "all 3 backend-api pods, all traffic in and out", "at most 5m over 5 steps"),
        "backend-cpu-stress": ("StressChaos", "1 of 3 backend-api pods", "60s"),
        "backend-memory-stress": ("StressChaos", "1 of 3 backend-api pods", "60s"),
    }
    for name, item in enabled.items():
        assert item["simulates"] == CATALOG[name].simulates
        assert item["warnings"] == []


def test_preview_resolves_workloads_against_the_declared_app():
    deployment = with_experiments({"basic-pod-kill": {"enabled": True}}, **{"app.backendReplicas": 5})
    assert deployment.exports["experiments"]["enabled"]["basic-pod-kill"]["blastRadius"] == "1 of 5 backend-api pods"


def test_bad_experiment_config_declares_nothing():
    with pytest.raises(ProgramFailed, match=r"experiments\.api-high-latency\.latency") as raised:
        with_experiments({"api-high-latency": {"enabled": True, "latency": "1m30s"}})
    assert raised.value.deployment.registrations == []


@pytest.mark.parametrize(
    ("entry", "field", "accepted"),
    [
        ({"basic-pod-kill": {"enabled": True, "duration": "forever"}}, "basic-pod-kill.duration", "duration"),
        ({"api-high-latency": {"enabled": True, "latency": "500"}}, "api-high-latency.latency", "one unit"),
        ({"packet-loss-scenario": {"enabled": True, "loss": "150"}}, "packet-loss-scenario.loss", "0"),
        ({"packet-loss-scenario": {"enabled": True, "correlation": "-1"}}, "packet-loss-scenario.correlation", "0"),
        (
            {"database-partition": {"enabled": True, "direction": "sideways"}},
            "database-partition.direction",
            "to, from, both",
        ),
        ({"basic-pod-kill": {"enabled": True, "mode": "fixed"}}, "basic-pod-kill", "value"),
        ({"basic-pod-kill": {"enabled": True, "namespace": "kube-system"}}, "basic-pod-kill.namespace", "sandbox"),
        ({"chaos-monkey": {"enabled": True}}, "chaos-monkey", "unknown experiment"),
        ({"basic-pod-kill": {"enabled": True, "gracePeriod": 0}}, "basic-pod-kill.gracePeriod", "unknown override"),
        ({"basic-pod-kill": {"enabled": True, "duration": "11m"}}, "basic-pod-kill.duration", "maxExperimentDuration"),
        ({"basic-pod-kill": {"enabled": True, "app": "database"}}, "basic-pod-kill.app", "allowSingleReplica"),
    ],
)
def test_bad_experiment_input_fails_before_any_resource(entry, field, accepted):
    with pytest.raises(ProgramFailed) as raised:
        with_experiments(entry)
    message = str(raised.value)
    assert f"chaos-lab:experiments.{field}" in message and accepted in message, message
    assert raised.value.deployment.registrations == []


def test_pod_kill_on_redis_is_allowed_only_when_asked_for():
    deployment = with_experiments({"basic-pod-kill": {"enabled": True, "app": "database", "allowSingleReplica": True}})
    [pod_kill] = chaos_objects(deployment)
    assert pod_kill.inputs["spec"]["selector"]["labelSelectors"] == {"app": "database"}
