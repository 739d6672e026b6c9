"""Reads the `chaos-lab:experiments` stack config into experiments, gathering every problem at once.

The config is an object keyed by catalog name; each value holds `enabled` and overrides of that
experiment's parameters (camelCase keys, see `CatalogEntry.parameters()`), plus, for any entry,
`schedule` and `historyLimit`. Disabled entries are read and checked too, so a typo surfaces before
the day someone enables it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from . import values
from .catalog import CATALOG, DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT, CatalogEntry, Problem
from .errors import ExperimentError
from .fence import Fence
from .model import Experiment
from .values import Invalid, got, show

# Keys every entry accepts besides its own parameters.
COMMON_KEYS = ("enabled", "namespace", "schedule", "historyLimit")


def parse_experiments(raw: Mapping[str, Any], fence: Fence) -> tuple[list[Experiment], list[str]]:
    """Return the enabled experiments, in catalog order, and every problem found (empty when valid).

    Each problem names the key path and what is accepted, e.g. "experiments.api-high-latency.latency:
    got '1m30s'; accepted a single number with one unit (ns, us, ms, s, m, h), e.g. 500ms". An entry with
    a problem yields no experiment; the others still do. Never raises for bad input: the caller merges
    the problems with the rest of the config's into one ConfigError.
    """
    if not isinstance(raw, Mapping):
        return [], [f"experiments: got {show(raw)}; accepted an object keyed by experiment name ({', '.join(CATALOG)})"]
    problems = [
        f"experiments.{name}: unknown experiment; accepted one of {', '.join(CATALOG)}" for name in raw if name not in CATALOG
    ]
    enabled: list[Experiment] = []
    for name, entry in CATALOG.items():
        if name not in raw:
            continue
        experiment, entry_problems = _read_entry(entry, raw[name], fence)
        problems += [f"experiments.{name}{'.' + key if key else ''}: {text}" for key, text in entry_problems]
        if experiment is not None:
            enabled.append(experiment)
    return enabled, problems


def _read_entry(entry: CatalogEntry, raw: Any, fence: Fence) -> tuple[Experiment | None, list[Problem]]:
    """The experiment when enabled (None otherwise) and the entry's problems, keyed by config key."""
    if not isinstance(raw, Mapping):
        return None, [("", f"got {show(raw)}; accepted an object such as {{\"enabled\": true}}")]
    readers = entry.defaults.readers()
    problems: list[Problem] = []

    def read(key: str, reader: Callable[[Any], Any]) -> Any:
        try:
            return reader(raw[key])
        except Invalid as error:
            problems.append((key, got(raw[key], error)))
            return None

    # Keys are read in the order the user wrote them, so the problems come back in that order too.
    is_enabled, schedule, history_limit = False, None, DEFAULT_HISTORY_LIMIT
    overrides: dict[str, Any] = {}
    if "enabled" not in raw:
        problems.append(("enabled", "missing; accepted true or false"))
    for key in raw:
        if key == "enabled":
            is_enabled = read(key, values.boolean)
        elif key == "namespace":
            if raw[key] != fence.namespace:
                problems.append((
                    key,
                    f"got {show(raw[key])}; accepted only the sandbox namespace {fence.namespace!r}: "
                    "Chaos Mesh is fenced to it and every selector is pinned there",
                ))
        elif key == "schedule":
            schedule = read(key, values.schedule)
        elif key == "historyLimit":
            if "schedule" not in raw:
                problems.append((key, "applies only with a schedule; add schedule or drop historyLimit"))
            history_limit = read(key, values.whole_number(1, MAX_HISTORY_LIMIT))
        elif key in readers:
            name, reader = readers[key]
            overrides[name] = read(key, reader)
        else:
            problems.append((key, f"unknown override; accepted {', '.join((*COMMON_KEYS, *readers))}"))
    if problems:
        return None, problems

    parameters = replace(entry.defaults, **overrides)
    problems = parameters.problems(fence)
    if problems:
        return None, problems
    try:
        experiment = entry.experiment(parameters, fence, schedule, history_limit)
    except ExperimentError as error:
        # The model re-checks every rule it renders; one that `problems()` missed still comes back
        # as a problem, not as an exception.
        return None, [("", str(error))]
    return (experiment if is_enabled else None), []
