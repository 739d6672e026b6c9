"""The lab's experiments: the write-up's five with its exact parameters, plus two resource experiments.

An entry's parameters are a frozen dataclass whose fields each name their camelCase config key and
reader, so stack config can override any of them and `CatalogEntry.parameters()` gives them back as
plain data. `problems()` applies the lab's rules (fence, maximum duration, replica rule) before
`build()` makes the model object.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from enum import Enum
from types import MappingProxyType
from typing import Any

from . import values
from .durations import format_duration, parse_duration
from .errors import ExperimentError
from .fence import Fence
from .model import (
    WORKFLOW_SCHEDULE_NAME_MAX,
    ChaosStep,
    CpuStressor,
    Delay,
    Direction,
    Experiment,
    Loss,
    MemoryStressor,
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
    Workflow,
    container_names_problem,
    mode_value_problem,
)
from .values import require, show

# The write-up tags each experiment with this annotation; we keep it so the dashboard shows the same.
WRITE_UP_ANNOTATION = "chaos.alpha.kubernetes.io/experiment"
# Marks a deliberate single-replica pod fault on the object itself, so the policy pack (which sees only
# the object) can tell it from a mistake.
ALLOW_SINGLE_REPLICA_ANNOTATION = "chaos-lab.dev/allow-single-replica"
# Killing or failing the only pod of a workload is an outage, not a resilience test.
MIN_REPLICAS_TO_KILL = 2
# A ramp step must leave the probe (3 failures 5s apart, 5s timeout) time to reach a verdict.
MIN_RAMP_STEP_S = 30
# More steps than this no longer reads as a ramp in the dashboard.
MAX_RAMP_STEPS = 10
# t3.medium nodes: 2 vCPUs and 4 GiB, about 3.3 GiB allocatable, shared with the other demo pods and
# the chaos-daemon. Four CPU workers already saturate a node twice over; 1 GiB of memory stress leaves
# room for everything else on it.
LAB_STRESS_WORKERS_MAX = 4
LAB_MEMORY_STRESS_MAX_BYTES = 2**30

# Finished runs a Schedule keeps (each a chaos object, or a workflow and its nodes, left in the sandbox):
# enough to compare the last few runs, few enough not to clutter the dashboard.
DEFAULT_HISTORY_LIMIT = 3
MAX_HISTORY_LIMIT = 10

Problem = tuple[str, str]  # (config key, what is wrong with it)


def param(key: str, read: Callable[[Any], Any]) -> Any:
    """A parameter stack config may override as `key`; `read` turns the plain JSON value into ours."""
    return field(metadata={"key": key, "read": read})


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


@dataclass(frozen=True, kw_only=True)
class Overridable:
    """Parameters whose every field is a `param`: stack config can override each one by its key."""

    @classmethod
    def readers(cls) -> dict[str, tuple[str, Callable[[Any], Any]]]:
        """Config key -> (field name, reader), in declaration order."""
        return {item.metadata["key"]: (item.name, item.metadata["read"]) for item in fields(cls)}

    def to_plain(self) -> dict[str, Any]:
        return {item.metadata["key"]: _plain(getattr(self, item.name)) for item in fields(self)}


@dataclass(frozen=True, kw_only=True)
class Parameters(Overridable, ABC):
    """Who is hit: pods labelled `app` in the sandbox, narrowed by `mode` and `value`."""

    app: str = param("app", values.label_value)
    mode: Mode = param("mode", values.one_of(Mode))
    value: int | None = param("value", values.pod_count)

    def problems(self, fence: Fence) -> list[Problem]:
        """Rules spanning several fields or the fence; each single field was read already."""
        problem = mode_value_problem(self.mode, self.value)
        return [] if problem is None else [("value", problem)]

    def selection(self, fence: Fence) -> PodSelection:
        return PodSelection(namespace=fence.namespace, app=self.app, mode=self.mode, value=self.value)

    def annotations(self) -> dict[str, str]:
        """Annotations these parameters add to the chaos object."""
        return {}

    @abstractmethod
    def build(self, fence: Fence) -> PodChaos | NetworkChaos | StressChaos | Workflow: ...


@dataclass(frozen=True, kw_only=True)
class TimedParameters(Parameters):
    duration: str = param("duration", values.duration)

    def problems(self, fence: Fence) -> list[Problem]:
        found = super().problems(fence)
        if parse_duration(self.duration) > fence.max_duration_s:
            longest = format_duration(fence.max_duration_s)
            found.append(
                ("duration", f"got {show(self.duration)}; accepted at most {longest} (chaos-lab:maxExperimentDuration)")
            )
        return found


@dataclass(frozen=True, kw_only=True)
class PodFaultParameters(TimedParameters):
    action: PodAction = param("action", values.one_of(PodAction))
    container_names: tuple[str, ...] = param("containerNames", values.dns_labels)
    allow_single_replica: bool = param("allowSingleReplica", values.boolean)

    def problems(self, fence: Fence) -> list[Problem]:
        found = super().problems(fence)
        problem = container_names_problem(self.action, self.container_names)
        if problem is not None:
            found.append(("containerNames", problem))
        replicas = fence.workloads.get(self.app)
        takes_pods = self.action in (PodAction.POD_KILL, PodAction.POD_FAILURE)
        if takes_pods and not self.allow_single_replica and replicas is not None and replicas < MIN_REPLICAS_TO_KILL:
            found.append(
                (
                    "app",
                    f"got {show(self.app)}, which declares {replicas} replica(s), so {self.action.value} takes the whole "
                    f"workload down; accepted a workload with at least {MIN_REPLICAS_TO_KILL} replicas, "
                    "or set allowSingleReplica: true",
                )
            )
        return found

    def annotations(self) -> dict[str, str]:
        return {ALLOW_SINGLE_REPLICA_ANNOTATION: "true"} if self.allow_single_replica else {}

    def build(self, fence: Fence) -> PodChaos:
        return PodChaos(
            selection=self.selection(fence),
            duration=self.duration,
            action=self.action,
            container_names=self.container_names,
        )


@dataclass(frozen=True, kw_only=True)
class LossParameters(TimedParameters):
    loss: str = param("loss", values.percent)
    correlation: str = param("correlation", values.percent)
    direction: Direction = param("direction", values.one_of(Direction))

    def build(self, fence: Fence) -> NetworkChaos:
        return NetworkChaos(
            selection=self.selection(fence),
            duration=self.duration,
            fault=Loss(percent=self.loss, correlation=self.correlation),
            direction=self.direction,
        )


@dataclass(frozen=True, kw_only=True)
class TargetedParameters(TimedParameters):
    """Traffic between the selected pods and the pods labelled `targetApp`."""

    direction: Direction = param("direction", values.one_of(Direction))
    target_app: str = param("targetApp", values.label_value)
    target_mode: Mode = param("targetMode", values.one_of(Mode))
    target_value: int | None = param("targetValue", values.pod_count)

    def problems(self, fence: Fence) -> list[Problem]:
        found = super().problems(fence)
        problem = mode_value_problem(self.target_mode, self.target_value)
        return found if problem is None else [*found, ("targetValue", problem)]

    def _network_chaos(self, fault: Delay | Partition, fence: Fence) -> NetworkChaos:
        target = PodSelection(
            namespace=fence.namespace, app=self.target_app, mode=self.target_mode, value=self.target_value
        )
        return NetworkChaos(
            selection=self.selection(fence),
            duration=self.duration,
            fault=fault,
            direction=self.direction,
            target=target,
        )


@dataclass(frozen=True, kw_only=True)
class DelayParameters(TargetedParameters):
    latency: str = param("latency", values.netem_time)
    jitter: str = param("jitter", values.netem_time)
    correlation: str = param("correlation", values.percent)

    def build(self, fence: Fence) -> NetworkChaos:
        return self._network_chaos(Delay(latency=self.latency, jitter=self.jitter, correlation=self.correlation), fence)


@dataclass(frozen=True, kw_only=True)
class PartitionParameters(TargetedParameters):
    def build(self, fence: Fence) -> NetworkChaos:
        return self._network_chaos(Partition(), fence)


@dataclass(frozen=True, kw_only=True)
class CpuStressParameters(TimedParameters):
    workers: int = param("workers", values.whole_number(1, LAB_STRESS_WORKERS_MAX))
    load: int = param("load", values.whole_number(1, 100))

    def build(self, fence: Fence) -> StressChaos:
        return StressChaos(
            selection=self.selection(fence),
            duration=self.duration,
            cpu=CpuStressor(workers=self.workers, load=self.load),
        )


@dataclass(frozen=True, kw_only=True)
class MemoryStressParameters(TimedParameters):
    workers: int = param("workers", values.whole_number(1, LAB_STRESS_WORKERS_MAX))
    size: str = param("size", values.memory_size)

    def problems(self, fence: Fence) -> list[Problem]:
        found = super().problems(fence)
        if self.workers * values.memory_bytes(self.size) > LAB_MEMORY_STRESS_MAX_BYTES:
            found.append(
                (
                    "size",
                    f"got {show(self.size)} for each of {self.workers} worker(s); accepted at most "
                    f"{LAB_MEMORY_STRESS_MAX_BYTES // 2**20}MiB in all (a t3.medium node has about 3.3GiB for all its pods)",
                )
            )
        return found

    def build(self, fence: Fence) -> StressChaos:
        return StressChaos(
            selection=self.selection(fence),
            duration=self.duration,
            memory=MemoryStressor(workers=self.workers, size=self.size),
        )


@dataclass(frozen=True, kw_only=True)
class DelayRampParameters(Parameters):
    """Delay raised step by step in one Workflow, each step probed and bounded by a deadline."""

    steps: tuple[str, ...] = param("steps", values.netem_times)
    step_duration: str = param("stepDuration", values.duration)
    jitter: str = param("jitter", values.netem_time)
    correlation: str = param("correlation", values.percent)
    direction: Direction = param("direction", values.one_of(Direction))

    def problems(self, fence: Fence) -> list[Problem]:
        found = super().problems(fence)
        if len(self.steps) > MAX_RAMP_STEPS:
            found.append(("steps", f"got {len(self.steps)} steps; accepted at most {MAX_RAMP_STEPS}"))
        step_s = parse_duration(self.step_duration)
        if step_s < MIN_RAMP_STEP_S:
            found.append(
                (
                    "stepDuration",
                    f"got {show(self.step_duration)}; accepted at least {format_duration(MIN_RAMP_STEP_S)}, "
                    "so the probe can fail 3 times within a step",
                )
            )
        total_s = step_s * len(self.steps)
        if total_s > fence.max_duration_s:
            found.append(
                (
                    "stepDuration",
                    f"got {show(self.step_duration)}: {len(self.steps)} steps of it run {format_duration(total_s)}; "
                    f"accepted at most {format_duration(fence.max_duration_s)} in all (chaos-lab:maxExperimentDuration)",
                )
            )
        return found

    def build(self, fence: Fence) -> Workflow:
        ramp = tuple(self._step(number, latency, fence) for number, latency in enumerate(self.steps, start=1))
        return Workflow(entry=Serial(name="ramp", children=ramp))

    def _step(self, number: int, latency: str, fence: Fence) -> Parallel:
        """The delay and a probe side by side: a probe between steps would only see the app after
        Chaos Mesh has lifted the delay, so it runs during each step and aborts the ramp when the app
        stops answering under that step's delay."""
        delay = NetworkChaos(
            selection=self.selection(fence),
            duration=None,
            fault=Delay(latency=latency, jitter=self.jitter, correlation=self.correlation),
            direction=self.direction,
        )
        return Parallel(
            name=f"step-{number}",
            children=(
                ChaosStep(name=f"step-{number}-delay", deadline=self.step_duration, chaos=delay),
                StatusCheck(name=f"step-{number}-probe", url=fence.probe_url, deadline=self.step_duration),
            ),
        )


