"""Chaos Mesh objects as frozen dataclasses that render the exact `chaos-mesh.org/v1alpha1` dicts.

Each class checks its own fields when built and raises ExperimentError naming the field, so an object
that exists is one the CRD schema and the Chaos Mesh webhook accept. Lab policy (maximum duration,
replica rule) lives in `catalog`, which checks config before building these; the namespace fence is
checked here too, by Experiment.

Every kind (PodChaos, NetworkChaos, StressChaos, Workflow, Schedule) offers the same few methods:
`spec()`, `bound_s()` (the longest one run lasts; None if nothing ends it), `selections()`,
`action_text()`, `blast_radius(workloads)` and `duration_text()`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

from . import values
from .describe import Description
from .durations import format_duration, parse_duration
from .errors import ExperimentError
from .values import require

API_VERSION = "chaos-mesh.org/v1alpha1"
PART_OF_LABEL = ("app.kubernetes.io/part-of", "chaos-lab")
EXPERIMENT_LABEL = "chaos-lab/experiment"
# Chaos Mesh names what a Schedule spawns `<schedule>-<5 random characters>` (chaos-mesh/chaos-mesh
# controllers/schedule/cron/controller.go at v2.8.3), so its docs cap the name at 57 characters, 51 when the
# Schedule spawns Workflows, whose nodes add a suffix of their own (https://chaos-mesh.org/docs/define-scheduling-rules/).
SCHEDULE_NAME_MAX = 57
WORKFLOW_SCHEDULE_NAME_MAX = 51
# stress-ng's own ceiling, also the CRD's `maximum`.
STRESS_WORKERS_MAX = 8192
# What a StatusCheck counts as "the app answers".
ANSWERING_STATUS_CODES = "200-299"


class Mode(Enum):
    """Which of the pods a selector matches are hit."""

    ONE = "one"
    ALL = "all"
    FIXED = "fixed"
    FIXED_PERCENT = "fixed-percent"
    RANDOM_MAX_PERCENT = "random-max-percent"


class PodAction(Enum):
    POD_KILL = "pod-kill"
    POD_FAILURE = "pod-failure"
    CONTAINER_KILL = "container-kill"


class NetworkAction(Enum):
    DELAY = "delay"
    LOSS = "loss"
    DUPLICATE = "duplicate"
    CORRUPT = "corrupt"
    PARTITION = "partition"
    BANDWIDTH = "bandwidth"


class Direction(Enum):
    """Which packets, seen from the selected pods: to the target, from it, or both."""

    TO = "to"
    FROM = "from"
    BOTH = "both"


class StatusCheckMode(Enum):
    SYNCHRONOUS = "Synchronous"  # stops at the first clear verdict
    CONTINUOUS = "Continuous"  # keeps probing until its deadline or a failure


class ConcurrencyPolicy(Enum):
    # The CRD's other value, Allow, lets runs overlap and stack their faults; the lab never sets it, and
    # its admission policy denies it from anyone.
    FORBID = "Forbid"


def mode_value_problem(mode: Mode, value: int | None) -> str | None:
    """What is wrong with a selector's mode/value pair (the webhook's rules), or None."""
    if mode in (Mode.ONE, Mode.ALL):
        if value is None:
            return None
        return f"got {value}; mode {mode.value} takes no value (only fixed, fixed-percent and random-max-percent do)"
    accepted = "a number of pods, at least 1" if mode is Mode.FIXED else "a percentage from 1 to 100"
    if value is None:
        return f"mode {mode.value} needs a value; accepted {accepted}"
    if value < 1 or (mode is not Mode.FIXED and value > 100):
        return f"got {value}; accepted {accepted} with mode {mode.value}"
    return None


def container_names_problem(action: PodAction, names: tuple[str, ...]) -> str | None:
    """container-kill needs container names (the webhook's rule); the other actions ignore them, so refuse them."""
    if action is PodAction.CONTAINER_KILL and not names:
        return 'container-kill needs the containers to kill; accepted a list of container names, e.g. ["httpd"]'
    if action is not PodAction.CONTAINER_KILL and names:
        return f"got {list(names)}; accepted none with action {action.value} (only container-kill uses them)"
    return None


@dataclass(frozen=True, kw_only=True)
class PodSelection:
    """The pods labelled `app=<app>` in one namespace, narrowed by mode and value.

    Rendered the same way for a chaos object's own selector and for a NetworkChaos `target`.
    """

    namespace: str
    app: str
    mode: Mode
    value: int | None = None

    def __post_init__(self) -> None:
        require("namespace", values.dns_label, self.namespace)
        require("app", values.label_value, self.app)
        problem = mode_value_problem(self.mode, self.value)
        if problem is not None:
            raise ExperimentError(f"value: {problem}")

    def render(self) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "mode": self.mode.value,
            "selector": {"namespaces": [self.namespace], "labelSelectors": {"app": self.app}},
        }
        if self.value is not None:
            rendered["value"] = str(self.value)
        return rendered

    def pod_count(self, replicas: int) -> int:
        """How many of `replicas` pods Chaos Mesh picks (at most, for random-max-percent)."""
        if self.mode is Mode.ONE:
            return min(1, replicas)
        if self.mode is Mode.ALL:
            return replicas
        assert self.value is not None  # mode_value_problem guarantees it
        if self.mode is Mode.FIXED:
            return min(self.value, replicas)
        return math.floor(replicas * self.value / 100)

    def phrase(self, workloads: Mapping[str, int], *, named: bool = True) -> str:
        """The pods hit in words: "1 of 3 backend-api pods", or "1 of 3 pods" when not `named`."""
        pods = f"{self.app} pods" if named else "pods"
        replicas = workloads.get(self.app)
        if replicas is None:
            return f"no declared {pods}"
        count = self.pod_count(replicas)
        if self.mode is Mode.ALL:
            return f"all {replicas} {pods}"
        if self.mode is Mode.FIXED_PERCENT:
            return f"{count} of {replicas} {pods} ({self.value}%)"
        if self.mode is Mode.RANDOM_MAX_PERCENT:
            return f"up to {count} of {replicas} {pods} (random, at most {self.value}%)"
        return f"{count} of {replicas} {pods}"

    def warning(self, workloads: Mapping[str, int]) -> str | None:
        replicas = workloads.get(self.app)
        if replicas is None:
            declared = ", ".join(sorted(workloads)) or "none"
            return f"selector app={self.app} in {self.namespace} matches no declared workload (declared: {declared})"
        if self.pod_count(replicas) == 0:
            return f"selector app={self.app} picks no pod: {self.phrase(workloads)}"
        return None


