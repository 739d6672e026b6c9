"""The in-cluster admission policy, evaluated by a real CEL implementation, and the policy pack, both run
over one corpus (tests/chaos_corpus.py) so the two places the lab's chaos rules live cannot drift.

The CEL runs in cel-python (a pure-Python implementation of the CEL spec) the way the API server runs a
ValidatingAdmissionPolicy: `matchConstraints`, then `matchConditions`, then `variables` in order (each
seeing the ones before it as `variables.<name>`), then every validation, whose `messageExpression` gives
the denial. `object` and `oldObject` are plain maps and lists, as the API server converts them from
unstructured objects. What this does not exercise: Kubernetes' own CEL libraries (the policy uses none:
no strings extension, no url, quantity or authorizer libraries), the API server's CEL cost estimator and
runtime budget (cel-python counts no cost; experiments/admission.py explains why each expression stays
linear in the object's size), and cel-go's stricter `has()` on a missing intermediate field (the policy
guards every level, which `test_every_has_chain_tests_each_level` checks by reading the expressions).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

import celpy
import pytest
from celpy import celtypes

import k8s_schema
from chaos_corpus import LABS, Bad, Lab, Request, bad_requests, good_requests
from chaoslab.experiments import admission
from chaoslab.experiments.cron import CRON_ONE_MINUTE, DESCRIPTORS, EVERY_AT_LEAST_THE_FLOOR
from policy.rules import chaos as pack_chaos
from policy.rules import chaos_objects
from policy_support import chaos_type, resource_args, violations

POLICY_NAME = "chaos-lab-rules"
# The pack's resource policies for chaos objects; the stack policy (replicas) needs a whole stack.
PACK_POLICIES = (
    pack_chaos.chaos_kinds_allowed,
    pack_chaos.chaos_duration_bounded,
    pack_chaos.chaos_selectors_fenced,
    pack_chaos.chaos_status_checks_fenced,
    pack_chaos.chaos_schedules_bounded,
)
_ENVIRONMENT = celpy.Environment()


class CelPolicy:
    """A ValidatingAdmissionPolicy manifest, compiled once, evaluated per request."""

    def __init__(self, manifest: Mapping[str, Any]) -> None:
        spec = manifest["spec"]
        self.rules = spec["matchConstraints"]["resourceRules"]
        self.conditions = [self._compile(condition["expression"]) for condition in spec["matchConditions"]]
        self.variables = [(variable["name"], self._compile(variable["expression"])) for variable in spec["variables"]]
        self.validations = [
            (
                validation["message"].split(":", 1)[0],
                self._compile(validation["expression"]),
                self._compile(validation["messageExpression"]),
            )
            for validation in spec["validations"]
        ]

    @staticmethod
    def _compile(expression: str) -> Any:
        return _ENVIRONMENT.program(_ENVIRONMENT.compile(expression))

    def matches(self, request: Request) -> bool:
        group = request.manifest["apiVersion"].split("/")[0]
        return any(group in rule["apiGroups"] and request.operation in rule["operations"] for rule in self.rules)

    def denials(self, request: Request) -> dict[str, str]:
        """{rule name: message} of every validation the request fails; {} when admitted or not judged."""
        activation: dict[str, Any] = {
            "object": celpy.json_to_cel(request.manifest),
            "oldObject": celpy.json_to_cel(request.old),
            "request": celpy.json_to_cel(
                {
                    "operation": request.operation,
                    "namespace": request.manifest["metadata"]["namespace"],
                    "userInfo": {"username": request.user},
                }
            ),
        }
        if not self.matches(request) or not all(condition.evaluate(activation) for condition in self.conditions):
            return {}
        computed = celtypes.MapType()
        for name, program in self.variables:
            activation["variables"] = computed
            computed[celtypes.StringType(name)] = program.evaluate(activation)
        activation["variables"] = computed
        found: dict[str, str] = {}
        for name, expression, message in self.validations:
            verdict = expression.evaluate(activation)
            assert isinstance(verdict, celtypes.BoolType), f"{name}: evaluated to {verdict!r}, not a bool"
            if not verdict:
                found[name] = str(message.evaluate(activation))
        return found


@functools.cache
def compiled(lab: Lab) -> CelPolicy:
    return CelPolicy(admission.policy(POLICY_NAME, lab.admission))


def pack_denials(lab: Lab, request: Request) -> dict[str, list[str]]:
    args = resource_args(chaos_type(request.manifest["kind"]), request.manifest, config=lab.pack_config)
    return {policy.name: found for policy in PACK_POLICIES if (found := violations(policy, args))}


def _cases(requests: Any) -> list[Any]:
    return [
        pytest.param(lab, request, id=f"{lab.sandbox}: {request.name}") for lab in LABS for request in requests(lab)
    ]


# --- the corpus ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("lab", "request_"), _cases(good_requests))
def test_every_shape_the_lab_and_its_controller_produce_is_admitted(lab: Lab, request_: Request) -> None:
    assert compiled(lab).denials(request_) == {}
    if request_.declared_by_a_stack:
        assert pack_denials(lab, request_) == {}


@pytest.mark.parametrize(("lab", "request_"), _cases(bad_requests))
def test_each_rule_denies_its_bad_objects_naming_the_field(lab: Lab, request_: Bad) -> None:
    denials = compiled(lab).denials(request_)
    assert set(denials) == {request_.rule, *request_.extra_rules}, denials
    assert denials[request_.rule].startswith(f"{request_.field_path}:"), denials[request_.rule]


@pytest.mark.parametrize(("lab", "request_"), _cases(lambda lab: (bad for bad in bad_requests(lab) if bad.pack_policy)))
def test_the_policy_pack_denies_the_same_objects_naming_the_same_field(lab: Lab, request_: Bad) -> None:
    found = pack_denials(lab, request_).get(request_.pack_policy or "", [])
    assert any(message.startswith(request_.field_path) for message in found), (request_.pack_policy, found)


def test_every_rule_has_bad_objects_and_every_pack_twin_is_exercised() -> None:
    lab = LABS[0]
    bad = list(bad_requests(lab))
    assert {rule.name for rule in admission.rules(lab.admission)} == {case.rule for case in bad}
    assert {policy.name for policy in PACK_POLICIES} == {case.pack_policy for case in bad if case.pack_policy}


# --- one table for both ---------------------------------------------------------------------------------


def test_the_pack_and_the_admission_policy_share_the_allow_list_and_the_floor() -> None:
    """The pack runs in its own virtualenv and imports only its `rules`, so it keeps twins of these."""
    for name in (
        "FAULT_KINDS",
        "USER_KINDS",
        "CONTROLLER_KINDS",
        "SCHEDULE_TYPES",
        "GROUP_TEMPLATE_TYPES",
        "TEMPLATE_TYPES",
    ):
        assert getattr(chaos_objects, name) == getattr(admission, name), name
    assert {kind: key for kind, key in chaos_objects.EMBED_KEYS.items() if kind != "Workflow"} == admission.EMBED_KEYS
    assert (pack_chaos.REFUSED_EMBED_KEYS, pack_chaos.REFUSED_TEMPLATE_KEYS) == (
        admission.REFUSED_EMBED_KEYS,
        admission.REFUSED_TEMPLATE_KEYS,
    )
    assert (pack_chaos.EVERY_AT_LEAST_THE_FLOOR, pack_chaos.CRON_ONE_MINUTE) == (
        EVERY_AT_LEAST_THE_FLOOR,
        CRON_ONE_MINUTE,
    )
    assert pack_chaos.SCHEDULE_DESCRIPTORS == DESCRIPTORS


# --- the objects themselves -----------------------------------------------------------------------------


@pytest.mark.parametrize("lab", LABS, ids=[lab.sandbox for lab in LABS])
def test_the_policy_and_binding_pass_the_kubernetes_schema(lab: Lab) -> None:
    assert k8s_schema.schema_errors(admission.policy(POLICY_NAME, lab.admission)) == []
    assert k8s_schema.schema_errors(admission.binding(POLICY_NAME, POLICY_NAME)) == []


def test_the_binding_denies_and_the_policy_fails_closed_on_every_chaos_object() -> None:
    policy = admission.policy(POLICY_NAME, LABS[0].admission)["spec"]
    assert policy["failurePolicy"] == "Fail"
    assert policy["matchConstraints"]["resourceRules"] == [
        {"apiGroups": ["chaos-mesh.org"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": ["*"]}
    ]
    assert "namespaceSelector" not in policy["matchConstraints"], (
        "the policy must judge chaos objects in every namespace"
    )
    assert admission.binding(POLICY_NAME, POLICY_NAME)["spec"] == {
        "policyName": POLICY_NAME,
        "validationActions": ["Deny"],
    }
    assert all(validation["messageExpression"] for validation in policy["validations"])


def test_the_parameters_are_baked_into_the_cel() -> None:
    chaos_sandbox, game_day = (admission.policy(POLICY_NAME, lab.admission) for lab in LABS)
    assert "'game-day'" in repr(game_day) and "'game-day'" not in repr(chaos_sandbox)
    assert "duration('300s')" in repr(game_day) and "duration('600s')" in repr(chaos_sandbox)


def test_every_has_chain_tests_each_level() -> None:
    """cel-go errors on `has(a.b.c)` when `a.b` is missing (an error denies with a generic message under
    failurePolicy Fail); cel-python quietly returns false, so this is checked by reading the CEL: every
    `has(x.y.z)` must come with `has(x.y)` (or `'y' in x`) in the same expression, unless x.y is known
    to be present."""
    policy = admission.policy(POLICY_NAME, LABS[0].admission)["spec"]
    expressions = [item["expression"] for item in policy["variables"]] + [
        text for item in policy["validations"] for text in (item["expression"], item["messageExpression"])
    ]
    # Built by the policy itself, so always present: a fault's map, a template, a status check entry.
    always_there = ("variables.spec", "variables.workflow", "f.spec", "c.check", "object.metadata", "t.statusCheck")
    nested = []
    for expression in expressions:
        for chain in re.findall(r"has\(([\w.]+)\)", expression):
            parent = chain.rsplit(".", 1)[0]
            if "." not in parent or parent in always_there:
                continue
            nested.append(chain)
            holder, key = parent.rsplit(".", 1)
            assert f"has({parent})" in expression or f"'{key}' in {holder}" in expression, (
                f"has({chain}) without a test of {parent} in: {expression[:160]}..."
            )
    assert len(nested) > 10, f"too few nested has() chains found to trust this check: {nested}"
