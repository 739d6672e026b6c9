"""The policy pack as a whole: its entry point, its metadata, its config files, and the real program.

The last tests run every rule over what the program declares under mocks, so they need the program's
Chaos Mesh release, RBAC, demo app and experiments.
"""

from __future__ import annotations

import re
import runpy
import sys
from typing import Any

import jsonschema
import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy

from experiments_support import all_enabled
from policy.rules import POLICIES
from policy.rules.chaos import ALLOW_SINGLE_REPLICA_ANNOTATION, pod_kill_needs_replicas
from policy.rules.chaos_mesh_release import RELEASE_TYPE
from policy.rules.chaos_objects import chaos_kind
from policy.rules.pack_config import MAX_DURATION_KEY, parse_duration_s
from policy.rules.rbac import RBAC_TYPE_PREFIX
from policy_support import (
    AnyPolicy,
    from_registration,
    policy_config,
    policy_config_files,
    registration_args,
    stack_violations,
    violations,
)
from pulumi_harness import PROJECT_DIR, Deployment, cli_config, run_lab

KEBAB_CASE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
POLICIES_BY_NAME = {policy.name: policy for policy in POLICIES}
ADVISORY = {"production-on-demand-nodes", "production-no-scheduled-chaos"}


def test_names_are_unique_and_kebab_case() -> None:
    assert len(POLICIES_BY_NAME) == len(POLICIES)
    assert all(KEBAB_CASE.fullmatch(name) for name in POLICIES_BY_NAME)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda policy: policy.name)
def test_each_description_is_one_sentence(policy: AnyPolicy) -> None:
    assert policy.description.endswith(".") and ". " not in policy.description


def test_only_the_production_advice_is_advisory() -> None:
    advisory = {policy.name for policy in POLICIES if policy.enforcement_level is EnforcementLevel.ADVISORY}
    assert advisory == ADVISORY
    assert all(
        policy.enforcement_level is EnforcementLevel.MANDATORY for policy in POLICIES if policy.name not in ADVISORY
    )


def test_the_entry_point_builds_the_pack_the_way_the_cli_runs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI runs policy/ as a directory, so `rules` is imported top-level there; the server is stubbed."""
    built: dict[str, Any] = {}
    monkeypatch.setattr("pulumi_policy.PolicyPack", lambda **pack: built.update(pack))
    try:
        runpy.run_path(str(PROJECT_DIR / "policy"), run_name="__main__")
    finally:
        # Leave no top-level `rules` behind for other tests to import by accident.
        for module in [name for name in sys.modules if name == "rules" or name.startswith("rules.")]:
            del sys.modules[module]
    assert built["name"] == "chaos-lab"
    assert [policy.name for policy in built["policies"]] == list(POLICIES_BY_NAME)


@pytest.mark.parametrize("path", policy_config_files(), ids=lambda path: path.name)
def test_policy_config_files_match_the_schemas(path: Any) -> None:
    for name, settings in policy_config(path.stem).items():
        schema = POLICIES_BY_NAME[name].config_schema
        assert schema is not None, f"{path.name}: {name} takes no config"
        properties = {**schema.properties, "enforcementLevel": {"enum": [level.value for level in EnforcementLevel]}}
        jsonschema.validate(settings, {"type": "object", "properties": properties, "additionalProperties": False})


@pytest.mark.parametrize("path", policy_config_files(), ids=lambda path: path.name)
def test_each_stacks_own_ceiling_fits_the_packs(path: Any) -> None:
    """A stack whose config allowed longer experiments than its pack would fail at preview, not at config time."""
    stack_ceiling = cli_config(path.stem)[f"chaos-lab:{MAX_DURATION_KEY}"]
    pack_ceiling = policy_config(path.stem)["chaos-duration-bounded"][MAX_DURATION_KEY]
    assert parse_duration_s(stack_ceiling) <= parse_duration_s(pack_ceiling)


# --- the real program -----------------------------------------------------------------------------


def policy_violations(deployment: Deployment, stack: str) -> dict[str, list[str]]:
    """Every rule over every declared resource, with the stack's policy config; {policy: [messages]}."""
    config = policy_config(stack)
    found: dict[str, list[str]] = {}
    for policy in POLICIES:
        settings = config.get(policy.name)
        if isinstance(policy, ResourceValidationPolicy):
            messages = [
                f"{registration.name}: {message}"
                for registration in deployment.registrations
                for message in violations(policy, registration_args(registration, settings))
            ]
        else:
            messages = stack_violations(policy, map(from_registration, deployment.registrations), settings)
        if messages:
            found[policy.name] = messages
    return found


def test_the_dev_stack_with_every_experiment_passes_every_rule() -> None:
    deployment = run_lab("dev", {"experiments": all_enabled()})
    declared = [registration.type for registration in deployment.registrations]
    # The pack must have something to check: the chaos objects, the release and the lab's RBAC.
    assert len([kind for kind in map(chaos_kind, declared) if kind]) == len(all_enabled())
    assert declared.count(RELEASE_TYPE) == 1
    assert {f"{RBAC_TYPE_PREFIX}{kind}" for kind in ("Role", "RoleBinding")} <= set(declared)
    assert policy_violations(deployment, "dev") == {}


def test_allow_single_replica_reaches_the_object_as_the_packs_annotation() -> None:
    """`allowSingleReplica: true` in stack config must become the annotation the pack reads."""
    experiments = {"basic-pod-kill": {"enabled": True, "app": "database", "allowSingleReplica": True}}
    deployment = run_lab("dev", {"experiments": experiments})
    pod_kill = next(
        registration for registration in deployment.registrations if chaos_kind(registration.type) == "PodChaos"
    )
    assert pod_kill.inputs["metadata"]["annotations"][ALLOW_SINGLE_REPLICA_ANNOTATION] == "true"
    resources = [from_registration(registration) for registration in deployment.registrations]
    assert stack_violations(pod_kill_needs_replicas, resources) == []


def test_the_prod_stack_as_declared_passes_every_rule() -> None:
    """Pull requests do not preview prod (that needs prod's passphrase), so this is their check of prod.

    It runs every rule, with prod's pack config, over what Pulumi.prod.yaml declares under mocks: no
    state, no secrets, and nothing that only a real preview would know (values unknown until apply).
    """
    deployment = run_lab("prod")
    assert RELEASE_TYPE in {registration.type for registration in deployment.registrations}
    assert policy_violations(deployment, "prod") == {}