@dataclass(frozen=True, kw_only=True)
class _PodFault:
    """Shared by the kinds that act on selected pods for a while: which pods, and for how long."""

    embed_key: ClassVar[str]  # the spec's key inside a Schedule or a workflow template
    selection: PodSelection
    duration: str | None  # None only as a workflow step, whose deadline bounds it instead

    def __post_init__(self) -> None:
        if self.duration is not None:
            require("duration", values.duration, self.duration)

    def bound_s(self) -> float | None:
        return None if self.duration is None else parse_duration(self.duration)

    def selections(self) -> tuple[PodSelection, ...]:
        return (self.selection,)

    def duration_text(self) -> str:
        return self.duration or "its workflow step's deadline"

    def _spec(self, **fields: Any) -> dict[str, Any]:
        spec = {**self.selection.render(), **fields}
        if self.duration is not None:
            spec["duration"] = self.duration
        return spec


@dataclass(frozen=True, kw_only=True)
class PodChaos(_PodFault):
    kind: ClassVar[str] = "PodChaos"
    embed_key: ClassVar[str] = "podChaos"
    action: PodAction
    container_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        require("containerNames", values.dns_labels, self.container_names)
        problem = container_names_problem(self.action, self.container_names)
        if problem is not None:
            raise ExperimentError(f"containerNames: {problem}")

    def spec(self) -> dict[str, Any]:
        extra = {"containerNames": list(self.container_names)} if self.container_names else {}
        return self._spec(action=self.action.value, **extra)

    def action_text(self) -> str:
        if self.container_names:
            return f"{self.action.value} (containers {', '.join(self.container_names)})"
        return self.action.value

    def blast_radius(self, workloads: Mapping[str, int]) -> str:
        return self.selection.phrase(workloads)


