"""The model refuses what Chaos Mesh (schema or webhook) would refuse, and what our fence forbids."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chaoslab.experiments import (
    ChaosStep,
    ConcurrencyPolicy,
    Delay,
    Experiment,
    ExperimentError,
    Loss,
    Mode,
    NetworkChaos,
    Parallel,
    Partition,
    PodAction,
    PodChaos,
    PodSelection,
    Schedule,
    Serial,
    StatusCheck,
    StressChaos,
    Suspend,
    Workflow,
)
from chaoslab.experiments.catalog import CATALOG
from chaoslab.experiments.durations import ONE_UNIT, parse_duration, parse_one_unit_duration
from crd_schema import CHAOS_MESH_CRD_FILES, CHAOS_MESH_CRDS
from experiments_support import FENCE, PROBE_URL, SANDBOX


def _selection(namespace: str = SANDBOX, mode: Mode = Mode.ONE, value: int | None = None) -> PodSelection:
    return PodSelection(namespace=namespace, app="backend-api", mode=mode, value=value)


def _kill(duration: str | None = "30s", namespace: str = SANDBOX) -> PodChaos:
    return PodChaos(selection=_selection(namespace), duration=duration, action=PodAction.POD_KILL)


def _step(name: str, deadline: str = "30s") -> ChaosStep:
    return ChaosStep(name=name, deadline=deadline, chaos=_kill(duration=None))


def _experiment(name: str, chaos) -> Experiment:
    return Experiment(name=name, namespace=SANDBOX, chaos=chaos, simulates="a test")


# --- names and Schedules --------------------------------------------------------------------------


def test_schedule_names_fit_57_characters() -> None:
    assert _experiment("s" * 57, Schedule(cron="@hourly", chaos=_kill())).manifest()["metadata"]["name"] == "s" * 57
    with pytest.raises(
        ExperimentError, match=r"^name: got 's{58}' \(58 characters\); accepted at most 57 for a Schedule of PodChaos"
    ):
        _experiment("s" * 58, Schedule(cron="@hourly", chaos=_kill()))


def test_workflow_schedule_names_fit_51_characters() -> None:
    workflow = Workflow(entry=Serial(name="main", children=(_step("kill"),)))
    assert _experiment("w" * 51, Schedule(cron="@daily", chaos=workflow)).kind == "Schedule"
    with pytest.raises(ExperimentError, match=r"accepted at most 51 for a Schedule of Workflow"):
        _experiment("w" * 52, Schedule(cron="@daily", chaos=workflow))


def test_every_catalog_name_could_be_a_workflow_schedule() -> None:
    assert max(len(name) for name in CATALOG) <= 51
    entry = CATALOG["basic-pod-kill"]
    with pytest.raises(ExperimentError, match="longer than 51 characters"):
        replace(entry, name="a-very-long-experiment-name-that-no-schedule-can-hold")


def test_object_names_are_dns_labels() -> None:
    with pytest.raises(ExperimentError, match=r"^name: got 'Pod_Kill'; accepted a DNS-1123 label"):
        _experiment("Pod_Kill", _kill())


def test_schedule_needs_a_valid_cron_and_history() -> None:
    with pytest.raises(ExperimentError, match=r"^schedule: got '0 3 \* \*' \(4 fields instead of 5\)"):
        Schedule(cron="0 3 * *", chaos=_kill())
    with pytest.raises(ExperimentError, match=r"^historyLimit: got 0"):
        Schedule(cron="@daily", chaos=_kill(), history_limit=0)


def test_schedules_fire_at_most_hourly_and_never_overlap() -> None:
    with pytest.raises(
        ExperimentError, match=r"^schedule: got '\*/10 \* \* \* \*' \(the minute field must be one number"
    ):
        Schedule(cron="*/10 * * * *", chaos=_kill())
    assert Schedule(cron="@every 1h", chaos=_kill()).spec()["concurrencyPolicy"] == "Forbid"
    assert [policy.value for policy in ConcurrencyPolicy] == ["Forbid"], "the model has no way to let runs overlap"


# --- the fence inside the model -------------------------------------------------------------------


def test_a_selector_outside_the_experiments_namespace_is_refused() -> None:
    with pytest.raises(ExperimentError, match=r"^namespace: a selector names 'kube-system'; accepted only"):
        _experiment("kill", _kill(namespace="kube-system"))
    target_elsewhere = NetworkChaos(
        selection=_selection(),
        duration="30s",
        fault=Partition(),
        target=PodSelection(namespace="default", app="database", mode=Mode.ALL),
    )
    with pytest.raises(ExperimentError, match="a selector names 'default'"):
        _experiment("cut", target_elsewhere)


def test_an_experiment_must_end_by_itself() -> None:
    with pytest.raises(ExperimentError, match=r"^duration: missing; every experiment must end by itself"):
        _experiment("kill", _kill(duration=None))
    with pytest.raises(ExperimentError, match=r"^duration: missing"):
        _experiment("kill", Schedule(cron="@daily", chaos=_kill(duration=None)))


# --- field rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "value", "message"),
    [
        (Mode.FIXED, None, "value: mode fixed needs a value"),
        (Mode.FIXED_PERCENT, 101, "value: got 101; accepted a percentage from 1 to 100 with mode fixed-percent"),
        (Mode.ALL, 2, "value: got 2; mode all takes no value"),
    ],
)
def test_mode_and_value_go_together(mode: Mode, value: int | None, message: str) -> None:
    with pytest.raises(ExperimentError, match=f"^{message}"):
        _selection(mode=mode, value=value)


def test_value_renders_as_a_string() -> None:
    assert _selection(mode=Mode.FIXED, value=2).render()["value"] == "2"


def test_netem_numbers_must_be_written_as_the_crd_wants() -> None:
    with pytest.raises(ExperimentError, match=r"^latency: got '1m30s'; accepted a single number with one unit"):
        Delay(latency="1m30s")
    with pytest.raises(ExperimentError, match=r"^correlation: got '090'; write it as '90'"):
        Delay(latency="5ms", correlation="090")
    with pytest.raises(ExperimentError, match=r"^loss: got '150'; accepted a number from 0 to 100"):
        Loss(percent="150")


def test_container_names_belong_to_container_kill_only() -> None:
    with pytest.raises(ExperimentError, match=r"^containerNames: container-kill needs the containers to kill"):
        PodChaos(selection=_selection(), duration="30s", action=PodAction.CONTAINER_KILL)
    with pytest.raises(ExperimentError, match=r"^containerNames: got \['httpd'\]; accepted none with action pod-kill"):
        PodChaos(selection=_selection(), duration="30s", action=PodAction.POD_KILL, container_names=("httpd",))


def test_a_partition_needs_a_target_and_renders_no_parameter_block() -> None:
    with pytest.raises(ExperimentError, match=r"^target: a partition needs"):
        NetworkChaos(selection=_selection(), duration="30s", fault=Partition())
    spec = NetworkChaos(
        selection=_selection(),
        duration="30s",
        fault=Partition(),
        target=PodSelection(namespace=SANDBOX, app="database", mode=Mode.ALL),
    ).spec()
    assert set(spec) == {"action", "mode", "selector", "direction", "target", "duration"}


def test_stress_needs_a_stressor() -> None:
    with pytest.raises(ExperimentError, match=r"^stressors: a StressChaos needs a cpu or a memory stressor"):
        StressChaos(selection=_selection(), duration="30s")


# --- workflows ------------------------------------------------------------------------------------


def test_a_chaos_step_has_a_deadline_and_no_duration() -> None:
    with pytest.raises(ExperimentError, match=r"^kill\.duration: a chaos step has none inside a workflow"):
        ChaosStep(name="kill", deadline="30s", chaos=_kill(duration="30s"))
    with pytest.raises(ExperimentError, match=r"^kill\.deadline: got '0s'"):
        _step("kill", deadline="0s")
    assert _step("kill").templates()[0] == {
        "name": "kill",
        "templateType": "PodChaos",
        "deadline": "30s",
        "podChaos": {**_selection().render(), "action": "pod-kill"},
    }


def test_template_names_are_unique_dns_labels() -> None:
    with pytest.raises(ExperimentError, match=r"^templates: names must be unique in a workflow, repeated: kill"):
        Workflow(entry=Serial(name="main", children=(_step("kill"), _step("kill"))))
    with pytest.raises(ExperimentError, match=r"^name: got 'Step_1'"):
        _step("Step_1")
    with pytest.raises(ExperimentError, match=r"^main\.children: a Serial template needs at least one child"):
        Serial(name="main", children=())


def test_a_workflow_is_bounded_by_its_deadlines() -> None:
    probe = StatusCheck(name="probe", url=PROBE_URL, deadline="45s")
    workflow = Workflow(
        entry=Serial(
            name="main",
            children=(
                Parallel(name="both", children=(_step("kill", "30s"), probe)),
                Suspend(name="rest", deadline="1m"),
            ),
        )
    )
    assert workflow.bound_s() == 45 + 60
    templates = workflow.spec()["templates"]
    assert [template["name"] for template in templates] == ["main", "both", "kill", "probe", "rest"]
    # The entry carries the whole run's bound, so Chaos Mesh ends the run there and the admission policy
    # checks one field; the other group templates keep none of their own.
    assert templates[0]["deadline"] == "105s" and parse_duration(templates[0]["deadline"]) == workflow.bound_s()
    assert "deadline" not in templates[1]


def test_status_check_needs_an_http_url() -> None:
    with pytest.raises(ExperimentError, match=r"^probe\.url: got 'frontend-service/api/'"):
        StatusCheck(name="probe", url="frontend-service/api/", deadline="30s")


# --- durations, the fence object ------------------------------------------------------------------


def test_one_unit_pattern_is_the_crds() -> None:
    crd_text = (CHAOS_MESH_CRDS / CHAOS_MESH_CRD_FILES["NetworkChaos"]).read_text()
    assert f"pattern: {ONE_UNIT.pattern}" in crd_text
    assert parse_one_unit_duration("1.5s") == 1.5
    with pytest.raises(ValueError, match="is not a single number with one unit"):
        parse_one_unit_duration("1m30s")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("namespace", "Chaos Sandbox", "^fence.namespace: got 'Chaos Sandbox'"),
        ("probe_url", "localhost:8080", "^fence.probe_url: got 'localhost:8080'"),
        ("max_duration_s", 0, "^fence.max_duration_s: got 0"),
        ("workloads", {"backend-api": -1}, "^fence.workloads.backend-api: got -1"),
    ],
)
def test_the_fence_refuses_unusable_fields(field: str, value: object, message: str) -> None:
    with pytest.raises(ExperimentError, match=message):
        replace(FENCE, **{field: value})