@dataclass(frozen=True)
class CatalogEntry:
    """A named experiment: its defaults, what it simulates, and how it becomes an Experiment.

    Raises ExperimentError when built with a name that could not also be a Workflow Schedule's.
    """

    name: str
    simulates: str  # one plain sentence for the preview
    write_up_label: str  # value of the write-up's experiment annotation
    defaults: Parameters

    def __post_init__(self) -> None:
        require("name", values.dns_label, self.name)
        # The tightest Schedule name limit, so any entry may be given a `schedule`.
        if len(self.name) > WORKFLOW_SCHEDULE_NAME_MAX:
            raise ExperimentError(f"name: {self.name!r} is longer than {WORKFLOW_SCHEDULE_NAME_MAX} characters")

    def parameters(self) -> dict[str, Any]:
        """The defaults as plain data, keyed like the config overrides."""
        return self.defaults.to_plain()

    def experiment(
        self,
        parameters: Parameters,
        fence: Fence,
        schedule: str | None = None,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
    ) -> Experiment:
        """The experiment, wrapped in a Schedule (at most one run at a time) when `schedule` is given.

        Raises ExperimentError if the parameters break a model rule `problems()` did not catch.
        """
        built = parameters.build(fence)
        chaos = built if schedule is None else Schedule(cron=schedule, chaos=built, history_limit=history_limit)
        return Experiment(
            name=self.name,
            namespace=fence.namespace,
            chaos=chaos,
            simulates=self.simulates,
            annotations={WRITE_UP_ANNOTATION: self.write_up_label, **parameters.annotations()},
        )