@dataclass(frozen=True, kw_only=True)
class Delay:
    action: ClassVar[NetworkAction] = NetworkAction.DELAY
    latency: str
    # The webhook's own defaults for the two.
    jitter: str = "0ms"
    correlation: str = "0"

    def __post_init__(self) -> None:
        require("latency", values.netem_time, self.latency)
        require("jitter", values.netem_time, self.jitter)
        require("correlation", values.percent, self.correlation)

    def render(self) -> dict[str, Any]:
        return {"latency": self.latency, "jitter": self.jitter, "correlation": self.correlation}

    def text(self) -> str:
        return f"delay {self.latency} ±{self.jitter}, correlation {self.correlation}%"


@dataclass(frozen=True, kw_only=True)
class _PacketFault:
    """A netem fault that hits a share of the packets; the CRD names the share after the action."""

    action: ClassVar[NetworkAction]
    percent: str
    correlation: str = "0"

    def __post_init__(self) -> None:
        require(self.action.value, values.percent, self.percent)
        require("correlation", values.percent, self.correlation)

    def render(self) -> dict[str, Any]:
        return {self.action.value: self.percent, "correlation": self.correlation}

    def text(self) -> str:
        return f"{self.action.value} {self.percent}% of packets, correlation {self.correlation}%"


@dataclass(frozen=True, kw_only=True)
class Loss(_PacketFault):
    action: ClassVar[NetworkAction] = NetworkAction.LOSS


@dataclass(frozen=True, kw_only=True)
class Duplicate(_PacketFault):
    action: ClassVar[NetworkAction] = NetworkAction.DUPLICATE


@dataclass(frozen=True, kw_only=True)
class Corrupt(_PacketFault):
    action: ClassVar[NetworkAction] = NetworkAction.CORRUPT


@dataclass(frozen=True, kw_only=True)
class Bandwidth:
    """A token-bucket cap: `rate`, with `limit` bytes queued and `buffer` bytes of burst."""

    action: ClassVar[NetworkAction] = NetworkAction.BANDWIDTH
    rate: str
    limit: int
    buffer: int

    def __post_init__(self) -> None:
        require("rate", values.bandwidth_rate, self.rate)
        require("limit", values.whole_number(1, 2**31 - 1), self.limit)  # int32 in the CRD
        require("buffer", values.whole_number(1, 2**31 - 1), self.buffer)

    def render(self) -> dict[str, Any]:
        return {"rate": self.rate, "limit": self.limit, "buffer": self.buffer}

    def text(self) -> str:
        return f"bandwidth capped at {self.rate}"


@dataclass(frozen=True)
class Partition:
    """No packet gets through; the only action without a parameter block."""

    action: ClassVar[NetworkAction] = NetworkAction.PARTITION

    def render(self) -> None:
        return None

    def text(self) -> str:
        return "partition"


NetworkFault = Delay | Loss | Duplicate | Corrupt | Bandwidth | Partition

_OWN_TRAFFIC = {Direction.TO: "out", Direction.FROM: "in", Direction.BOTH: "in and out"}
_ARROW = {Direction.TO: "→", Direction.FROM: "←", Direction.BOTH: "↔"}
_CUT = {Direction.TO: "cannot send to", Direction.FROM: "cannot receive from", Direction.BOTH: "isolated from"}


@dataclass(frozen=True, kw_only=True)
class NetworkChaos(_PodFault):
    kind: ClassVar[str] = "NetworkChaos"
    embed_key: ClassVar[str] = "networkChaos"
    fault: NetworkFault
    direction: Direction = Direction.TO
    target: PodSelection | None = None  # None: all traffic of the selected pods

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.fault, Partition) and self.target is None:
            raise ExperimentError("target: a partition needs the pods to cut the selected ones off from")

    def spec(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"action": self.fault.action.value, "direction": self.direction.value}
        block = self.fault.render()
        if block is not None:
            fields[self.fault.action.value] = block
        if self.target is not None:
            fields["target"] = self.target.render()
        return self._spec(**fields)

    def selections(self) -> tuple[PodSelection, ...]:
        return (self.selection,) if self.target is None else (self.selection, self.target)

    def action_text(self) -> str:
        return self.fault.text()

    def blast_radius(self, workloads: Mapping[str, int]) -> str:
        source, target = self.selection, self.target
        if target is None:
            return f"{source.phrase(workloads)}, all traffic {_OWN_TRAFFIC[self.direction]}"
        if isinstance(self.fault, Partition):
            return f"{source.phrase(workloads)} {_CUT[self.direction]} {target.phrase(workloads)}"
        radius = f"traffic {source.app} {_ARROW[self.direction]} {target.app}, {source.phrase(workloads, named=False)}"
        if target.mode is not Mode.ALL:
            radius += f" (with {target.phrase(workloads)})"
        return radius


