"""The chaos-object rules, called directly on objects the lab's own renderer produces, and on broken copies."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy import StackValidationArgs

from chaoslab.experiments import CATALOG, PodAction
from policy.rules.chaos import (
    ALLOW_SINGLE_REPLICA_ANNOTATION,
    DEPLOYMENT_TYPE,
    chaos_duration_bounded,
    chaos_selectors_fenced,
    pod_kill_needs_replicas,
)
from policy_support import (
    chaos_args,
    chaos_manifest,
    chaos_type,
    policy_resource,
    resource_args,
    stack_violations,
    violations,
)

SCHEDULES = (None, "@every 2h")
OUTSIDE = "kube-system"


# --- chaos-duration-bounded -----------------------------------------------------------------------


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("name", CATALOG)
def test_every_catalog_experiment_is_bounded(name: str, schedule: str | None) -> None:
    assert violations(chaos_duration_bounded, chaos_args(chaos_manifest(name, schedule))) == []


def test_a_duration_over_the_ceiling_is_refused() -> None:
    manifest = chaos_manifest("basic-pod-kill", duration="11m")
    assert violations(chaos_duration_bounded, chaos_args(manifest)) == [
        "spec.duration: got 11m; accepted at most 10m (policy config maxExperimentDuration)"
    ]


def test_a_missing_duration_is_refused_inside_a_schedule_too() -> None:
    manifest = chaos_manifest("basic-pod-kill", schedule="@hourly")
    del manifest["spec"]["podChaos"]["duration"]
    assert violations(chaos_duration_bounded, chaos_args(manifest)) == [
        "spec.podChaos.duration: missing; every fault must end by itself, within 10m"
    ]


def test_the_ceiling_comes_from_policy_config() -> None:
    manifest = chaos_manifest("api-high-latency")  # 120s
    assert violations(chaos_duration_bounded, chaos_args(manifest, config={"maxExperimentDuration": "2m"})) == []
    assert violations(chaos_duration_bounded, chaos_args(manifest, config={"maxExperimentDuration": "90s"})) == [
        "spec.duration: got 120s; accepted at most 90s (policy config maxExperimentDuration)"
    ]


def test_a_workflow_step_needs_a_deadline_within_the_ceiling() -> None:
    manifest = chaos_manifest("progressive-delay")
    templates = {template["name"]: template for template in manifest["spec"]["templates"]}
    del templates["step-1-delay"]["deadline"]
    templates["step-2-delay"]["deadline"] = "20m"
    found = violations(chaos_duration_bounded, chaos_args(manifest))
    assert "spec.templates[step-1-delay].deadline: missing; every fault must end by itself, within 10m" in found
    assert (
        "spec.templates[step-2-delay].deadline: got 20m; accepted at most 10m (policy config maxExperimentDuration)"
        in found
    )


def test_a_workflow_whose_steps_add_up_past_the_ceiling_is_refused() -> None:
    # Five 3-minute steps: each within 10m, the ramp 15m, which the renderer writes as the entry's deadline.
    manifest = chaos_manifest("progressive-delay", step_duration="3m")
    assert violations(chaos_duration_bounded, chaos_args(manifest)) == [
        "spec.templates[ramp].deadline: got 15m; accepted at most 10m (policy config maxExperimentDuration)"
    ]


def test_a_workflow_entry_without_its_own_deadline_is_refused() -> None:
    """Serial steps add up; the entry's deadline is what bounds the run, so it must be there."""
    manifest = chaos_manifest("progressive-delay")
    del manifest["spec"]["templates"][0]["deadline"]
    assert violations(chaos_duration_bounded, chaos_args(manifest)) == [
        "spec.templates[ramp].deadline: missing; every fault must end by itself, within 10m"
    ]


def test_a_workflow_run_that_may_never_end_is_refused() -> None:
    manifest = chaos_manifest("progressive-delay", schedule="@daily")
    probe = next(
        template for template in manifest["spec"]["workflow"]["templates"] if template["name"] == "step-3-probe"
    )
    del probe["deadline"]
    assert violations(chaos_duration_bounded, chaos_args(manifest)) == [
        "spec.workflow.templates[step-3-probe].deadline: missing; every fault must end by itself, within 10m"
    ]


