"""What `run` will do, worked out from the stack's config before anything changes.

Pure: reads a config mapping (as `pulumi config --json` gives it) and the command-line options, and
returns a RunPlan or raises ConfigError/UsageError. `--dry-run` prints the plan and stops here.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from experiments import CATALOG, Fence, parse_experiments
from experiments.durations import format_duration, parse_duration
from experiments.errors import ConfigError

from .abort import AbortCondition, check_conditions
from .cluster import ChaosTarget
from .errors import UsageError
from .hypotheses import HYPOTHESES, RECOVERED_AFTER, STEADY_STATE_BEFORE, AppTimeouts, Hypothesis
from .probe import DEFAULT_RATE, DEFAULT_TIMEOUT_S, ProbeSettings, default_concurrency, redact_url
from .samples import MS_PER_S

CONFIG_PREFIX = "chaos-lab:"
# Pulumi.yaml's default for chaos-lab:sandboxNamespace.
DEFAULT_SANDBOX_NAMESPACE = "chaos-sandbox"
# The ceiling chaos-lab:maxExperimentDuration itself may not exceed (stacks/config.py); the stack's
# own, lower limit is applied when it is set, and by the program at `up` in any case.
LONGEST_EXPERIMENT_S = 3600.0
DEFAULT_BASELINE_S = 30.0
DEFAULT_AFTER_S = 30.0
RUNS_DIR = Path(".chaoslab") / "runs"


def config_key(key: str) -> str:
    return CONFIG_PREFIX + key


HALTED_KEY = config_key("halted")


def sandbox_namespace(config: Mapping[str, str]) -> str:
    """The stack's fence: the only namespace chaos (and so `halt`) may touch."""
    return config.get(config_key("sandboxNamespace")) or DEFAULT_SANDBOX_NAMESPACE


def kubeconfig_context(config: Mapping[str, str]) -> str | None:
    """chaos-lab:kubeconfigContext; None (empty) means the kubeconfig's current context."""
    return config.get(config_key("kubeconfigContext")) or None


@dataclass(frozen=True)
class StackSettings:
    """The few `chaos-lab:` keys `run` needs, read from the stack's config."""

    sandbox_namespace: str
    halted: bool
    experiments: Mapping[str, Any]  # the raw chaos-lab:experiments object
    app: AppTimeouts
    kubeconfig_context: str | None
    max_experiment_s: float

    @classmethod
    def from_config(cls, config: Mapping[str, str]) -> StackSettings:
        """Raises ConfigError listing every key that cannot be read."""
        problems: list[str] = []

        def read_object(key: str) -> dict[str, Any]:
            raw = config.get(config_key(key))
            if raw is None:
                return {}
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = None
            if not isinstance(value, dict):
                problems.append(f"{config_key(key)}: got {raw!r}; accepted a JSON object")
                return {}
            return value

        def read_ms(app: Mapping[str, Any], key: str, default_ms: float) -> float:
            if key not in app:
                return default_ms
            try:
                return parse_duration(app[key]) * MS_PER_S
            except ValueError:
                problems.append(f"{config_key('app.' + key)}: got {app[key]!r}; accepted a duration such as 500ms or 2s")
                return default_ms

        def read_duration_s(key: str, default_s: float) -> float:
            raw = config.get(config_key(key))
            try:
                return default_s if raw is None else parse_duration(raw)
            except ValueError:
                problems.append(f"{config_key(key)}: got {raw!r}; accepted a duration such as 10m")
                return default_s

        app = read_object("app")
        defaults = AppTimeouts()
        settings = cls(
            sandbox_namespace=sandbox_namespace(config),
            halted=config.get(HALTED_KEY, "false").lower() == "true",
            experiments=read_object("experiments"),
            app=AppTimeouts(
                redis_ms=read_ms(app, "redisTimeout", defaults.redis_ms),
                proxy_read_ms=read_ms(app, "proxyReadTimeout", defaults.proxy_read_ms),
            ),
            kubeconfig_context=kubeconfig_context(config),
            max_experiment_s=min(read_duration_s("maxExperimentDuration", LONGEST_EXPERIMENT_S), LONGEST_EXPERIMENT_S),
        )
        if problems:
            raise ConfigError(problems)
        return settings


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
    app: AppTimeouts
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
            "app_timeouts_ms": {"redisTimeout": self.app.redis_ms, "proxyReadTimeout": self.app.proxy_read_ms},
            "steady_state_hypothesis": {
                "before": [tolerance.describe() for tolerance in STEADY_STATE_BEFORE],
                "during": self.hypothesis.describe(),
                "after": [tolerance.describe() for tolerance in RECOVERED_AFTER],
            },
            "probe": {
                "url": redact_url(self.url) if self.url else "kubectl port-forward to svc/frontend-service, path /api/",
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
            f"probe {redact_url(self.url) if self.url else 'the frontend through kubectl port-forward svc/frontend-service'} {probe}",
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
    settings = StackSettings.from_config(config)
    entry = settings.experiments.get(name, {})
    problems = []
    if settings.halted:
        problems.append(f"{HALTED_KEY}: the stack is halted, so it declares no chaos object; `chaoslab resume` clears it")
    if not isinstance(entry, Mapping):
        raise ConfigError([f"{config_key('experiments.' + name)}: got {entry!r}; accepted an object"])
    if entry.get("enabled") is True:
        problems.append(
            f"{config_key('experiments.' + name + '.enabled')}: already true; `run` enables it itself after a "
            "baseline without chaos, so set it to false first"
        )
    others = sorted(other for other, raw in settings.experiments.items()
                    if other != name and isinstance(raw, Mapping) and raw.get("enabled") is True)
    if others:
        problems.append(
            f"{config_key('experiments')}: {', '.join(others)} enabled too; their effects would mix into the "
            "baseline and the verdict, so disable them first"
        )
    if "schedule" in entry:
        problems.append(
            f"{config_key('experiments.' + name + '.schedule')}: a scheduled experiment fires on its cron, not "
            "when `up` returns, so a run cannot line its probe up with it; remove schedule for the run"
        )
    fence = Fence(
        namespace=settings.sandbox_namespace,
        max_duration_s=settings.max_experiment_s,
        # Replica counts are the program's to check at `up`; they only feed the pod-kill replica rule.
        workloads={},
        probe_url=f"http://frontend-service.{settings.sandbox_namespace}.svc.cluster.local/api/",
    )
    experiments, entry_problems = parse_experiments({name: {**entry, "enabled": True}}, fence)
    problems += [config_key(problem) for problem in entry_problems]
    if problems:
        raise ConfigError(problems)
    [experiment] = experiments
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
        app=settings.app,
        entry_existed=name in settings.experiments,
        kubeconfig_context=settings.kubeconfig_context,
        url=options.url,
        baseline_s=options.baseline_s,
        during_s=during_s,
        after_s=options.after_s,
        rate=options.rate,
        timeout_s=options.timeout_s,
        concurrency=options.concurrency or default_concurrency(options.rate, options.timeout_s),
        out_dir=options.out_dir or project_dir / RUNS_DIR / f"{stamp}-{name}",
        abort_conditions=options.abort_conditions,
    )
    check_conditions(plan.abort_conditions, plan.rate)
    # Every phase's probe settings are checked now, not when the phase starts minutes later.
    for duration_s in (plan.baseline_s, plan.during_s, plan.after_s):
        plan.probe_settings(options.url or "http://127.0.0.1/", duration_s)
    return plan

