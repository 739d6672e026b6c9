"""One corpus of chaos-mesh.org objects, good and bad, for the two places the lab's chaos rules live: the
in-cluster admission policy (experiments/admission.py, evaluated as CEL) and the preview-time policy pack
(policy/rules/chaos.py). Both are run over it, so they cannot drift apart unnoticed.

Good: every catalog experiment in every shape the stack config can produce, rendered by the lab's own
model, and everything the Chaos Mesh controller creates from them (a Schedule's runs, a Workflow's
nodes and their chaos and status checks, NetworkChaos's per-pod records), built the way its v2.8.3
source builds them (pkg/workflow/controllers/new_node.go, chaos_node_reconciler.go,
statuscheck_reconciler.go; controllers/schedule/cron/controller.go).
FIS: what AWS FIS creates, as the user `fis-experiment`, for each entry that runs through it
(`engine: fis`, aws:eks:inject-kubernetes-custom-resource): the entry's own spec as the object's spec, in
the namespace the template names. The object's name is FIS's to choose; the policy does not read it.
Bad: for each rule, objects it must deny, each with the field the denial must name.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chaoslab.config import topology
from chaoslab.experiments import CATALOG, Fence, parse_experiments
from chaoslab.experiments.admission import EMBED_KEYS, AdmissionFence
from chaoslab.experiments.config import parse_all_experiments
from chaoslab.experiments.durations import format_duration, parse_duration
from chaoslab.experiments.fis import FisLab, LabRefs
from components.chaos_mesh import CONTROLLER_USER
from components.fis import FIS_KUBERNETES_USER

ADMIN = "kubernetes-admin"
OUTSIDE = "kube-system"
START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SCHEDULES = ("@hourly", "@every 2h", "0 3 * * *", "30 9-17 * * mon-fri")


@dataclass(frozen=True)
class Lab:
    """The parameters both policies are rendered for."""

    sandbox: str
    max_duration_s: float

    @property
    def fence(self) -> Fence:
        return Fence(
            namespace=self.sandbox,
            max_duration_s=self.max_duration_s,
            workloads=topology.workloads(2, 3),
            probe_url=topology.frontend_url(self.sandbox),
        )

    @property
    def admission(self) -> AdmissionFence:
        return AdmissionFence(sandbox=self.sandbox, max_duration_s=self.max_duration_s, controller_user=CONTROLLER_USER)

    @property
    def pack_config(self) -> dict[str, Any]:
        return {"fencedNamespaces": [self.sandbox], "maxExperimentDuration": format_duration(self.max_duration_s)}


# The stack default, and a renamed sandbox with prod's tighter ceiling.
LABS = (Lab("chaos-sandbox", 600.0), Lab("game-day", 300.0))


@dataclass(frozen=True)
class Request:
    """One admission request: who sends which object, and for an UPDATE the object before."""

    name: str
    manifest: Mapping[str, Any]
    user: str = ADMIN
    old: Mapping[str, Any] | None = None
    declared_by_a_stack: bool = True  # what the policy pack can see at preview

    @property
    def operation(self) -> str:
        return "CREATE" if self.old is None else "UPDATE"


@dataclass(frozen=True)
class Bad(Request):
    rule: str = ""  # the admission rule that must deny it
    field_path: str = ""  # the field its message (and the pack's) must start with
    pack_policy: str | None = None  # the pack policy that must deny it (None: the pack never sees it)
    extra_rules: frozenset[str] = field(default_factory=frozenset)  # other rules it also breaks


# --- good ---------------------------------------------------------------------------------------------


def config_shapes(lab: Lab) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, chaos-lab:experiments entry) for every catalog entry in every shape the config can take:
    defaults, each kind of schedule with the most history, and overrides at the limits."""
    longest = format_duration(lab.max_duration_s)
    for name, entry in CATALOG.items():
        yield name, {"enabled": True}
        for schedule in SCHEDULES:
            yield f"{name} on {schedule!r}", {"enabled": True, "schedule": schedule, "historyLimit": 10}
        parameters = entry.parameters()
        overrides: dict[str, Any] = {"mode": "fixed-percent", "value": 50}
        if "duration" in parameters:
            overrides["duration"] = longest
        if "stepDuration" in parameters:
            overrides["stepDuration"] = format_duration(lab.max_duration_s / len(parameters["steps"]))
        if "allowSingleReplica" in parameters:
            overrides["allowSingleReplica"] = True
        if "targetMode" in parameters:
            overrides |= {"targetMode": "fixed", "targetValue": 1}
        yield f"{name} at its limits", {"enabled": True, **overrides}
        yield f"{name} at its limits on a schedule", {"enabled": True, **overrides, "schedule": "@daily"}


