"""Every object the experiments package renders is accepted by the real Chaos Mesh v2.8.3 CRD schemas."""

from __future__ import annotations

import copy

import pytest

from chaoslab.experiments import (
    CATALOG,
    Bandwidth,
    ChaosStep,
    Corrupt,
    CpuStressor,
    Direction,
    Duplicate,
    Experiment,
    MemoryStressor,
    Mode,
    NetworkChaos,
    PodAction,
    PodChaos,
    PodSelection,
    Schedule,
    Serial,
    StatusCheck,
    StatusCheckMode,
    StressChaos,
    Suspend,
    Workflow,
    parse_experiments,
)
from crd_schema import chaos_mesh_validator, schema_errors, to_json_schema
from experiments_support import FENCE, PROBE_URL, SANDBOX, all_enabled


def _experiments(**extra: object) -> dict[str, Experiment]:
    experiments, problems = parse_experiments(all_enabled(**extra), FENCE)
    assert problems == []
    return {experiment.name: experiment for experiment in experiments}


@pytest.mark.parametrize("name", list(CATALOG))
def test_each_catalog_entry_renders_a_valid_object(name: str) -> None:
    manifest = _experiments()[name].manifest()
    assert schema_errors(manifest) == []


@pytest.mark.parametrize("name", list(CATALOG))
def test_each_catalog_entry_renders_a_valid_schedule(name: str) -> None:
    manifest = _experiments(schedule="@every 2h")[name].manifest()
    assert manifest["kind"] == "Schedule"
    assert schema_errors(manifest) == []


def _selection(app: str = "backend-api", mode: Mode = Mode.ONE, value: int | None = None) -> PodSelection:
    return PodSelection(namespace=SANDBOX, app=app, mode=mode, value=value)


# Kinds and options of the model that no catalog entry uses by default.
_MORE_CHAOS = {
    "pod-failure-fixed": PodChaos(
        selection=_selection(mode=Mode.FIXED, value=2), duration="30s", action=PodAction.POD_FAILURE
    ),
    "container-kill": PodChaos(
        selection=_selection(mode=Mode.FIXED_PERCENT, value=50),
        duration="30s",
        action=PodAction.CONTAINER_KILL,
        container_names=("httpd",),
    ),
    "bandwidth": NetworkChaos(
        selection=_selection(mode=Mode.RANDOM_MAX_PERCENT, value=60),
        duration="1m",
        fault=Bandwidth(rate="1mbps", limit=20971520, buffer=10000),
        direction=Direction.FROM,
        target=_selection("frontend-app", Mode.ALL),
    ),
    "corrupt": NetworkChaos(selection=_selection(), duration="1m", fault=Corrupt(percent="5", correlation="25")),
    "duplicate": NetworkChaos(selection=_selection(), duration="1m", fault=Duplicate(percent="12.5")),
    "cpu-and-memory": StressChaos(
        selection=_selection(),
        duration="1m",
        cpu=CpuStressor(workers=2, load=50),
        memory=MemoryStressor(workers=1, size="128MiB"),
    ),
    "workflow": Workflow(
        entry=Serial(
            name="main",
            children=(
                StatusCheck(
                    name="before", url=PROBE_URL, deadline="20s", mode=StatusCheckMode.SYNCHRONOUS, abort_workflow=False
                ),
                ChaosStep(
                    name="kill",
                    deadline="30s",
                    chaos=PodChaos(selection=_selection(), duration=None, action=PodAction.POD_KILL),
                ),
                Suspend(name="settle", deadline="1m"),
            ),
        )
    ),
}


@pytest.mark.parametrize("label", list(_MORE_CHAOS))
def test_model_kinds_beyond_the_catalog_render_valid_objects(label: str) -> None:
    experiment = Experiment(name=label, namespace=SANDBOX, chaos=_MORE_CHAOS[label], simulates="a test")
    assert schema_errors(experiment.manifest()) == []
    scheduled = Experiment(
        name=label, namespace=SANDBOX, chaos=Schedule(cron="0 3 * * *", chaos=_MORE_CHAOS[label]), simulates="a test"
    )
    assert schema_errors(scheduled.manifest()) == []


# --- the loader is as strict as the API server ----------------------------------------------------


@pytest.fixture
def pod_kill() -> dict:
    return _experiments()["basic-pod-kill"].manifest()


@pytest.fixture
def latency() -> dict:
    return _experiments()["api-high-latency"].manifest()