@dataclass(frozen=True, kw_only=True)
class CpuStressor:
    workers: int
    load: int  # percent of one CPU per worker

    def __post_init__(self) -> None:
        require("workers", values.whole_number(1, STRESS_WORKERS_MAX), self.workers)
        require("load", values.whole_number(0, 100), self.load)

    def render(self) -> dict[str, Any]:
        return {"workers": self.workers, "load": self.load}

    def text(self) -> str:
        return f"cpu {self.workers} worker(s) at {self.load}% load"


@dataclass(frozen=True, kw_only=True)
class MemoryStressor:
    workers: int
    size: str  # per worker

    def __post_init__(self) -> None:
        require("workers", values.whole_number(1, STRESS_WORKERS_MAX), self.workers)
        require("size", values.memory_size, self.size)

    def render(self) -> dict[str, Any]:
        return {"workers": self.workers, "size": self.size}

    def text(self) -> str:
        return f"memory {self.workers} worker(s) holding {self.size} each"


@dataclass(frozen=True, kw_only=True)
class StressChaos(_PodFault):
    kind: ClassVar[str] = "StressChaos"
    embed_key: ClassVar[str] = "stressChaos"
    cpu: CpuStressor | None = None
    memory: MemoryStressor | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.cpu is None and self.memory is None:
            raise ExperimentError("stressors: a StressChaos needs a cpu or a memory stressor")

    def _stressors(self) -> dict[str, CpuStressor | MemoryStressor]:
        both = {"cpu": self.cpu, "memory": self.memory}
        return {name: stressor for name, stressor in both.items() if stressor is not None}

    def spec(self) -> dict[str, Any]:
        return self._spec(stressors={name: stressor.render() for name, stressor in self._stressors().items()})

    def action_text(self) -> str:
        return "stress " + "; ".join(stressor.text() for stressor in self._stressors().values())

    def blast_radius(self, workloads: Mapping[str, int]) -> str:
        return self.selection.phrase(workloads)


# --- Workflow -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Leaf:
    """A template that does one thing until its deadline. The webhook requires the deadline only for
    Suspend and Continuous checks; we require it of every leaf, so every workflow ends by itself."""

    name: str
    deadline: str

    def __post_init__(self) -> None:
        require("name", values.dns_label, self.name)
        require(f"{self.name}.deadline", values.duration, self.deadline)

    def bound_s(self) -> float:
        return parse_duration(self.deadline)

    def _templates(self, template_type: str, **fields: Any) -> list[dict[str, Any]]:
        return [{"name": self.name, "templateType": template_type, "deadline": self.deadline, **fields}]


@dataclass(frozen=True, kw_only=True)
class ChaosStep(_Leaf):
    """A chaos object run by a workflow: no `duration` of its own (the webhook forbids it), a deadline."""

    chaos: PodChaos | NetworkChaos | StressChaos

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.chaos.duration is not None:
            raise ExperimentError(
                f"{self.name}.duration: a chaos step has none inside a workflow; its deadline bounds it"
            )

    def templates(self) -> list[dict[str, Any]]:
        return self._templates(self.chaos.kind, **{self.chaos.embed_key: self.chaos.spec()})


