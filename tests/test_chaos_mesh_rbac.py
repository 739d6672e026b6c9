"""What the Chaos Mesh 2.8.3 chart grants its controller for the values the lab sets, read from the chart.

No helm binary is available here, so `render` below is a small, honest evaluator of the Go-template
subset `controller-manager-rbac.yaml` uses: `if`/`else`/`end` and `with` on `.Values` paths, `.Values` and
`.Release` substitutions with `| quote`, and whitespace trimming (`{{-`, `-}}`). The labels `include`
renders to nothing (labels grant nothing). Any other action raises, so the evaluator can never silently
mis-render a branch. It covers that one file; the deployment template is read as text, for the
environment variables that carry the values to the controller.

The kinds the controller watches, from chaos-mesh/chaos-mesh at tag v2.8.3:
- every chaos-mesh.org kind (controllers/common/fx.go, controllers/schedule/*, pkg/workflow/controllers/
  bootstrap.go, controllers/multicluster/remotecluster/fx.go: RemoteCluster is cluster-scoped);
- Pods (controllers/multicluster/remotepodreconciler/fx.go `For(&corev1.Pod{})`, and the workflow's Task
  reconciler `Owns(&corev1.Pod{})`), cluster-wide since the manager's cache is not namespaced in this mode;
- Namespaces, which the pod selector GETs through the cache when the namespace filter is on
  (pkg/selector/generic/namespace/selector.go `IsAllowedNamespaces`).
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.chaos_mesh import CONTROL_PLANE_NAMESPACE, CONTROLLER_SERVICE_ACCOUNT, RELEASE_NAME
from test_chaos_mesh_values import default_chart_values

CHART = Path(__file__).parent / "data" / "chaos-mesh-chart"
RBAC_TEMPLATE = CHART / "templates" / "controller-manager-rbac.yaml"
DEPLOYMENT_TEMPLATE = CHART / "templates" / "controller-manager-deployment.yaml"
WATCH = frozenset({"get", "list", "watch"})
# (API group, resource) -> the verbs the controller needs cluster-wide for what it watches (see above).
WATCHED_CLUSTER_WIDE = {("chaos-mesh.org", "remoteclusters"): WATCH, ("", "pods"): WATCH, ("", "namespaces"): WATCH}

_ACTION = re.compile(r"(?P<left>\s*)\{\{(?P<ltrim>-?)\s*(?P<body>.*?)\s*(?P<rtrim>-?)\}\}", re.S)


def lab_values() -> dict[str, Any]:
    """The chart's values.yaml overlaid with the lab's values, as Helm merges them."""
    return merged(yaml.safe_load((CHART / "values.yaml").read_text()), default_chart_values())


def merged(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in overlay.items():
        result[key] = (
            merged(result[key], value) if isinstance(value, Mapping) and isinstance(result.get(key), dict) else value
        )
    return result


def _lookup(values: Mapping[str, Any], expression: str) -> Any:
    scope, _, path = expression.lstrip(".").partition(".")
    node: Any = {"Values": values, "Release": {"Name": RELEASE_NAME, "Namespace": CONTROL_PLANE_NAMESPACE}}[scope]
    for key in path.split("."):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def render(template: str, values: Mapping[str, Any]) -> str:
    """The template's text for `values` (see the module docstring for the subset supported).

    Raises NotImplementedError for any action outside that subset.
    """
    out: list[str] = []
    active = [True]  # one entry per open if/with: is its current branch rendered?
    taken = [True]  # whether some branch of that block was taken
    position = 0
    for match in _ACTION.finditer(template):
        text = template[position : match.start()] + ("" if match["ltrim"] else match["left"])
        position = match.end()
        if all(active):
            out.append(text)
        if match["rtrim"]:
            rest = template[position:]
            position += len(rest) - len(rest.lstrip())
        body = match["body"]
        keyword, _, argument = body.partition(" ")
        if keyword in ("if", "with"):
            value = bool(_lookup(values, argument)) if argument.startswith(".Values.") else None
            if value is None:
                raise NotImplementedError(f"{{{{ {body} }}}}")
            active.append(value)
            taken.append(value)
        elif keyword == "else" and not argument:
            active[-1] = not taken[-1]
        elif keyword == "end":
            active.pop()
            taken.pop()
        elif body.startswith("include ") and body.endswith(("nindent 4", "nindent 6", "nindent 8")):
            continue
        elif re.fullmatch(r"\.(Values|Release)\.[\w.]+( \| quote)?", body):
            expression, _, quote = body.partition(" | ")
            value = _lookup(values, expression)
            if all(active):
                out.append(f'"{value}"' if quote else str(value))
        elif all(active):
            raise NotImplementedError(f"{{{{ {body} }}}}")
    out.append(template[position:])
    assert active == [True], "unbalanced if/with/end"
    return "".join(out)


def documents(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(render(RBAC_TEMPLATE.read_text(), values)) if doc]


def grants(docs: list[dict[str, Any]], *, cluster_wide: bool) -> Iterator[tuple[str, str, frozenset[str]]]:
    """(apiGroup, resource, verbs) the controller's service account holds, cluster-wide or in a namespace."""
    roles = {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs if doc["kind"] in ("Role", "ClusterRole")}
    binding_kind = "ClusterRoleBinding" if cluster_wide else "RoleBinding"
    for binding in (doc for doc in docs if doc["kind"] == binding_kind):
        subjects = {(subject["kind"], subject["name"], subject["namespace"]) for subject in binding["subjects"]}
        if ("ServiceAccount", CONTROLLER_SERVICE_ACCOUNT, CONTROL_PLANE_NAMESPACE) not in subjects:
            continue
        for rule in roles[(binding["roleRef"]["kind"], binding["roleRef"]["name"])]["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    yield group, resource, frozenset(rule["verbs"])


def holds(found: Iterator[tuple[str, str, frozenset[str]]], group: str, resource: str, verbs: frozenset[str]) -> bool:
    granted: set[str] = set()
    for rule_group, rule_resource, rule_verbs in found:
        if rule_group == group and rule_resource in (resource, "*"):
            granted |= rule_verbs
    return "*" in granted or verbs <= granted


# --- the evaluator ----------------------------------------------------------------------------------


def test_the_evaluator_takes_each_branch_and_refuses_what_it_cannot_render():
    template = "a: {{ .Release.Name | quote }}\n{{- if .Values.x }}\nb: 1\n{{- else }}\nb: 2\n{{- end }}\n"
    assert yaml.safe_load(render(template, {"x": True})) == {"a": RELEASE_NAME, "b": 1}
    assert yaml.safe_load(render(template, {"x": False})) == {"a": RELEASE_NAME, "b": 2}
    with pytest.raises(NotImplementedError):
        render("{{ toYaml .Values.x }}", {"x": 1})


def test_the_vendored_template_is_the_2_8_3_file():
    source = (CHART / "SOURCE.md").read_text()
    assert hashlib.sha256(RBAC_TEMPLATE.read_bytes()).hexdigest() in source
    assert hashlib.sha256(DEPLOYMENT_TEMPLATE.read_bytes()).hexdigest() in source


# --- the lab's mode ---------------------------------------------------------------------------------


def test_the_lab_sets_the_cluster_scoped_mode_and_the_controller_service_account_is_the_charts():
    values = lab_values()
    assert values["clusterScoped"] is True and values["controllerManager"]["enableFilterNamespace"] is True
    assert values["controllerManager"]["serviceAccount"] == CONTROLLER_SERVICE_ACCOUNT
    assert values["controllerManager"]["enabledControllers"] == ["*"], (
        "every controller runs, so every watch needs its grant"
    )
    assert values["rbac"]["create"] is True and values["controllerManager"]["serviceAccountCreate"] is True


@pytest.mark.parametrize(("group", "resource"), sorted(WATCHED_CLUSTER_WIDE))
def test_every_kind_the_controller_watches_is_granted_cluster_wide_in_the_labs_mode(group, resource):
    docs = documents(lab_values())
    assert holds(grants(docs, cluster_wide=True), group, resource, WATCHED_CLUSTER_WIDE[(group, resource)]), (
        f"{group or 'core'}/{resource}: not granted {sorted(WATCHED_CLUSTER_WIDE[(group, resource)])} cluster-wide"
    )


def test_chaos_objects_are_fully_manageable_cluster_wide_through_a_cluster_role_binding():
    docs = documents(lab_values())
    assert holds(grants(docs, cluster_wide=True), "chaos-mesh.org", "podchaos", frozenset({"*"}))
    bound = [
        doc
        for doc in docs
        if doc["kind"] == "ClusterRoleBinding" and doc["roleRef"]["name"].endswith("-target-namespace")
    ]
    assert len(bound) == 1, "the chaos-mesh.org rules are not bound cluster-wide"


def test_the_namespace_scoped_mode_lacks_exactly_what_breaks_it():
    """The contrast that rules the mode out: with clusterScoped false, nothing grants Namespaces (the
    filter's GET fails) or the cluster-scoped RemoteCluster list; chaos-mesh.org is only namespaced."""
    values = merged(lab_values(), {"clusterScoped": False, "controllerManager": {"targetNamespace": "chaos-sandbox"}})
    docs = documents(values)
    for group, resource in WATCHED_CLUSTER_WIDE:
        if resource != "pods":
            assert not holds(grants(docs, cluster_wide=True), group, resource, WATCH), (
                f"{resource} granted cluster-wide"
            )
    assert not holds(grants(docs, cluster_wide=False), "", "namespaces", WATCH)
    assert holds(grants(docs, cluster_wide=False), "chaos-mesh.org", "remoteclusters", WATCH), (
        "only through a RoleBinding"
    )


def test_the_values_reach_the_controller_as_its_environment():
    """A targeted reading of controller-manager-deployment.yaml: the controller reads the mode, the filter
    and its controller list from these variables (pkg/config/controller.go)."""
    text = DEPLOYMENT_TEMPLATE.read_text()
    for variable, expression in (
        ("CLUSTER_SCOPED", '"{{ .Values.clusterScoped }}"'),
        ("ENABLE_FILTER_NAMESPACE", '"{{ .Values.controllerManager.enableFilterNamespace }}"'),
        ("ENABLED_CONTROLLERS", '{{ .Values.controllerManager.enabledControllers | join "," | quote }}'),
    ):
        assert re.search(rf"- name: {variable}\n\s+value: {re.escape(expression)}\n", text), variable
    assert "serviceAccountName: {{ .Values.controllerManager.serviceAccount }}" in text
