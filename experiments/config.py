"""Reads the `chaos-lab:experiments` stack config into experiments, gathering every problem at once.

The config is an object keyed by catalog name; each value holds `enabled` and overrides of that
experiment's parameters (camelCase keys, see `CatalogEntry.parameters()`), plus, for any Chaos Mesh
entry, `schedule`, `historyLimit` and `engine` (`chaos-mesh`, the default, or `fis`). The FIS entries
(`experiments.fis.FIS_CATALOG`) take `enabled` and their own parameters. Disabled entries are read and
checked too, so a typo surfaces before the day someone enables it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from . import values
from .catalog import CATALOG, DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT, CatalogEntry, Problem
from .errors import ExperimentError
from .fence import Fence
from .fis import FIS_CATALOG, ChaosMeshThroughFis, Engine, FisCatalogEntry, FisExperiment, FisLab, FisPlan, LabRefs
from .model import Experiment
from .values import Invalid, got, show

# Keys every Chaos Mesh entry accepts besides its own parameters.
COMMON_KEYS = ("enabled", "namespace", "schedule", "historyLimit", "engine")
# The FIS entries have no namespace (they act on AWS resources) and no schedule (FIS has none).
FIS_COMMON_KEYS = ("enabled",)
ALL_NAMES = (*CATALOG, *FIS_CATALOG)
# Stop conditions are the stack's alarms, known only when it is declared; their presence is checked there.
PLACEHOLDER_ALARM_ARN = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:steady-state"
NOT_ON_AWS = "FIS acts on AWS resources and this stack declares none; accepted only with chaos-lab:clusterProvider eks"


@dataclass
class ParsedExperiments:
    """The enabled experiments by who creates them, and every problem found."""

    chaos_mesh: list[Experiment] = field(default_factory=list)  # declared as stack resources
    fis: list[FisExperiment] = field(default_factory=list)  # declared as FIS experiment templates
    problems: list[str] = field(default_factory=list)


def parse_experiments(raw: Mapping[str, Any], fence: Fence) -> tuple[list[Experiment], list[str]]:
    """Return the enabled Chaos Mesh experiments, in catalog order, and every problem found (empty when valid).

    Each problem names the key path and what is accepted, e.g. "experiments.api-high-latency.latency:
    got '1m30s'; accepted a single number with one unit (ns, us, ms, s, m, h), e.g. 500ms". An entry with
    a problem yields no experiment; the others still do. Never raises for bad input: the caller merges
    the problems with the rest of the config's into one ConfigError. With no AWS lab, FIS entries are
    problems; `parse_all_experiments` reads them for an EKS stack.
    """
    parsed = parse_all_experiments(raw, fence, None)
    return parsed.chaos_mesh, parsed.problems


def parse_all_experiments(raw: object, fence: Fence, fis_lab: FisLab | None) -> ParsedExperiments:
    """Chaos Mesh and FIS experiments alike; `fis_lab` is None on a stack with no AWS resources."""
    parsed = ParsedExperiments()
    if not isinstance(raw, Mapping):
        parsed.problems.append(
            f"experiments: got {show(raw)}; accepted an object keyed by experiment name ({', '.join(ALL_NAMES)})"
        )
        return parsed
    parsed.problems += [
        f"experiments.{name}: unknown experiment; accepted one of {', '.join(ALL_NAMES)}"
        for name in raw
        if name not in ALL_NAMES
    ]
    found: list[tuple[str, Experiment | FisExperiment | None, list[Problem]]] = []
    for name, entry in CATALOG.items():
        if name in raw:
            found.append((name, *_read_entry(entry, raw[name], fence, fis_lab)))
    for name, fis_entry in FIS_CATALOG.items():
        if name in raw:
            found.append((name, *_read_fis_entry(fis_entry, raw[name], fence, fis_lab)))
    for name, experiment, entry_problems in found:
        parsed.problems += [f"experiments.{name}{'.' + key if key else ''}: {text}" for key, text in entry_problems]
        if isinstance(experiment, FisExperiment):
            parsed.fis.append(experiment)
        elif experiment is not None:
            parsed.chaos_mesh.append(experiment)
    return parsed


class _Reader:
    """Reads one entry's keys, each with its reader, keeping every problem keyed by config key."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self.problems: list[Problem] = []
        if "enabled" not in raw:
            self.problems.append(("enabled", "missing; accepted true or false"))

    def read(self, key: str, reader: Callable[[Any], Any]) -> Any:
        try:
            return reader(self.raw[key])
        except Invalid as error:
            self.problems.append((key, got(self.raw[key], error)))
            return None

    def override(
        self,
        key: str,
        readers: Mapping[str, tuple[str, Callable[[Any], Any]]],
        common_keys: tuple[str, ...],
        into: dict[str, Any],
    ) -> None:
        """Read a parameter override into `into` (by field name), or record the key as unknown."""
        if key not in readers:
            self.problems.append((key, f"unknown override; accepted {', '.join((*common_keys, *readers))}"))
            return
        name, read = readers[key]
        into[name] = self.read(key, read)