@dataclass(frozen=True, kw_only=True)
class StatusCheck(_Leaf):
    """An HTTP GET probe; with `abort_workflow`, `failure_threshold` failures in a row abort the workflow."""

    url: str
    mode: StatusCheckMode = StatusCheckMode.CONTINUOUS
    # Probe every 5s; an answer slower than 5s (the write-up's `curl --max-time 5`) is a failure, and
    # 3 in a row, not one slow answer, make the verdict.
    interval_s: int = 5
    timeout_s: int = 5
    failure_threshold: int = 3
    success_threshold: int = 1
    abort_workflow: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        require(f"{self.name}.url", values.http_url, self.url)
        for key, count in self._counts().items():
            require(f"{self.name}.{key}", values.whole_number(1, 2**31 - 1), count)

    def _counts(self) -> dict[str, int]:
        return {
            "intervalSeconds": self.interval_s,
            "timeoutSeconds": self.timeout_s,
            "failureThreshold": self.failure_threshold,
            "successThreshold": self.success_threshold,
        }

    def templates(self) -> list[dict[str, Any]]:
        check = {
            "mode": self.mode.value,
            "type": "HTTP",
            **self._counts(),
            "http": {"url": self.url, "method": "GET", "criteria": {"statusCode": ANSWERING_STATUS_CODES}},
        }
        return self._templates("StatusCheck", abortWithStatusCheck=self.abort_workflow, statusCheck=check)


@dataclass(frozen=True, kw_only=True)
class Suspend(_Leaf):
    """A pause."""

    def templates(self) -> list[dict[str, Any]]:
        return self._templates("Suspend")


@dataclass(frozen=True, kw_only=True)
class _Group:
    """Children run in order (Serial) or together (Parallel); templates refer to them by name."""

    template_type: ClassVar[str]
    name: str
    children: tuple[Template, ...]

    def __post_init__(self) -> None:
        require("name", values.dns_label, self.name)
        if not self.children:
            raise ExperimentError(f"{self.name}.children: a {self.template_type} template needs at least one child")

    def templates(self) -> list[dict[str, Any]]:
        own = {
            "name": self.name,
            "templateType": self.template_type,
            "children": [child.name for child in self.children],
        }
        return [own, *(template for child in self.children for template in child.templates())]


@dataclass(frozen=True, kw_only=True)
class Serial(_Group):
    template_type: ClassVar[str] = "Serial"

    def bound_s(self) -> float:
        return sum(child.bound_s() for child in self.children)


@dataclass(frozen=True, kw_only=True)
class Parallel(_Group):
    template_type: ClassVar[str] = "Parallel"

    def bound_s(self) -> float:
        return max(child.bound_s() for child in self.children)


Template = ChaosStep | StatusCheck | Suspend | Serial | Parallel


def _walk(template: Template) -> Iterator[Template]:
    yield template
    if isinstance(template, _Group):
        for child in template.children:
            yield from _walk(child)


@dataclass(frozen=True, kw_only=True)
class Workflow:
    """A tree of templates from `entry`; every leaf carries a deadline, so every workflow ends."""

    kind: ClassVar[str] = "Workflow"
    embed_key: ClassVar[str] = "workflow"
    entry: Template

    def __post_init__(self) -> None:
        names = [template.name for template in _walk(self.entry)]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ExperimentError(f"templates: names must be unique in a workflow, repeated: {', '.join(repeated)}")

    def spec(self) -> dict[str, Any]:
        entry, *rest = self.entry.templates()
        # The entry carries the whole run's bound as its deadline: Chaos Mesh ends the run there whatever a
        # child does (pkg/workflow/controllers/deadline_reconciler.go), and the admission policy, whose CEL
        # cannot walk a tree, checks one field instead of adding up serial steps.
        return {"entry": self.entry.name, "templates": [{**entry, "deadline": format_duration(self.bound_s())}, *rest]}

    def bound_s(self) -> float:
        return self.entry.bound_s()

    def steps(self) -> list[ChaosStep]:
        return [template for template in _walk(self.entry) if isinstance(template, ChaosStep)]

    def selections(self) -> tuple[PodSelection, ...]:
        return tuple(selection for step in self.steps() for selection in step.chaos.selections())

    def action_text(self) -> str:
        text = " → ".join(step.chaos.action_text() for step in self.steps())
        for check in _walk(self.entry):
            if isinstance(check, StatusCheck) and check.abort_workflow:
                text += f"; aborted once {check.url} fails {check.failure_threshold} checks in a row"
                break  # one probe sentence is enough when every step carries the same probe
        return text

    def blast_radius(self, workloads: Mapping[str, int]) -> str:
        radii = dict.fromkeys(step.chaos.blast_radius(workloads) for step in self.steps())
        return "; ".join(radii)

    def duration_text(self) -> str:
        return f"at most {format_duration(self.bound_s())} over {len(self.steps())} steps"