def test_unknown_spec_field_is_rejected(pod_kill: dict) -> None:
    pod_kill["spec"]["durationn"] = "60s"
    assert schema_errors(pod_kill) == ["$.spec: Additional properties are not allowed ('durationn' was unexpected)"]


def test_unknown_selector_field_is_rejected(pod_kill: dict) -> None:
    pod_kill["spec"]["selector"]["namespace"] = SANDBOX
    assert len(schema_errors(pod_kill)) == 1
    assert schema_errors(pod_kill)[0].startswith("$.spec.selector: Additional properties")


def test_missing_required_field_is_rejected(pod_kill: dict) -> None:
    del pod_kill["spec"]["mode"]
    assert schema_errors(pod_kill) == ["$.spec: 'mode' is a required property"]


def test_api_version_and_kind_must_be_the_crds(pod_kill: dict) -> None:
    pod_kill["apiVersion"] = "chaos-mesh.org/v1"
    pod_kill["kind"] = "NetworkChaos"
    errors = sorted(error.message for error in chaos_mesh_validator("PodChaos").iter_errors(pod_kill))
    assert errors == ["'PodChaos' was expected", "'chaos-mesh.org/v1alpha1' was expected"]


def test_metadata_name_must_be_a_dns_subdomain(pod_kill: dict) -> None:
    pod_kill["metadata"]["name"] = "Basic_Pod_Kill"
    assert len(schema_errors(pod_kill)) == 1
    assert schema_errors(pod_kill)[0].startswith("$.metadata.name: 'Basic_Pod_Kill' does not match")


def test_numbers_the_crd_types_as_strings_must_be_strings(latency: dict) -> None:
    latency["spec"]["delay"]["correlation"] = 90
    assert schema_errors(latency) == ["$.spec.delay.correlation: 90 is not of type 'string'"]


def test_latency_must_have_one_unit(latency: dict) -> None:
    latency["spec"]["delay"]["latency"] = "1m30s"
    assert schema_errors(latency) == [
        "$.spec.delay.latency: '1m30s' does not match '^[0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h)$'"
    ]


def test_enums_are_enforced(latency: dict) -> None:
    latency["spec"]["direction"] = "sideways"
    assert schema_errors(latency) == ["$.spec.direction: 'sideways' is not one of ['to', 'from', 'both']"]


def test_int32_format_is_range_checked() -> None:
    chaos = copy.deepcopy(_MORE_CHAOS["bandwidth"].spec())
    chaos["bandwidth"]["limit"] = 2**31
    manifest = {
        "apiVersion": "chaos-mesh.org/v1alpha1",
        "kind": "NetworkChaos",
        "metadata": {"name": "x"},
        "spec": chaos,
    }
    assert schema_errors(manifest) == ["$.spec.bandwidth.limit: 2147483648 is not a 'int32'"]


def test_nullable_and_exclusive_minimum_from_the_schedule_crd() -> None:
    manifest = _experiments(schedule="@hourly")["basic-pod-kill"].manifest()
    for accepted in (None, 1):
        manifest["spec"]["startingDeadlineSeconds"] = accepted
        assert schema_errors(manifest) == []
    manifest["spec"]["startingDeadlineSeconds"] = 0  # minimum 0 with OpenAPI 3.0's exclusiveMinimum: true
    assert schema_errors(manifest) == ["$.spec.startingDeadlineSeconds: 0 is less than or equal to the minimum of 0"]


def test_int_or_string_from_the_workflow_crd() -> None:
    manifest = {
        "apiVersion": "chaos-mesh.org/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "task"},
        "spec": {
            "entry": "t",
            "templates": [
                {
                    "name": "t",
                    "templateType": "Task",
                    "task": {"container": {"name": "c", "resources": {"limits": {"cpu": "100m", "memory": 1}}}},
                }
            ],
        },
    }
    assert schema_errors(manifest) == []
    manifest["spec"]["templates"][0]["task"]["container"]["resources"]["limits"]["cpu"] = True
    assert (
        "$.spec.templates[0].task.container.resources.limits.cpu: True is not of type 'integer', 'string'"
        in schema_errors(manifest)
    )


def test_translation_of_structural_schema_keywords() -> None:
    node = {
        "type": "object",
        "properties": {
            "count": {"type": "integer", "minimum": 0, "exclusiveMinimum": True, "nullable": True, "description": "x"},
            "port": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True},
            "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    assert to_json_schema(node) == {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "count": {"type": ["integer", "null"], "exclusiveMinimum": 0},
            "port": {"anyOf": [{"type": "integer"}, {"type": "string"}], "type": ["integer", "string"]},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "free": {"type": "object"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
