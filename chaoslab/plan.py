"""What `run` will do, worked out from the stack's config before anything changes.

Pure: reads a config mapping (as `pulumi config --json` gives it) and the command-line options, and
returns a RunPlan or raises ConfigError/UsageError. `--dry-run` prints the plan and stops here.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from chaoslab.config import NAMESPACE, LabConfig, lab_keys, parse_config
from chaoslab.config.model import decode_value
from chaoslab.config.topology import FRONTEND_SERVICE, Timeouts
from experiments import CATALOG
from experiments.durations import format_duration
from experiments.errors import ConfigError

from .abort import AbortCondition, check_conditions
from .cluster import ChaosTarget
from .errors import UsageError
from .hypotheses import HYPOTHESES, RECOVERED_AFTER, STEADY_STATE_BEFORE, Hypothesis
from .probe import DEFAULT_RATE, DEFAULT_TIMEOUT_S, ProbeSettings, default_concurrency, redact_url

DEFAULT_BASELINE_S = 30.0
DEFAULT_AFTER_S = 30.0
RUNS_DIR = Path(".chaoslab") / "runs"


def config_key(key: str) -> str:
    return f"{NAMESPACE}:{key}"


HALTED_KEY = config_key("halted")


def lab_config(stack_config: Mapping[str, Any], stack: str) -> LabConfig:
    """The stack's config through the program's own model: what `pulumi up` rejects is rejected here.

    Raises ConfigError with the same messages `up` prints.
    """
    return parse_config(lab_keys(stack_config), stack=stack, today=date.today())


@dataclass(frozen=True)
class RunOptions:
    """The command line's choices; None means "the default for this experiment"."""

    url: str | None
    baseline_s: float = DEFAULT_BASELINE_S
    during_s: float | None = None
    after_s: float = DEFAULT_AFTER_S
    rate: float = DEFAULT_RATE
    timeout_s: float = DEFAULT_TIMEOUT_S
    concurrency: int | None = None
    out_dir: Path | None = None
    abort_conditions: tuple[AbortCondition, ...] = ()


@dataclass(frozen=True)
class RunPlan:
    experiment: str
    stack: str
    project_dir: Path
    simulates: str
    target: ChaosTarget
    parameters: Mapping[str, Any]  # catalog defaults merged with the stack's overrides
    chaos_s: float  # how long the chaos lasts once Chaos Mesh starts it
    hypothesis: Hypothesis
    app: Timeouts
    entry_existed: bool  # the stack config had an entry for the experiment before the run
    kubeconfig_context: str | None  # chaos-lab:kubeconfigContext; None: the current context
    url: str | None  # None: through a kubectl port-forward to the frontend
    baseline_s: float
    during_s: float
    after_s: float
    rate: float
    timeout_s: float
    concurrency: int
    out_dir: Path
    abort_conditions: tuple[AbortCondition, ...]  # judged during the chaos

    @property
    def entry_key(self) -> str:
        return config_key(f"experiments.{self.experiment}")

    @property
    def enabled_key(self) -> str:
        return f"{self.entry_key}.enabled"

    def probe_settings(self, url: str, duration_s: float) -> ProbeSettings:
        return ProbeSettings(url, self.rate, duration_s, self.timeout_s, self.concurrency)

    def manual_disable(self) -> str:
        """The commands that undo the run's change by hand, for when `run` could not."""
        stack = shlex.quote(self.stack)
        cwd = shlex.quote(str(self.project_dir))
        change = (
            f"config set --path {shlex.quote(self.enabled_key)} false"
            if self.entry_existed
            else f"config rm --path {shlex.quote(self.entry_key)}"
        )
        return f"pulumi -C {cwd} -s {stack} {change} && pulumi -C {cwd} -s {stack} up"

    def to_dict(self) -> dict[str, Any]:
        """The experiment copy the journal starts with."""
        return {
            "name": self.experiment,
            "title": self.hypothesis.title,
            "simulates": self.simulates,
            "stack": self.stack,
            "target": {"kind": self.target.kind, "namespace": self.target.namespace, "name": self.target.name},
            "config_key": self.enabled_key,
            "parameters": dict(self.parameters),
            "chaos_s": self.chaos_s,
            "app_timeouts_ms": {
                "redisTimeout": self.app.redis_ms,
                "proxyConnectTimeout": self.app.proxy_connect_ms,
                "proxyReadTimeout": self.app.proxy_read_ms,
            },
            "steady_state_hypothesis": {
                "before": [tolerance.describe() for tolerance in STEADY_STATE_BEFORE],
                "during": self.hypothesis.describe(),
                "after": [tolerance.describe() for tolerance in RECOVERED_AFTER],
            },
            "probe": {
                "url": redact_url(self.url) if self.url else f"kubectl port-forward to svc/{FRONTEND_SERVICE}, path /api/",
                "rate": self.rate,
                "timeout_s": self.timeout_s,
                "concurrency": self.concurrency,
            },
            "phases_s": {"baseline": self.baseline_s, "during": self.during_s, "after": self.after_s},
            "abort_if": [condition.text for condition in self.abort_conditions],
        }

    def describe(self) -> list[str]:
        """The plan in the order it runs, for --dry-run."""
        probe = f"at {self.rate:g}/s (timeout {format_duration(self.timeout_s)}, at most {self.concurrency} in flight)"
        change = "set it back to false" if self.entry_existed else f"remove {self.entry_key} again"
        return [
            f"experiment {self.experiment} on stack {self.stack}: {self.simulates}",
            f"hypothesis: {self.hypothesis.title}",
            *(f"  during: {line}" for line in self.hypothesis.describe()),
            f"parameters: {json.dumps(dict(self.parameters), sort_keys=True)}",
            f"probe {redact_url(self.url) if self.url else f'the frontend through kubectl port-forward svc/{FRONTEND_SERVICE}'} {probe}",
            f"1. baseline: probe for {format_duration(self.baseline_s)}; stop unless "
            + ", ".join(tolerance.describe() for tolerance in STEADY_STATE_BEFORE),
            f"2. set {self.enabled_key} true and run `pulumi up`",
            f"3. wait until Chaos Mesh reports {self.target} injected",
            f"4. during: probe for {format_duration(self.during_s)} (the chaos lasts {format_duration(self.chaos_s)})"
            + (f"; abort if {' or '.join(condition.text for condition in self.abort_conditions)}: pause {self.target} at "
               "once, then disable it" if self.abort_conditions else ""),
            f"5. {change} and run `pulumi up`; wait until {self.target} is recovered or gone",
            f"6. after: probe for {format_duration(self.after_s)}; expect "
            + ", ".join(tolerance.describe() for tolerance in RECOVERED_AFTER),
            f"7. write the journal and report to {self.out_dir}",
            "Ctrl-C or any failure after step 2 still disables the experiment.",
        ]