def lab_objects(lab: Lab) -> Iterator[tuple[str, dict[str, Any]]]:
    for label, raw in config_shapes(lab):
        name = label.split(" ", 1)[0]
        experiments, problems = parse_experiments({name: raw}, lab.fence)
        assert problems == [], problems
        (experiment,) = experiments
        yield label, experiment.manifest()


def _owned(manifest: Mapping[str, Any], name: str, kind: str, spec: Any) -> dict[str, Any]:
    owner = manifest["metadata"]
    return {
        "apiVersion": manifest["apiVersion"],
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": owner["namespace"],
            "ownerReferences": [
                {
                    "apiVersion": manifest["apiVersion"],
                    "kind": manifest["kind"],
                    "name": owner["name"],
                    "uid": "0",
                    "controller": True,
                }
            ],
        },
        "spec": copy.deepcopy(spec),
    }


def schedule_runs(schedule: Mapping[str, Any]) -> dict[str, Any]:
    """What a Schedule's cron creates: its embedded spec as an object of its type."""
    kind = schedule["spec"]["type"]
    key = "workflow" if kind == "Workflow" else EMBED_KEYS[kind]
    return _owned(schedule, f"{schedule['metadata']['name']}-1701432000", kind, schedule["spec"][key])


def workflow_nodes(workflow: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node the workflow renders (new_node.go `renderNodesByTemplates`): the template's fields
    copied, its embedded chaos inline, and the deadline turned into a timestamp."""
    for template in workflow["spec"]["templates"]:
        spec: dict[str, Any] = {
            "templateName": template["name"],
            "workflowName": workflow["metadata"]["name"],
            "type": template["templateType"],
            "startTime": START.isoformat().replace("+00:00", "Z"),
        }
        if "deadline" in template:
            spec["deadline"] = (
                (START + timedelta(seconds=parse_duration(template["deadline"]))).isoformat().replace("+00:00", "Z")
            )
        for key in ("children", "statusCheck", "abortWithStatusCheck", *EMBED_KEYS.values()):
            if key in template:
                spec[key] = template[key]
        yield _owned(workflow, f"{template['name']}-x7k2p", "WorkflowNode", spec)


def node_children(node: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The chaos or StatusCheck a node creates (chaos_node_reconciler.go `createChaos`,
    statuscheck_reconciler.go): the embedded spec as is, no duration; the node's deadline ends it."""
    spec = node["spec"]
    if spec["type"] == "StatusCheck":
        yield _owned(node, f"{node['metadata']['name']}-q8w4e", "StatusCheck", spec["statusCheck"])
    elif spec["type"] in EMBED_KEYS:
        yield _owned(node, f"{node['metadata']['name']}-q8w4e", spec["type"], spec[EMBED_KEYS[spec["type"]]])


def pod_network_chaos(lab: Lab) -> dict[str, Any]:
    """The per-pod record a NetworkChaos hands chaos-daemon (controllers/chaosimpl/networkchaos)."""
    return {
        "apiVersion": "chaos-mesh.org/v1alpha1",
        "kind": "PodNetworkChaos",
        "metadata": {"name": "backend-api-6d9f7-abcde", "namespace": lab.sandbox},
        "spec": {
            "tcs": [
                {
                    "name": "packet-loss-scenario-netem",
                    "type": "netem",
                    "device": "eth0",
                    "loss": "15",
                    "correlation": "50",
                }
            ]
        },
    }


def controller_objects(manifest: Mapping[str, Any], lab: Lab) -> Iterator[dict[str, Any]]:
    """Everything the controller creates while running `manifest`."""
    workflows: list[Mapping[str, Any]] = []
    if manifest["kind"] == "Schedule":
        run = schedule_runs(manifest)
        yield run
        workflows += [run] if run["kind"] == "Workflow" else []
    workflows += [manifest] if manifest["kind"] == "Workflow" else []
    for workflow in workflows:
        for node in workflow_nodes(workflow):
            yield node
            yield from node_children(node)
    if "NetworkChaos" in repr(manifest):
        yield pod_network_chaos(lab)


def fis_objects(lab: Lab) -> Iterator[tuple[str, dict[str, Any]]]:
    """(entry, object) for every catalog entry that fits through FIS: the custom resource FIS creates from
    the template's kubernetesApiVersion, kubernetesKind, kubernetesNamespace and kubernetesSpec."""
    fis_lab = FisLab("chaos-workers", spot=True, nodes=3)
    refs = LabRefs.placeholders("corpus", "chaos-lab-corpus")
    for name in CATALOG:
        parsed = parse_all_experiments({name: {"enabled": True, "engine": "fis"}}, lab.fence, fis_lab)
        if parsed.problems:
            continue  # too long for FIS's 1024-character parameter; it stays a stack resource
        (experiment,) = parsed.fis
        (action,) = experiment.template(refs, ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:corpus"])[
            "actions"
        ].values()
        parameters = action["parameters"]
        yield (
            name,
            {
                "apiVersion": parameters["kubernetesApiVersion"],
                "kind": parameters["kubernetesKind"],
                "metadata": {"name": f"fis-{name}-4k9z2", "namespace": parameters["kubernetesNamespace"]},
                "spec": json.loads(parameters["kubernetesSpec"]),
            },
        )


def good_requests(lab: Lab) -> Iterator[Request]:
    for name, made in fis_objects(lab):
        yield Request(f"{name} through FIS", made, user=FIS_KUBERNETES_USER, declared_by_a_stack=False)
        for child in controller_objects(made, lab):
            yield Request(
                f"{name} through FIS: the controller's {child['kind']}",
                child,
                user=CONTROLLER_USER,
                declared_by_a_stack=False,
            )
    for label, manifest in lab_objects(lab):
        yield Request(label, manifest)
        for made in controller_objects(manifest, lab):
            yield Request(
                f"{label}: the controller's {made['kind']} {made['metadata']['name']}",
                made,
                user=CONTROLLER_USER,
                declared_by_a_stack=False,
            )
        # Finalizers, status, and `chaoslab halt`'s pause annotation change no spec: never refused.
        updated = copy.deepcopy(manifest)
        updated["metadata"] |= {
            "finalizers": ["chaos-mesh/records"],
            "annotations": {"experiment.chaos-mesh.org/pause": "true"},
        }
        yield Request(f"{label}: paused", updated, old=manifest, declared_by_a_stack=False)


# --- bad ----------------------------------------------------------------------------------------------


def _manifest(lab: Lab, name: str, **raw: Any) -> dict[str, Any]:
    experiments, problems = parse_experiments({name: {"enabled": True, **raw}}, lab.fence)
    assert problems == [], problems
    return copy.deepcopy(experiments[0].manifest())


def _template(manifest: Mapping[str, Any], name: str) -> dict[str, Any]:
    spec = manifest["spec"]["workflow"] if manifest["kind"] == "Schedule" else manifest["spec"]
    return next(template for template in spec["templates"] if template["name"] == name)


def _edit(manifest: dict[str, Any], edit: Any) -> dict[str, Any]:
    edit(manifest)
    return manifest


def _decoy(lab: Lab, kind: str) -> dict[str, Any]:
    """A kind off the allow-list, with a selector and a duration that are perfectly fenced."""
    manifest = _manifest(lab, "basic-pod-kill")
    manifest["kind"] = kind
    manifest["spec"] = {"mode": "one", "selector": manifest["spec"]["selector"], "duration": "30s", "action": "stop"}
    return manifest


TASK = {
    "container": {
        "name": "escape",
        "image": "busybox",
        "command": ["chroot", "/host", "sh"],
        "securityContext": {"privileged": True},
        "volumeMounts": [{"name": "host", "mountPath": "/host"}],
    },
    "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
}


def bad_requests(lab: Lab) -> Iterator[Bad]:
    sandbox, longer = lab.sandbox, format_duration(lab.max_duration_s + 60)

    def kill() -> dict[str, Any]:
        return _manifest(lab, "basic-pod-kill")

    def ramp(**raw: Any) -> dict[str, Any]:
        return _manifest(lab, "progressive-delay", **raw)

    kinds, tasks, fenced, timed = (
        "chaos-kinds-allowed",
        "chaos-kinds-allowed",
        "chaos-selectors-fenced",
        "chaos-duration-bounded",
    )
    checks, schedules = "chaos-status-checks-fenced", "chaos-schedules-bounded"

    # kinds
    for kind in ("KernelChaos", "AWSChaos", "PhysicalMachineChaos", "IOChaos"):
        yield Bad(
            f"decoy {kind} with a fenced selector",
            _decoy(lab, kind),
            rule="kind-allowed",
            field_path="kind",
            pack_policy=kinds,
        )
    node = next(workflow_nodes(ramp()))
    yield Bad("a WorkflowNode from a person", node, rule="kind-allowed", field_path="kind", pack_policy=kinds)
    yield Bad(
        "a PodNetworkChaos from a person",
        pod_network_chaos(lab),
        rule="kind-allowed",
        field_path="kind",
        pack_policy=kinds,
    )
    scheduled = _manifest(lab, "basic-pod-kill", schedule="@daily")
    yield Bad(
        "a Schedule of a kind off the list",
        _edit(
            copy.deepcopy(scheduled),
            lambda m: m["spec"].update(type="KernelChaos", kernelChaos=m["spec"].pop("podChaos")),
        ),
        rule="embedded-kinds-allowed",
        field_path="spec.type",
        pack_policy=kinds,
    )
    yield Bad(
        "a decoy spec beside a Schedule's allowed one",
        _edit(
            copy.deepcopy(scheduled),
            lambda m: m["spec"].update(timeChaos={"mode": "all", "selector": m["spec"]["podChaos"]["selector"]}),
        ),
        rule="embedded-kinds-allowed",
        field_path="spec.timeChaos",
        pack_policy=kinds,
    )
    yield Bad(
        "a workflow template of a kind off the list",
        _edit(ramp(), lambda m: _template(m, "step-2-delay").update(templateType="IOChaos")),
        rule="embedded-kinds-allowed",
        field_path="spec.templates[step-2-delay].templateType",
        pack_policy=kinds,
    )
    yield Bad(
        "a decoy spec beside a template's allowed one",
        _edit(ramp(), lambda m: _template(m, "step-2-delay").update(jvmChaos={"mode": "all"})),
        rule="embedded-kinds-allowed",
        field_path="spec.templates[step-2-delay].jvmChaos",
        pack_policy=kinds,
    )
    yield Bad(
        "a Schedule nested in a workflow",
        _edit(
            ramp(),
            lambda m: _template(m, "step-2-delay").update(
                templateType="Schedule", schedule={"schedule": "@every 1m", "type": "PodChaos"}
            ),
        ),
        rule="embedded-kinds-allowed",
        field_path="spec.templates[step-2-delay].templateType",
        pack_policy=kinds,
    )
    # Task templates
    yield Bad(
        "a Task template that would run a privileged hostPath pod",
        _edit(
            ramp(),
            lambda m: (
                m["spec"]["templates"].append(
                    {"name": "escape", "templateType": "Task", "deadline": "1m", "task": TASK}
                ),
                m["spec"]["templates"][0]["children"].append("escape"),
            ),
        ),
        rule="no-task-templates",
        field_path="spec.templates[escape]",
        pack_policy=tasks,
        extra_rules=frozenset({"embedded-kinds-allowed"}),
    )
    yield Bad(
        "a task tucked into a Serial template",
        _edit(ramp(), lambda m: m["spec"]["templates"][0].update(task=TASK)),
        rule="no-task-templates",
        field_path="spec.templates[ramp]",
        pack_policy=tasks,
    )
    yield Bad(
        "a Task node from the controller itself",
        _edit(copy.deepcopy(node), lambda m: m["spec"].update(type="Task", task=TASK)),
        user=CONTROLLER_USER,
        declared_by_a_stack=False,
        rule="no-task-templates",
        field_path="spec",
        extra_rules=frozenset({"embedded-kinds-allowed"}),
    )
    # FIS is held to the same rules as anyone
    fis_kill = dict(fis_objects(lab))["basic-pod-kill"]
    yield Bad(
        "an object FIS creates outside the sandbox",
        _edit(copy.deepcopy(fis_kill), lambda m: m["metadata"].update(namespace=OUTSIDE)),
        user=FIS_KUBERNETES_USER,
        declared_by_a_stack=False,
        rule="in-the-sandbox",
        field_path="metadata.namespace",
    )
    yield Bad(
        "a controller kind FIS creates",
        pod_network_chaos(lab),
        user=FIS_KUBERNETES_USER,
        declared_by_a_stack=False,
        rule="kind-allowed",
        field_path="kind",
    )
    # namespaces and selectors
    yield Bad(
        "an object outside the sandbox",
        _edit(kill(), lambda m: m["metadata"].update(namespace=OUTSIDE)),
        rule="in-the-sandbox",
        field_path="metadata.namespace",
        pack_policy=fenced,
    )
    for label, namespaces in (
        ("another namespace", [OUTSIDE]),
        ("the sandbox and another", [sandbox, OUTSIDE]),
        ("no namespaces", []),
    ):
        yield Bad(
            f"a selector naming {label}",
            _edit(kill(), lambda m, n=namespaces: m["spec"]["selector"].update(namespaces=n)),
            rule="selectors-fenced",
            field_path="spec.selector",
            pack_policy=fenced,
        )
    yield Bad(
        "a selector without namespaces",
        _edit(kill(), lambda m: m["spec"]["selector"].pop("namespaces")),
        rule="selectors-fenced",
        field_path="spec.selector",
        pack_policy=fenced,
    )
    yield Bad(
        "pods keyed by another namespace",
        _edit(kill(), lambda m: m["spec"]["selector"].update(pods={OUTSIDE: ["coredns-0"]})),
        rule="selectors-fenced",
        field_path="spec.selector",
        pack_policy=fenced,
    )
    yield Bad(
        "a NetworkChaos target outside",
        _edit(
            _manifest(lab, "database-partition"), lambda m: m["spec"]["target"]["selector"].update(namespaces=[OUTSIDE])
        ),
        rule="selectors-fenced",
        field_path="spec.target.selector",
        pack_policy=fenced,
    )
    yield Bad(
        "a Schedule's embedded selector outside",
        _edit(
            _manifest(lab, "backend-cpu-stress", schedule="@daily"),
            lambda m: m["spec"]["stressChaos"]["selector"].update(namespaces=[OUTSIDE]),
        ),
        rule="selectors-fenced",
        field_path="spec.stressChaos.selector",
        pack_policy=fenced,
    )
    yield Bad(
        "a workflow template's selector outside",
        _edit(ramp(), lambda m: _template(m, "step-4-delay")["networkChaos"]["selector"].update(namespaces=[OUTSIDE])),
        rule="selectors-fenced",
        field_path="spec.templates[step-4-delay].networkChaos.selector",
        pack_policy=fenced,
    )
    yield Bad(
        "a scheduled workflow's template selector outside",
        _edit(
            ramp(schedule="@daily"),
            lambda m: _template(m, "step-1-delay")["networkChaos"]["selector"].update(pods={OUTSIDE: ["x"]}),
        ),
        rule="selectors-fenced",
        field_path="spec.workflow.templates[step-1-delay].networkChaos.selector",
        pack_policy=fenced,
    )
    http = _edit(
        kill(),
        lambda m: m.update(
            kind="HTTPChaos",
            spec={
                "mode": "all",
                "selector": {"namespaces": [OUTSIDE], "labelSelectors": {"app": "kube-dns"}},
                "target": "Request",
                "port": 53,
                "abort": True,
                "duration": "30s",
            },
        ),
    )
    yield Bad(
        "an HTTPChaos selector outside", http, rule="selectors-fenced", field_path="spec.selector", pack_policy=fenced
    )
    fault_node = next(item for item in workflow_nodes(ramp()) if item["spec"]["type"] == "NetworkChaos")
    yield Bad(
        "a controller's WorkflowNode with its chaos pointed outside",
        _edit(copy.deepcopy(fault_node), lambda m: m["spec"]["networkChaos"]["selector"].update(namespaces=[OUTSIDE])),
        user=CONTROLLER_USER,
        declared_by_a_stack=False,
        rule="selectors-fenced",
        field_path="spec.networkChaos.selector",
    )
    # durations and deadlines
    yield Bad(
        "a duration over the ceiling",
        _edit(kill(), lambda m: m["spec"].update(duration=longer)),
        rule="durations-bounded",
        field_path="spec.duration",
        pack_policy=timed,
    )
    yield Bad(
        "no duration",
        _edit(kill(), lambda m: m["spec"].pop("duration")),
        rule="durations-bounded",
        field_path="spec.duration",
        pack_policy=timed,
    )
    yield Bad(
        "not a duration",
        _edit(kill(), lambda m: m["spec"].update(duration="forever")),
        rule="durations-bounded",
        field_path="spec.duration",
        pack_policy=timed,
    )
    yield Bad(
        "no duration, claiming to be a WorkflowNode's chaos but sent by a person",
        _edit(
            kill(),
            lambda m: (
                m["spec"].pop("duration"),
                m["metadata"].update(
                    ownerReferences=[
                        {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "WorkflowNode", "name": "x", "uid": "0"}
                    ]
                ),
            ),
        ),
        rule="durations-bounded",
        field_path="spec.duration",
        pack_policy=timed,
    )
    yield Bad(
        "a Schedule's embedded duration over the ceiling",
        _edit(copy.deepcopy(scheduled), lambda m: m["spec"]["podChaos"].update(duration=longer)),
        rule="durations-bounded",
        field_path="spec.podChaos.duration",
        pack_policy=timed,
    )
    yield Bad(
        "a workflow step's deadline over the ceiling",
        _edit(ramp(), lambda m: _template(m, "step-2-delay").update(deadline=longer)),
        rule="durations-bounded",
        field_path="spec.templates[step-2-delay].deadline",
        pack_policy=timed,
    )
    yield Bad(
        "a probe without a deadline",
        _edit(ramp(), lambda m: _template(m, "step-3-probe").pop("deadline")),
        rule="durations-bounded",
        field_path="spec.templates[step-3-probe].deadline",
        pack_policy=timed,
    )
    yield Bad(
        "a workflow entry without a deadline",
        _edit(ramp(), lambda m: m["spec"]["templates"][0].pop("deadline")),
        rule="durations-bounded",
        field_path="spec.templates[ramp].deadline",
        pack_policy=timed,
    )
    yield Bad(
        "a workflow whose steps add up past the ceiling",
        _edit(ramp(), lambda m: m["spec"]["templates"][0].update(deadline=longer)),
        rule="durations-bounded",
        field_path="spec.templates[ramp].deadline",
        pack_policy=timed,
    )
    probe = next(item for item in workflow_nodes(ramp()) if item["spec"]["type"] == "StatusCheck")
    standalone = _owned(kill(), "probe", "StatusCheck", probe["spec"]["statusCheck"])
    standalone["metadata"].pop("ownerReferences")
    yield Bad(
        "a StatusCheck from a person with no duration",
        standalone,
        rule="durations-bounded",
        field_path="spec.duration",
        pack_policy=timed,
    )
    # status checks
    for label, url in (
        ("a Service in another namespace", f"http://kube-dns.{OUTSIDE}.svc.cluster.local:9153/metrics"),
        ("the node's metadata service", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"),
        ("a sandbox name used as userinfo", f"http://frontend-service.{sandbox}.svc.cluster.local@evil.example/"),
        ("a sandbox name used as a subdomain", f"http://frontend-service.{sandbox}.svc.cluster.local.evil.example/"),
    ):
        yield Bad(
            f"a status check of {label}",
            _edit(ramp(), lambda m, u=url: _template(m, "step-1-probe")["statusCheck"]["http"].update(url=u)),
            rule="status-checks-fenced",
            field_path="spec.templates[step-1-probe].statusCheck.http.url",
            pack_policy=checks,
        )
    yield Bad(
        "a standalone StatusCheck outside",
        _edit(
            copy.deepcopy(standalone),
            lambda m: (m["spec"]["http"].update(url="https://example.com/"), m["spec"].update(duration="1m")),
        ),
        rule="status-checks-fenced",
        field_path="spec.http.url",
        pack_policy=checks,
    )
    # schedules
    for cron in ("@every 5m", "*/15 * * * *", "0,30 * * * *", "@every 59m"):
        yield Bad(
            f"a Schedule on {cron!r}",
            _edit(copy.deepcopy(scheduled), lambda m, c=cron: m["spec"].update(schedule=c)),
            rule="schedule-floor",
            field_path="spec.schedule",
            pack_policy=schedules,
        )
    yield Bad(
        "a Schedule whose runs may overlap",
        _edit(copy.deepcopy(scheduled), lambda m: m["spec"].update(concurrencyPolicy="Allow")),
        rule="schedule-no-overlap",
        field_path="spec.concurrencyPolicy",
        pack_policy=schedules,
    )
    # a spec changed after creation is judged again
    yield Bad(
        "an update that moves the selector outside",
        _edit(kill(), lambda m: m["spec"]["selector"].update(namespaces=[OUTSIDE])),
        old=kill(),
        rule="selectors-fenced",
        field_path="spec.selector",
        pack_policy=fenced,
    )
