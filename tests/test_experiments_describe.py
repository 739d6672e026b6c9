"""The chaos-aware preview: what each enabled experiment hits, in plain words."""

from __future__ import annotations

import json

from chaoslab.experiments import CATALOG, Experiment, parse_experiments
from experiments_support import FENCE, PROBE_URL, WORKLOADS, all_enabled


def _described(raw: dict, workloads=WORKLOADS) -> dict[str, dict]:
    experiments, problems = parse_experiments(raw, FENCE)
    assert problems == []
    return {experiment.name: experiment.describe(workloads).to_dict() for experiment in experiments}


def test_blast_radius_of_the_whole_catalog() -> None:
    described = _described(all_enabled())
    assert {name: description["blastRadius"] for name, description in described.items()} == {
        "basic-pod-kill": "1 of 3 backend-api pods",
        "api-high-latency": "traffic frontend-app → backend-api, all 2 pods",
        "packet-loss-scenario": "1 of 3 backend-api pods, all traffic in and out",
        "database-partition": "all 1 database pods isolated from all 3 backend-api pods",
        "progressive-delay": "all 3 backend-api pods, all traffic in and out",
        "backend-cpu-stress": "1 of 3 backend-api pods",
        "backend-memory-stress": "1 of 3 backend-api pods",
    }


def test_kind_action_workloads_and_duration_of_the_whole_catalog() -> None:
    described = _described(all_enabled())
    summary = {name: (d["kind"], d["action"], d["workloads"], d["duration"]) for name, d in described.items()}
    ramp = " → ".join(
        f"delay {latency} ±10ms, correlation 100%" for latency in ("50ms", "100ms", "500ms", "1000ms", "3000ms")
    )
    assert summary == {
        "basic-pod-kill": ("PodChaos", "pod-kill", {"backend-api": 3}, "60s"),
        "api-high-latency": (
            "NetworkChaos",
            "delay 500ms ±100ms, correlation 90%",
            {"frontend-app": 2, "backend-api": 3},
            "120s",
        ),
        "packet-loss-scenario": ("NetworkChaos", "loss 15% of packets, correlation 50%", {"backend-api": 3}, "90s"),
        "database-partition": ("NetworkChaos", "partition", {"database": 1, "backend-api": 3}, "120s"),
        "progressive-delay": (
            "Workflow",
            f"{ramp}; aborted once {PROBE_URL} fails 3 checks in a row",
            {"backend-api": 3},
            "at most 5m over 5 steps",
        ),
        "backend-cpu-stress": ("StressChaos", "stress cpu 1 worker(s) at 80% load", {"backend-api": 3}, "60s"),
        "backend-memory-stress": (
            "StressChaos",
            "stress memory 1 worker(s) holding 256MB each",
            {"backend-api": 3},
            "60s",
        ),
    }
    for name, description in described.items():
        assert description["simulates"] == CATALOG[name].simulates
        assert description["schedule"] is None
        assert description["warnings"] == []


def test_scheduled_experiment_says_when_and_per_run() -> None:
    description = _described({"packet-loss-scenario": {"enabled": True, "schedule": "@every 2h"}})[
        "packet-loss-scenario"
    ]
    assert (description["kind"], description["duration"], description["schedule"]) == (
        "Schedule of NetworkChaos",
        "90s per run",
        "@every 2h, one run at a time, keeps the last 3 runs",
    )


def test_other_modes_read_plainly() -> None:
    described = _described(
        {
            "basic-pod-kill": {"enabled": True, "mode": "fixed", "value": 5},
            "packet-loss-scenario": {"enabled": True, "mode": "random-max-percent", "value": 70},
            "api-high-latency": {"enabled": True, "direction": "both", "targetMode": "one"},
            "database-partition": {"enabled": True, "direction": "to"},
        }
    )
    assert described["basic-pod-kill"]["blastRadius"] == "3 of 3 backend-api pods"  # fixed 5 is capped at what exists
    assert described["packet-loss-scenario"]["blastRadius"] == (
        "up to 2 of 3 backend-api pods (random, at most 70%), all traffic in and out"
    )
    assert (
        described["api-high-latency"]["blastRadius"]
        == "traffic frontend-app ↔ backend-api, all 2 pods (with 1 of 3 backend-api pods)"
    )
    assert described["database-partition"]["blastRadius"] == "all 1 database pods cannot send to all 3 backend-api pods"


def test_warns_when_a_selector_matches_no_declared_workload() -> None:
    without_database = {"frontend-app": 2, "backend-api": 3}
    description = _described({"database-partition": {"enabled": True}}, without_database)["database-partition"]
    assert description["workloads"] == {"database": None, "backend-api": 3}
    assert description["blastRadius"] == "no declared database pods isolated from all 3 backend-api pods"
    assert description["warnings"] == [
        "selector app=database in chaos-sandbox matches no declared workload (declared: backend-api, frontend-app)"
    ]


def test_warns_when_a_percentage_rounds_down_to_no_pod() -> None:
    description = _described({"backend-cpu-stress": {"enabled": True, "mode": "fixed-percent", "value": 30}})[
        "backend-cpu-stress"
    ]
    assert description["blastRadius"] == "0 of 3 backend-api pods (30%)"
    assert description["warnings"] == ["selector app=backend-api picks no pod: 0 of 3 backend-api pods (30%)"]


def test_description_is_json_ready() -> None:
    experiments, _ = parse_experiments(all_enabled(schedule="@daily"), FENCE)
    descriptions = [experiment.describe(WORKLOADS) for experiment in experiments]
    assert all(isinstance(experiment, Experiment) for experiment in experiments)
    decoded = json.loads(json.dumps([description.to_dict() for description in descriptions]))
    assert decoded == [description.to_dict() for description in descriptions]
    assert all(description.warnings == [] for description in descriptions)
