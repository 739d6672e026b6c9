"""An existing stack updates in place: every resource it holds keeps its URN, or declares an alias to it.

Pulumi identifies a resource by URN (its type, name and parent's type chain); a resource moved under a new
parent, or renamed, without an alias is deleted and created again. The baseline URNs are in
tests/data/urns/ (SOURCE.md says where they come from).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from pulumi_harness import Deployment, run_lab

BASELINE_DIR = Path(__file__).resolve().parent / "data" / "urns"
STACKS = sorted(path.stem for path in BASELINE_DIR.glob("*.txt"))
# Components have no state of their own outside Pulumi: a new one is created beside what it wraps.
NEW_COMPONENTS = {"chaos-lab:demoapp:Tier"}


def _baseline(stack: str) -> set[str]:
    return set((BASELINE_DIR / f"{stack}.txt").read_text().split())


@pytest.fixture(scope="module", params=STACKS)
def stack_and_deployment(request) -> tuple[str, Deployment]:
    return request.param, run_lab(request.param)


def test_the_baseline_covers_each_stack():
    assert STACKS == ["dev", "kind", "prod"]


def test_every_urn_of_an_existing_stack_is_declared_or_aliased(stack_and_deployment):
    stack, deployment = stack_and_deployment
    declared = {item.urn for item in deployment.registrations}
    aliased = {alias for item in deployment.registrations for alias in item.alias_urns}
    assert sorted(_baseline(stack) - declared - aliased) == []


def test_each_moved_resource_aliases_exactly_its_old_urn(stack_and_deployment):
    """A moved resource's alias is its own old URN (same type and name, old parent), claimed by it alone."""
    stack, deployment = stack_and_deployment
    before = _baseline(stack)
    moved = [item for item in deployment.registrations if item.urn not in before and item.type not in NEW_COMPONENTS]
    for item in moved:
        old = [alias for alias in item.alias_urns if alias in before]
        assert len(old) == 1, f"{item.urn}: aliases {item.alias_urns} name no URN the stack holds"
        assert old[0].endswith(f"${item.type}::{item.name}"), f"{item.urn} aliases another resource: {old[0]}"
    claims = Counter(alias for item in deployment.registrations for alias in item.alias_urns)
    assert [alias for alias, count in claims.items() if count > 1] == []
    assert [alias for alias in claims if alias in {item.urn for item in deployment.registrations}] == []


def test_the_demo_app_objects_moved_under_their_tiers(stack_and_deployment):
    """What this file guards today: the app's objects, once the DemoApp's own children, now under a Tier each."""
    _, deployment = stack_and_deployment
    demo = deployment.one("chaos-lab:demoapp:DemoApp")
    tiers = {item.urn for item in deployment.of_type("chaos-lab:demoapp:Tier")}
    objects = [item for item in deployment.registrations if item.parent in tiers]
    assert objects, "no objects under the tiers"
    for item in objects:
        # pulumi-kubernetes adds aliases of its own, to the object's older API versions.
        assert _mock_urn(demo.urn, item.type, item.name) in item.alias_urns, item.name


def _mock_urn(parent_urn: str, type_token: str, name: str) -> str:
    """A URN as the mock monitor builds it: the parent's last type, then the resource's type and name."""
    prefix, _, rest = parent_urn.partition("::chaos-lab::")
    parent_type = rest.split("::")[0].split("$")[-1]
    return f"{prefix}::chaos-lab::{parent_type}${type_token}::{name}"