# --- Schedule and the experiment object -----------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """Runs `chaos` again and again; each run is bounded by the chaos's own duration or deadlines."""

    kind: ClassVar[str] = "Schedule"
    cron: str
    chaos: PodChaos | NetworkChaos | StressChaos | Workflow
    history_limit: int = 3
    concurrency_policy: ConcurrencyPolicy = ConcurrencyPolicy.FORBID

    def __post_init__(self) -> None:
        require("schedule", values.schedule, self.cron)
        require("historyLimit", values.whole_number(1, 2**31 - 1), self.history_limit)

    @property
    def name_max(self) -> int:
        return WORKFLOW_SCHEDULE_NAME_MAX if isinstance(self.chaos, Workflow) else SCHEDULE_NAME_MAX

    def spec(self) -> dict[str, Any]:
        return {
            "schedule": self.cron,
            "type": self.chaos.kind,
            "historyLimit": self.history_limit,
            "concurrencyPolicy": self.concurrency_policy.value,
            self.chaos.embed_key: self.chaos.spec(),
        }

    def bound_s(self) -> float | None:
        return self.chaos.bound_s()

    def selections(self) -> tuple[PodSelection, ...]:
        return self.chaos.selections()

    def action_text(self) -> str:
        return self.chaos.action_text()

    def blast_radius(self, workloads: Mapping[str, int]) -> str:
        return self.chaos.blast_radius(workloads)

    def duration_text(self) -> str:
        return f"{self.chaos.duration_text()} per run"

    def schedule_text(self) -> str:
        return f"{self.cron}, one run at a time, keeps the last {self.history_limit} runs"


@dataclass(frozen=True, kw_only=True)
class Experiment:
    """One chaos object as it will be applied: name, namespace, what it simulates, and the chaos."""

    name: str
    namespace: str
    chaos: PodChaos | NetworkChaos | StressChaos | Workflow | Schedule
    simulates: str
    annotations: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require("name", values.dns_label, self.name)
        require("namespace", values.dns_label, self.namespace)
        if isinstance(self.chaos, Schedule) and len(self.name) > self.chaos.name_max:
            raise ExperimentError(
                f"name: got {self.name!r} ({len(self.name)} characters); accepted at most {self.chaos.name_max} "
                f"for a Schedule of {self.chaos.chaos.kind}, as Chaos Mesh names what it spawns after the Schedule"
            )
        for selection in self.chaos.selections():
            if selection.namespace != self.namespace:
                raise ExperimentError(
                    f"namespace: a selector names {selection.namespace!r}; accepted only the experiment's own "
                    f"namespace {self.namespace!r}, the one Chaos Mesh is fenced to"
                )
        if self.chaos.bound_s() is None:
            raise ExperimentError("duration: missing; every experiment must end by itself")

    @property
    def kind(self) -> str:
        return self.chaos.kind

    def manifest(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            "labels": dict([PART_OF_LABEL, (EXPERIMENT_LABEL, self.name)]),
        }
        if self.annotations:
            metadata["annotations"] = dict(self.annotations)
        return {"apiVersion": API_VERSION, "kind": self.kind, "metadata": metadata, "spec": self.chaos.spec()}

    def describe(self, workloads: Mapping[str, int]) -> Description:
        selections = dict.fromkeys(self.chaos.selections())  # a workflow repeats its selector per step
        warnings = [warning for selection in selections if (warning := selection.warning(workloads)) is not None]
        schedule = self.chaos if isinstance(self.chaos, Schedule) else None
        return Description(
            name=self.name,
            kind=self.kind if schedule is None else f"Schedule of {schedule.chaos.kind}",
            action=self.chaos.action_text(),
            workloads={selection.app: workloads.get(selection.app) for selection in selections},
            blast_radius=self.chaos.blast_radius(workloads),
            duration=self.chaos.duration_text(),
            simulates=self.simulates,
            schedule=None if schedule is None else schedule.schedule_text(),
            warnings=warnings,
        )