def _read_fis_entry(
    entry: FisCatalogEntry, raw: Any, fence: Fence, fis_lab: FisLab | None
) -> tuple[FisExperiment | None, list[Problem]]:
    if not isinstance(raw, Mapping):
        return None, [("", f'got {show(raw)}; accepted an object such as {{"enabled": true}}')]
    readers = entry.defaults.readers()
    reader = _Reader(raw)
    is_enabled = False
    overrides: dict[str, Any] = {}
    for key in raw:
        if key == "enabled":
            is_enabled = reader.read(key, values.boolean)
        else:
            reader.override(key, readers, FIS_COMMON_KEYS, overrides)
    if reader.problems:
        return None, reader.problems
    if fis_lab is None:
        return None, [("", NOT_ON_AWS)]
    plan = replace(entry.defaults, **overrides)
    assert isinstance(plan, FisPlan)
    return _fis_experiment(entry.name, entry.simulates, plan, fence, fis_lab, is_enabled)


def _fis_experiment(
    name: str, simulates: str, plan: FisPlan, fence: Fence, fis_lab: FisLab, is_enabled: bool
) -> tuple[FisExperiment | None, list[Problem]]:
    """The lab's rules for the plan, then FIS's own for the template it renders (with stand-ins for ARNs)."""
    problems = plan.problems(fence, fis_lab)
    if problems:
        return None, problems
    experiment = FisExperiment(name=name, simulates=simulates, plan=plan)
    refs = LabRefs.placeholders("config", "chaos-lab")
    problems = [("", problem) for problem in experiment.problems(refs, [PLACEHOLDER_ALARM_ARN])]
    if problems:
        return None, problems
    return (experiment if is_enabled else None), []


@dataclass
class _EntryKeys:
    """What a Chaos Mesh entry's keys say, before the catalog's rules judge its parameters."""

    is_enabled: bool = False
    schedule: Any = None
    history_limit: int = DEFAULT_HISTORY_LIMIT
    engine: Engine = Engine.CHAOS_MESH
    overrides: dict[str, Any] = field(default_factory=dict)  # parameter overrides, by field name


def _read_entry(
    entry: CatalogEntry, raw: Any, fence: Fence, fis_lab: FisLab | None
) -> tuple[Experiment | FisExperiment | None, list[Problem]]:
    """The experiment when enabled (None otherwise) and the entry's problems, keyed by config key."""
    if not isinstance(raw, Mapping):
        return None, [("", f'got {show(raw)}; accepted an object such as {{"enabled": true}}')]
    reader = _Reader(raw)
    keys = _read_keys(reader, entry.defaults.readers(), fence)
    if reader.problems:
        return None, reader.problems
    if keys.engine is Engine.FIS and fis_lab is None:
        return None, [("engine", f"got 'fis'; {NOT_ON_AWS}")]

    parameters = replace(entry.defaults, **keys.overrides)
    problems = parameters.problems(fence)
    if problems:
        return None, problems
    try:
        experiment = entry.experiment(parameters, fence, keys.schedule, keys.history_limit)
    except ExperimentError as error:
        # The model re-checks every rule it renders; one that `problems()` missed still comes back
        # as a problem, not as an exception.
        return None, [("", str(error))]
    if keys.engine is Engine.FIS:
        assert fis_lab is not None
        plan = ChaosMeshThroughFis(experiment=experiment, workloads=fence.workloads)
        return _fis_experiment(entry.name, entry.simulates, plan, fence, fis_lab, keys.is_enabled)
    return (experiment if keys.is_enabled else None), []


def _read_keys(reader: _Reader, readers: Mapping[str, tuple[str, Callable[[Any], Any]]], fence: Fence) -> _EntryKeys:
    """Every key of the entry, its problems left in `reader`."""
    raw = reader.raw
    keys = _EntryKeys()
    # Keys are read in the order the user wrote them, so the problems come back in that order too.
    for key in raw:
        if key == "enabled":
            keys.is_enabled = reader.read(key, values.boolean)
        elif key == "namespace":
            if raw[key] != fence.namespace:
                reader.problems.append(
                    (
                        key,
                        f"got {show(raw[key])}; accepted only the sandbox namespace {fence.namespace!r}: "
                        "Chaos Mesh is fenced to it and every selector is pinned there",
                    )
                )
        elif key == "schedule":
            keys.schedule = reader.read(key, values.schedule)
        elif key == "historyLimit":
            if "schedule" not in raw:
                reader.problems.append((key, "applies only with a schedule; add schedule or drop historyLimit"))
            keys.history_limit = reader.read(key, values.whole_number(1, MAX_HISTORY_LIMIT))
        elif key == "engine":
            keys.engine = reader.read(key, values.one_of(Engine))
        else:
            reader.override(key, readers, COMMON_KEYS, keys.overrides)
    return keys