def test_a_kind_chaos_mesh_does_not_define_is_refused() -> None:
    manifest = chaos_manifest("basic-pod-kill", schedule="@hourly")
    manifest["spec"]["type"] = "PodChaoss"
    assert violations(chaos_duration_bounded, chaos_args(manifest)) == [
        "spec.type: 'PodChaoss' is not a kind Chaos Mesh defines, so the pack cannot check it"
    ]


def test_other_resources_are_not_its_concern() -> None:
    assert violations(chaos_duration_bounded, resource_args(DEPLOYMENT_TYPE, {"spec": {"replicas": 1}})) == []


# --- chaos-selectors-fenced -----------------------------------------------------------------------


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("name", CATALOG)
def test_every_catalog_experiment_is_fenced(name: str, schedule: str | None) -> None:
    assert violations(chaos_selectors_fenced, chaos_args(chaos_manifest(name, schedule))) == []


@pytest.mark.parametrize("namespaces", [None, []], ids=["missing", "empty"])
def test_a_selector_must_name_its_namespaces(namespaces: list[str] | None) -> None:
    manifest = chaos_manifest("basic-pod-kill")
    manifest["spec"]["selector"]["namespaces"] = namespaces
    assert violations(chaos_selectors_fenced, chaos_args(manifest)) == [
        "spec.selector.namespaces: missing or empty; accepted only fenced namespaces (chaos-sandbox), listed explicitly"
    ]


def test_a_fault_without_a_selector_is_refused() -> None:
    manifest = chaos_manifest("backend-memory-stress")
    del manifest["spec"]["selector"]
    assert violations(chaos_selectors_fenced, chaos_args(manifest)) == [
        "spec.selector: missing; accepted only fenced namespaces (chaos-sandbox), named in selector.namespaces"
    ]


def test_a_network_target_outside_the_fence_is_refused() -> None:
    manifest = chaos_manifest("database-partition")
    manifest["spec"]["target"]["selector"]["namespaces"] = ["chaos-sandbox", OUTSIDE]
    assert violations(chaos_selectors_fenced, chaos_args(manifest)) == [
        f"spec.target.selector.namespaces: got ['{OUTSIDE}']; accepted only fenced namespaces (chaos-sandbox)"
    ]


def test_a_schedule_embedded_selector_outside_the_fence_is_refused() -> None:
    manifest = chaos_manifest("backend-cpu-stress", schedule="@hourly")
    manifest["spec"]["stressChaos"]["selector"]["namespaces"] = [OUTSIDE]
    assert violations(chaos_selectors_fenced, chaos_args(manifest)) == [
        f"spec.stressChaos.selector.namespaces: got ['{OUTSIDE}']; accepted only fenced namespaces (chaos-sandbox)"
    ]


def test_a_workflow_template_selector_outside_the_fence_is_refused() -> None:
    manifest = chaos_manifest("progressive-delay")
    step = next(template for template in manifest["spec"]["templates"] if template["name"] == "step-4-delay")
    step["networkChaos"]["selector"]["pods"] = {OUTSIDE: ["coredns-0"]}
    assert violations(chaos_selectors_fenced, chaos_args(manifest)) == [
        f"spec.templates[step-4-delay].networkChaos.selector.pods: names pods in ['{OUTSIDE}']; accepted only fenced namespaces (chaos-sandbox)"
    ]


def test_an_object_outside_the_fence_is_refused() -> None:
    manifest = chaos_manifest("packet-loss-scenario")
    manifest["metadata"]["namespace"] = "default"
    assert violations(chaos_selectors_fenced, chaos_args(manifest)) == [
        "metadata.namespace: got 'default'; accepted one of the fenced namespaces (chaos-sandbox)"
    ]


def test_an_http_chaos_target_is_a_string_not_a_selector() -> None:
    """HTTPChaos names `target: Request` or `Response`; only a NetworkChaos target is a selector."""
    manifest = chaos_manifest("basic-pod-kill")
    manifest["kind"] = "HTTPChaos"
    spec = manifest["spec"]
    manifest["spec"] = {
        "selector": spec["selector"],
        "mode": spec["mode"],
        "duration": spec["duration"],
        "target": "Request",
        "port": 80,
        "abort": True,
    }
    assert violations(chaos_selectors_fenced, chaos_args(manifest)) == []
    manifest["spec"]["selector"]["namespaces"] = [OUTSIDE]
    assert violations(chaos_selectors_fenced, chaos_args(manifest)) == [
        f"spec.selector.namespaces: got ['{OUTSIDE}']; accepted only fenced namespaces (chaos-sandbox)"
    ]


