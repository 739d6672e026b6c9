"""Reading `chaos-lab:experiments`: switching, overrides, the fence, and problems reported all together."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from chaoslab.experiments import CATALOG, COMMON_KEYS, parse_experiments
from chaoslab.experiments.cron import MIN_SCHEDULE_INTERVAL_S, interval_problem
from chaoslab.experiments.durations import format_duration, parse_duration
from experiments_support import FENCE, SANDBOX, all_enabled


def _one(name: str, **overrides: Any) -> dict[str, Any]:
    experiments, problems = parse_experiments({name: {"enabled": True, **overrides}}, FENCE)
    assert problems == []
    (experiment,) = experiments
    return experiment.manifest()


def _problems(raw: dict[str, Any], fence=FENCE) -> list[str]:
    _experiments, problems = parse_experiments(raw, fence)
    return problems


# --- switching ------------------------------------------------------------------------------------


def test_nothing_configured_means_no_experiments() -> None:
    assert parse_experiments({}, FENCE) == ([], [])


def test_one_enabled_entry_gives_exactly_that_experiment() -> None:
    experiments, problems = parse_experiments({"basic-pod-kill": {"enabled": True}}, FENCE)
    assert problems == []
    assert [(experiment.name, experiment.kind) for experiment in experiments] == [("basic-pod-kill", "PodChaos")]


def test_disabled_entry_gives_no_experiment() -> None:
    assert parse_experiments({"basic-pod-kill": {"enabled": False, "duration": "30s"}}, FENCE) == ([], [])


def test_all_enabled_come_back_in_catalog_order_with_their_kinds() -> None:
    raw = dict(reversed(list(all_enabled().items())))
    experiments, problems = parse_experiments(raw, FENCE)
    assert problems == []
    assert [(experiment.name, experiment.kind) for experiment in experiments] == [
        ("basic-pod-kill", "PodChaos"),
        ("api-high-latency", "NetworkChaos"),
        ("packet-loss-scenario", "NetworkChaos"),
        ("database-partition", "NetworkChaos"),
        ("progressive-delay", "Workflow"),
        ("backend-cpu-stress", "StressChaos"),
        ("backend-memory-stress", "StressChaos"),
    ]


def test_every_object_lives_in_the_sandbox_and_every_selector_names_only_it() -> None:
    experiments, _ = parse_experiments(all_enabled(schedule="@daily"), FENCE)

    def namespaces_lists(node: Any) -> list[list[str]]:
        if isinstance(node, dict):
            found = [node["namespaces"]] if "namespaces" in node else []
            return found + [lists for child in node.values() for lists in namespaces_lists(child)]
        if isinstance(node, list):
            return [lists for child in node for lists in namespaces_lists(child)]
        return []

    for experiment in experiments:
        manifest = experiment.manifest()
        assert manifest["metadata"]["namespace"] == SANDBOX
        selectors = namespaces_lists(manifest["spec"])
        assert selectors and all(selector == [SANDBOX] for selector in selectors), experiment.name


def test_a_healthy_entry_still_comes_back_beside_a_broken_one() -> None:
    experiments, problems = parse_experiments(
        {"basic-pod-kill": {"enabled": True}, "api-high-latency": {"enabled": "yes"}}, FENCE
    )
    assert [experiment.name for experiment in experiments] == ["basic-pod-kill"]
    assert problems == ["experiments.api-high-latency.enabled: got 'yes'; accepted true or false"]


# --- overrides ------------------------------------------------------------------------------------


def test_defaults_given_back_as_overrides_change_nothing() -> None:
    defaults = {name: entry.parameters() for name, entry in CATALOG.items()}
    for name in CATALOG:
        assert _one(name, **defaults[name]) == _one(name)


def test_latency_override_and_fixed_mode() -> None:
    spec = _one("api-high-latency", latency="1.5s", jitter="0ms", correlation=75.5, mode="fixed", value=1)["spec"]
    assert spec["delay"] == {"latency": "1.5s", "jitter": "0ms", "correlation": "75.5"}
    assert (spec["mode"], spec["value"]) == ("fixed", "1")


def test_retargeting_and_target_mode() -> None:
    spec = _one("database-partition", app="frontend-app", direction="to", targetMode="fixed-percent", targetValue=50)[
        "spec"
    ]
    assert spec["selector"]["labelSelectors"] == {"app": "frontend-app"}
    assert spec["direction"] == "to"
    assert spec["target"] == {
        "mode": "fixed-percent",
        "value": "50",
        "selector": {"namespaces": [SANDBOX], "labelSelectors": {"app": "backend-api"}},
    }


def test_pod_kill_on_the_single_database_pod_with_allow_single_replica() -> None:
    spec = _one("basic-pod-kill", app="database", allowSingleReplica=True)["spec"]
    assert spec["selector"]["labelSelectors"] == {"app": "database"}


def test_container_kill_with_container_names() -> None:
    spec = _one("basic-pod-kill", action="container-kill", containerNames=["httpd"])["spec"]
    assert (spec["action"], spec["containerNames"]) == ("container-kill", ["httpd"])


def test_the_sandbox_namespace_may_be_named_explicitly() -> None:
    assert _one("packet-loss-scenario", namespace=SANDBOX) == _one("packet-loss-scenario")


def test_ramp_steps_and_step_duration() -> None:
    spec = _one("progressive-delay", steps=["200ms", "2s"], stepDuration="2m")["spec"]
    delays = [template for template in spec["templates"] if template["templateType"] == "NetworkChaos"]
    assert [(delay["networkChaos"]["delay"]["latency"], delay["deadline"]) for delay in delays] == [
        ("200ms", "2m"),
        ("2s", "2m"),
    ]


def test_stress_overrides() -> None:
    assert _one("backend-cpu-stress", workers=2, load=100)["spec"]["stressors"] == {"cpu": {"workers": 2, "load": 100}}
    assert _one("backend-memory-stress", workers=2, size="512MiB")["spec"]["stressors"] == {
        "memory": {"workers": 2, "size": "512MiB"}
    }


def test_schedule_wraps_the_experiment() -> None:
    manifest = _one("packet-loss-scenario", schedule="30 9-17 * * MON-FRI", historyLimit=5)
    spec = manifest["spec"]
    assert manifest["kind"] == "Schedule"
    assert {key: spec[key] for key in ("schedule", "type", "historyLimit", "concurrencyPolicy")} == {
        "schedule": "30 9-17 * * MON-FRI",
        "type": "NetworkChaos",
        "historyLimit": 5,
        "concurrencyPolicy": "Forbid",
    }
    assert spec["networkChaos"] == _one("packet-loss-scenario")["spec"]


def test_schedule_history_limit_defaults_to_three() -> None:
    spec = _one("progressive-delay", schedule="@every 2h")["spec"]
    assert (spec["type"], spec["historyLimit"], spec["workflow"]) == ("Workflow", 3, _one("progressive-delay")["spec"])


def test_accepted_keys_are_the_common_ones_and_the_parameters() -> None:
    assert COMMON_KEYS == ("enabled", "namespace", "schedule", "historyLimit", "engine")
    assert list(CATALOG["packet-loss-scenario"].defaults.readers()) == [
        "app",
        "mode",
        "value",
        "duration",
        "loss",
        "correlation",
        "direction",
    ]


# --- problems -------------------------------------------------------------------------------------

ONE_UNIT = "accepted a single number with one unit (ns, us, ms, s, m, h), e.g. 500ms"
PERCENT = "accepted a number from 0 to 100 (percent), e.g. 90"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            {"basic-pod-kill": {"enabled": True, "duration": "forever"}},
            "experiments.basic-pod-kill.duration: got 'forever'; accepted a duration like 30s, 2m, 500ms or 1h30m",
        ),
        (
            {"api-high-latency": {"enabled": True, "latency": "1m30s"}},
            f"experiments.api-high-latency.latency: got '1m30s'; {ONE_UNIT}",
        ),
        (
            {"api-high-latency": {"enabled": True, "latency": "500"}},
            f"experiments.api-high-latency.latency: got '500'; {ONE_UNIT}",
        ),
        (
            {"api-high-latency": {"enabled": True, "latency": 500}},
            f"experiments.api-high-latency.latency: got 500; {ONE_UNIT}",
        ),
        (
            {"packet-loss-scenario": {"enabled": True, "loss": 150}},
            f"experiments.packet-loss-scenario.loss: got 150; {PERCENT}",
        ),
        (
            {"packet-loss-scenario": {"enabled": True, "correlation": -1}},
            f"experiments.packet-loss-scenario.correlation: got -1; {PERCENT}",
        ),
        (
            {"database-partition": {"enabled": True, "direction": "sideways"}},
            "experiments.database-partition.direction: got 'sideways'; accepted one of to, from, both",
        ),
        (
            {"database-partition": {"enabled": True, "mode": "fixed"}},
            "experiments.database-partition.value: mode fixed needs a value; accepted a number of pods, at least 1",
        ),
        (
            {"api-high-latency": {"enabled": True, "targetMode": "random-max-percent", "targetValue": 150}},
            "experiments.api-high-latency.targetValue: got 150; accepted a percentage from 1 to 100 with mode random-max-percent",
        ),
        (
            {"basic-pod-kill": {"enabled": True, "value": 2}},
            "experiments.basic-pod-kill.value: got 2; mode one takes no value (only fixed, fixed-percent and random-max-percent do)",
        ),
        (
            {"basic-pod-kill": {"enabled": True, "namespace": "kube-system"}},
            "experiments.basic-pod-kill.namespace: got 'kube-system'; accepted only the sandbox namespace 'chaos-sandbox': "
            "Chaos Mesh is fenced to it and every selector is pinned there",
        ),
        (
            {"chaos-monkey": {"enabled": True}},
            "experiments.chaos-monkey: unknown experiment; accepted one of basic-pod-kill, api-high-latency, "
            "packet-loss-scenario, database-partition, progressive-delay, backend-cpu-stress, backend-memory-stress, "
            "spot-interruption, node-group-loss, zone-outage",
        ),
        (
            {"packet-loss-scenario": {"enabled": True, "latency": "10ms"}},
            "experiments.packet-loss-scenario.latency: unknown override; accepted enabled, namespace, schedule, historyLimit, engine, "
            "app, mode, value, duration, loss, correlation, direction",
        ),
        (
            {"backend-cpu-stress": {"enabled": True, "duration": "20m"}},
            "experiments.backend-cpu-stress.duration: got '20m'; accepted at most 10m (chaos-lab:maxExperimentDuration)",
        ),
        (
            {"progressive-delay": {"enabled": True, "stepDuration": "3m"}},
            "experiments.progressive-delay.stepDuration: got '3m': 5 steps of it run 15m; "
            "accepted at most 10m in all (chaos-lab:maxExperimentDuration)",
        ),
        (
            {"progressive-delay": {"enabled": True, "stepDuration": "10s"}},
            "experiments.progressive-delay.stepDuration: got '10s'; accepted at least 30s, so the probe can fail 3 times within a step",
        ),
        (
            {"progressive-delay": {"enabled": True, "steps": ["50ms", "500"]}},
            'experiments.progressive-delay.steps: got ["50ms", "500"] (item 1 \'500\' has not exactly one unit); '
            'accepted a non-empty list of single-unit latencies, e.g. ["50ms", "100ms", "500ms"]',
        ),
        (
            {"basic-pod-kill": {"enabled": True, "app": "database"}},
            "experiments.basic-pod-kill.app: got 'database', which declares 1 replica(s), so pod-kill takes the whole "
            "workload down; accepted a workload with at least 2 replicas, or set allowSingleReplica: true",
        ),
        (
            {"basic-pod-kill": {"enabled": True, "app": "database", "action": "pod-failure"}},
            "experiments.basic-pod-kill.app: got 'database', which declares 1 replica(s), so pod-failure takes the whole "
            "workload down; accepted a workload with at least 2 replicas, or set allowSingleReplica: true",
        ),
        (
            {"basic-pod-kill": {"enabled": True, "action": "container-kill"}},
            "experiments.basic-pod-kill.containerNames: container-kill needs the containers to kill; "
            'accepted a list of container names, e.g. ["httpd"]',
        ),
        (
            {"backend-memory-stress": {"enabled": True, "workers": 4, "size": "512MB"}},
            "experiments.backend-memory-stress.size: got '512MB' for each of 4 worker(s); accepted at most 1024MiB in all "
            "(a t3.medium node has about 3.3GiB for all its pods)",
        ),
        (
            {"backend-cpu-stress": {"enabled": True, "schedule": "every tuesday"}},
            "experiments.backend-cpu-stress.schedule: got 'every tuesday' (2 fields instead of 5); accepted a cron line of 5 fields "
            "(minute hour day-of-month month day-of-week) with one minute, e.g. '0 */2 * * *', one of @hourly, @daily, @midnight, "
            "@weekly, @monthly, @yearly, @annually, or '@every <hours>h', e.g. '@every 2h': at most one run every 1h",
        ),
        (
            {"backend-cpu-stress": {"enabled": True, "historyLimit": 5}},
            "experiments.backend-cpu-stress.historyLimit: applies only with a schedule; add schedule or drop historyLimit",
        ),
        (
            {"basic-pod-kill": {"duration": "30s"}},
            "experiments.basic-pod-kill.enabled: missing; accepted true or false",
        ),
        (
            {"basic-pod-kill": True},
            'experiments.basic-pod-kill: got true; accepted an object such as {"enabled": true}',
        ),
    ],
)
def test_each_bad_input_is_one_clear_problem(raw: dict[str, Any], problem: str) -> None:
    assert parse_experiments(raw, FENCE) == ([], [problem])


@pytest.mark.parametrize(
    "cron",
    [
        "61 * * * *",
        "* * 0 * *",
        "* * * 13 *",
        "* * * * 7",
        "*/0 * * * *",
        "5-1 * * * *",
        "@every 0s",
        "@often",
        "TZ=UTC 0 3 * * *",
    ],
)
def test_bad_cron_lines_are_problems(cron: str) -> None:
    (problem,) = _problems({"basic-pod-kill": {"enabled": True, "schedule": cron}})
    assert problem.startswith(f"experiments.basic-pod-kill.schedule: got {cron!r} (")


@pytest.mark.parametrize(
    "cron", ["0 3 * * *", "15 * * * *", "0 9-17/2 * JAN-MAR mon,wed,fri", "0 0 1 * ?", "@hourly", "@every 1h30m"]
)
def test_good_cron_lines_are_accepted(cron: str) -> None:
    assert _one("basic-pod-kill", schedule=cron)["spec"]["schedule"] == cron


@pytest.mark.parametrize(
    "cron", ["*/15 * * * *", "0,30 * * * *", "0-5 3 * * *", "* 3 * * *", "@every 30m", "@every 59m59s", "@every 90m"]
)
def test_schedules_firing_more_often_than_the_floor_are_problems(cron: str) -> None:
    (problem,) = _problems({"basic-pod-kill": {"enabled": True, "schedule": cron}})
    assert problem.startswith(f"experiments.basic-pod-kill.schedule: got {cron!r} (")
    assert f"at most one run every {format_duration(MIN_SCHEDULE_INTERVAL_S)}" in problem


def _firings_per_day(cron: str) -> list[int]:
    """Minutes of a day on which a five-field line with `*` day fields fires (hour and minute fields only)."""
    minute, hour = cron.split()[:2]
    expand = lambda field, top: range(top) if field == "*" else [int(part) for part in field.split(",")]  # noqa: E731
    return sorted(h * 60 + m for h in expand(hour, 24) for m in expand(minute, 60))


@pytest.mark.parametrize(
    "cron",
    ["0 * * * *", "59 * * * *", "0,30 * * * *", "5 1,2 * * *", "@every 1h", "@every 59m", "@every 2h30m", "@every 90m"],
)
def test_the_accepted_shapes_never_fire_closer_than_the_floor(cron: str) -> None:
    """The floor is written as shapes, for the CEL twin of this rule. They never accept two runs closer than
    MIN_SCHEDULE_INTERVAL_S; for cron lines they are exact, and `@every` is held to whole hours (so 90m
    must be written 1h30m)."""
    accepted = interval_problem(cron) is None
    if cron.startswith("@every "):
        gap_s = parse_duration(cron.removeprefix("@every "))
        assert not accepted or gap_s >= MIN_SCHEDULE_INTERVAL_S, (cron, gap_s)
    else:
        minutes = _firings_per_day(cron)
        gap_s = 60 * min(
            later - earlier for earlier, later in zip(minutes, [*minutes[1:], minutes[0] + 24 * 60], strict=True)
        )
        assert accepted == (gap_s >= MIN_SCHEDULE_INTERVAL_S), (cron, gap_s)


def test_all_problems_are_reported_together() -> None:
    raw = {
        "api-high-latency": {
            "enabled": True,
            "latency": "1m30s",
            "correlation": -1,
            "direction": "sideways",
            "namespace": "kube-system",
        },
        "packet-loss-scenario": {"enabled": True, "loss": 150, "duration": "forever", "jitter": "1ms"},
        "basic-pod-kill": {"enabled": True, "app": "database"},
        "database-partition": {"enabled": True, "mode": "fixed"},
        "backend-cpu-stress": {"enabled": True, "duration": "20m"},
        "backend-memory-stress": {"enabled": False, "schedule": "* * *"},  # disabled entries are checked too
        "progressive-delay": {"enabled": True, "steps": ["50ms", "500"]},
        "chaos-monkey": {"enabled": True},
    }
    experiments, problems = parse_experiments(raw, FENCE)
    assert experiments == []
    assert [problem.split(":")[0] for problem in problems] == [
        "experiments.chaos-monkey",
        "experiments.basic-pod-kill.app",
        "experiments.api-high-latency.latency",
        "experiments.api-high-latency.correlation",
        "experiments.api-high-latency.direction",
        "experiments.api-high-latency.namespace",
        "experiments.packet-loss-scenario.loss",
        "experiments.packet-loss-scenario.duration",
        "experiments.packet-loss-scenario.jitter",
        "experiments.database-partition.value",
        "experiments.progressive-delay.steps",
        "experiments.backend-cpu-stress.duration",
        "experiments.backend-memory-stress.schedule",
    ]


def test_max_duration_comes_from_the_fence() -> None:
    short = replace(FENCE, max_duration_s=90.0)
    assert _problems({"packet-loss-scenario": {"enabled": True}}, short) == []  # the write-up's 90s fits exactly
    assert _problems({"api-high-latency": {"enabled": True}}, short) == [
        "experiments.api-high-latency.duration: got '120s'; accepted at most 90s (chaos-lab:maxExperimentDuration)"
    ]


def test_the_replica_rule_reads_the_declared_replicas() -> None:
    one_backend = replace(FENCE, workloads={**FENCE.workloads, "backend-api": 1})
    (problem,) = _problems({"basic-pod-kill": {"enabled": True}}, one_backend)
    assert problem.startswith("experiments.basic-pod-kill.app: got 'backend-api', which declares 1 replica(s)")
    # Network and resource chaos on a single pod are fine: they degrade it, they do not remove it.
    assert (
        _problems({"backend-cpu-stress": {"enabled": True}, "packet-loss-scenario": {"enabled": True}}, one_backend)
        == []
    )


def test_the_experiments_value_must_be_an_object() -> None:
    assert parse_experiments(["basic-pod-kill"], FENCE) == (  # type: ignore[arg-type]  # a list on purpose: bad config
        [],
        [
            'experiments: got ["basic-pod-kill"]; accepted an object keyed by experiment name (basic-pod-kill, '
            "api-high-latency, packet-loss-scenario, database-partition, progressive-delay, backend-cpu-stress, "
            "backend-memory-stress, spot-interruption, node-group-loss, zone-outage)"
        ],
    )


def test_a_rule_missed_before_building_still_comes_back_as_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretend the parameter checks forgot the mode/value rule: the model's own check still reports it.
    monkeypatch.setattr(type(CATALOG["database-partition"].defaults), "problems", lambda self, fence: [])
    assert parse_experiments({"database-partition": {"enabled": True, "mode": "fixed"}}, FENCE) == (
        [],
        ["experiments.database-partition: value: mode fixed needs a value; accepted a number of pods, at least 1"],
    )