_ENTRIES = (
    CatalogEntry(
        name="basic-pod-kill",
        simulates="Losing a pod, as in rolling deployments, node maintenance or failures, and application crashes.",
        write_up_label="pod-resilience-test",
        defaults=PodFaultParameters(
            app="backend-api",
            mode=Mode.ONE,
            value=None,
            duration="60s",
            action=PodAction.POD_KILL,
            container_names=(),
            allow_single_replica=False,
        ),
    ),
    CatalogEntry(
        name="api-high-latency",
        simulates="An API dependency becoming slow, causing cascading delays throughout the application stack.",
        write_up_label="high-latency-api",
        defaults=DelayParameters(
            app="frontend-app",
            mode=Mode.ALL,
            value=None,
            duration="120s",
            latency="500ms",
            jitter="100ms",
            correlation="90",
            direction=Direction.TO,
            target_app="backend-api",
            target_mode=Mode.ALL,
            target_value=None,
        ),
    ),
    CatalogEntry(
        name="packet-loss-scenario",
        simulates="Network reliability issues common in cloud environments.",
        write_up_label="packet-loss",
        defaults=LossParameters(
            app="backend-api",
            mode=Mode.ONE,
            value=None,
            duration="90s",
            loss="15",
            correlation="50",
            direction=Direction.BOTH,
        ),
    ),
    CatalogEntry(
        name="database-partition",
        simulates="A severe network failure in which services cannot communicate at all: a total database outage.",
        write_up_label="database-isolation",
        defaults=PartitionParameters(
            app="database",
            mode=Mode.ALL,
            value=None,
            duration="120s",
            direction=Direction.BOTH,
            target_app="backend-api",
            target_mode=Mode.ALL,
            target_value=None,
        ),
    ),
    CatalogEntry(
        name="progressive-delay",
        simulates="Gradual performance degradation, as often occurs in production when systems come under increased load.",
        write_up_label="progressive-degradation",
        # The write-up's ramp (50ms, then 100ms -> 500ms -> 1000ms -> 3000ms) over its 300s: 5 steps of 60s.
        defaults=DelayRampParameters(
            app="backend-api",
            mode=Mode.ALL,
            value=None,
            steps=("50ms", "100ms", "500ms", "1000ms", "3000ms"),
            step_duration="60s",
            jitter="10ms",
            correlation="100",
            direction=Direction.BOTH,
        ),
    ),
    CatalogEntry(
        name="backend-cpu-stress",
        simulates="CPU exhaustion in one backend pod, showing whether a resource constraint in one part of the system cascades elsewhere.",
        write_up_label="cpu-pressure",
        # One worker at 80% is most of one of a t3.medium's 2 vCPUs: a saturated pod, not a saturated node.
        defaults=CpuStressParameters(app="backend-api", mode=Mode.ONE, value=None, duration="60s", workers=1, load=80),
    ),
    CatalogEntry(
        name="backend-memory-stress",
        simulates="Memory pressure in one backend pod, showing whether a resource constraint in one part of the system cascades elsewhere.",
        write_up_label="memory-pressure",
        # 256MB is felt by a small httpd pod (and OOM-kills the stressor if the pod's limit is lower)
        # while staying far from the ~3.3GiB a t3.medium node can give its pods.
        defaults=MemoryStressParameters(
            app="backend-api", mode=Mode.ONE, value=None, duration="60s", workers=1, size="256MB"
        ),
    ),
)

CATALOG: Mapping[str, CatalogEntry] = MappingProxyType({entry.name: entry for entry in _ENTRIES})