def experiment_parameters(name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """The catalog's parameters for `name` with the entry's overrides applied, keyed like the config.

    The entry must have passed parse_experiments; the readers cannot fail on it then.
    """
    defaults = CATALOG[name].defaults
    readers = defaults.readers()
    overrides = {readers[key][0]: readers[key][1](value) for key, value in entry.items() if key in readers}
    return replace(defaults, **overrides).to_plain()


def make_plan(
    name: str, stack: str, project_dir: Path, config: Mapping[str, str], options: RunOptions
) -> RunPlan:
    """Raises ConfigError when the stack's config does not allow the run, UsageError for bad options."""
    if name not in CATALOG:
        raise UsageError(f"experiment: got {name!r}; accepted one of {', '.join(CATALOG)}")
    raw = lab_keys(config)
    current = parse_config(raw, stack=stack, today=date.today())
    configured = decode_value(raw.get("experiments")) or {}
    entry = configured.get(name, {})
    problems = []
    if current.halted:
        problems.append(f"{HALTED_KEY}: the stack is halted, so it declares no chaos object; `chaoslab resume` clears it")
    enabled = [experiment.name for experiment in current.experiments]
    if name in enabled:
        problems.append(
            f"{config_key('experiments.' + name + '.enabled')}: already true; `run` enables it itself after a "
            "baseline without chaos, so set it to false first"
        )
    if others := [other for other in enabled if other != name]:
        problems.append(
            f"{config_key('experiments')}: {', '.join(others)} enabled too; their effects would mix into the "
            "baseline and the verdict, so disable them first"
        )
    if "schedule" in entry:
        problems.append(
            f"{config_key('experiments.' + name + '.schedule')}: a scheduled experiment fires on its cron, not "
            "when `up` returns, so a run cannot line its probe up with it; remove schedule for the run"
        )
    if problems:
        raise ConfigError(problems)
    # The config exactly as `up` will see it once `run` has enabled the experiment.
    with_run = {**raw, "experiments": {**configured, name: {**entry, "enabled": True}}}
    [experiment] = parse_config(with_run, stack=stack, today=date.today()).experiments
    chaos_s = experiment.chaos.bound_s()
    assert chaos_s is not None  # Experiment refuses chaos that never ends

    during_s = chaos_s if options.during_s is None else options.during_s
    if during_s > chaos_s:
        raise UsageError(
            f"--during: got {format_duration(during_s)}, longer than the chaos, which ends itself after "
            f"{format_duration(chaos_s)}; observe what follows with --after"
        )
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    plan = RunPlan(
        experiment=name,
        stack=stack,
        project_dir=project_dir,
        simulates=CATALOG[name].simulates,
        target=ChaosTarget(kind=experiment.kind, namespace=experiment.namespace, name=experiment.name),
        parameters=experiment_parameters(name, entry),
        chaos_s=chaos_s,
        hypothesis=HYPOTHESES[name],
        app=current.app.timeouts,
        entry_existed=name in configured,
        kubeconfig_context=current.kubeconfig_context,
        url=options.url,
        baseline_s=options.baseline_s,
        during_s=during_s,
        after_s=options.after_s,
        rate=options.rate,
        timeout_s=options.timeout_s,
        concurrency=default_concurrency(options.rate, options.timeout_s) if options.concurrency is None else options.concurrency,
        out_dir=options.out_dir or project_dir / RUNS_DIR / f"{stamp}-{name}",
        abort_conditions=options.abort_conditions,
    )
    check_conditions(plan.abort_conditions, plan.rate)
    # Every phase's probe settings are checked now, not when the phase starts minutes later.
    for duration_s in (plan.baseline_s, plan.during_s, plan.after_s):
        plan.probe_settings(options.url or "http://127.0.0.1/", duration_s)
    return plan