def test_the_fence_comes_from_policy_config() -> None:
    manifest = chaos_manifest("packet-loss-scenario")
    assert (
        violations(
            chaos_selectors_fenced, chaos_args(manifest, config={"fencedNamespaces": ["chaos-sandbox", "team-b"]})
        )
        == []
    )
    assert len(violations(chaos_selectors_fenced, chaos_args(manifest, config={"fencedNamespaces": ["team-b"]}))) == 2


# --- pod-kill-needs-replicas ----------------------------------------------------------------------


def deployment(app: str, replicas: int | None, namespace: str = "chaos-sandbox") -> Any:
    spec: dict[str, Any] = {"template": {"metadata": {"labels": {"app": app}}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return policy_resource(DEPLOYMENT_TYPE, {"metadata": {"name": app, "namespace": namespace}, "spec": spec}, name=app)


def chaos_object(manifest: dict[str, Any]) -> Any:
    return policy_resource(chaos_type(manifest["kind"]), manifest, name=manifest["metadata"]["name"])


# The write-up's demo app: frontend x2, backend x3, one database.
DEMO_APP = [deployment("frontend-app", 2), deployment("backend-api", 3), deployment("database", 1)]


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_the_catalog_passes_against_the_demo_app(schedule: str | None) -> None:
    experiments = [chaos_object(chaos_manifest(name, schedule)) for name in CATALOG]
    assert stack_violations(pod_kill_needs_replicas, [*DEMO_APP, *experiments]) == []


def test_killing_the_only_pod_is_refused_inside_a_schedule_too() -> None:
    manifest = chaos_manifest("basic-pod-kill", schedule="@hourly", app="database")
    assert stack_violations(pod_kill_needs_replicas, [*DEMO_APP, chaos_object(manifest)]) == [
        "spec.podChaos: pod-kill hits app=database, which runs 1 replica(s), so it takes the whole workload down; "
        f'accepted a Deployment with at least 2 replicas, or annotate the object {ALLOW_SINGLE_REPLICA_ANNOTATION}: "true"'
    ]


def test_the_annotation_allows_a_single_replica() -> None:
    manifest = chaos_manifest("basic-pod-kill", app="database")
    manifest["metadata"]["annotations"][ALLOW_SINGLE_REPLICA_ANNOTATION] = "true"
    assert stack_violations(pod_kill_needs_replicas, [*DEMO_APP, chaos_object(manifest)]) == []


def test_a_deployment_without_replicas_counts_as_one() -> None:
    manifest = chaos_manifest("basic-pod-kill", action=PodAction.POD_FAILURE)
    assert (
        len(stack_violations(pod_kill_needs_replicas, [deployment("backend-api", None), chaos_object(manifest)])) == 1
    )


def test_a_workload_in_another_namespace_does_not_count() -> None:
    manifest = chaos_manifest("basic-pod-kill")
    assert stack_violations(
        pod_kill_needs_replicas, [deployment("backend-api", 3, namespace="elsewhere"), chaos_object(manifest)]
    ) == [
        "spec: pod-kill hits app=backend-api, which no Deployment in the stack runs in ['chaos-sandbox']; "
        f'or annotate the object {ALLOW_SINGLE_REPLICA_ANNOTATION}: "true"'
    ]


def test_faults_that_leave_pods_running_are_not_its_concern() -> None:
    container_kill = chaos_manifest(
        "basic-pod-kill", app="database", action=PodAction.CONTAINER_KILL, container_names=("redis",)
    )
    partition = chaos_manifest("database-partition")
    assert (
        stack_violations(pod_kill_needs_replicas, [*DEMO_APP, chaos_object(container_kill), chaos_object(partition)])
        == []
    )


def test_the_violation_names_the_chaos_object() -> None:
    manifest = chaos_manifest("basic-pod-kill", app="database")
    reported: list[str | None] = []
    pod_kill_needs_replicas.validate(
        StackValidationArgs([*DEMO_APP, chaos_object(manifest)]), lambda message, urn=None: reported.append(urn)
    )
    assert reported == [chaos_object(manifest).urn]
