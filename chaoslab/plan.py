"""What `run` will do, worked out from the stack's config before anything changes.

Pure: reads a config mapping (as `pulumi config --json` gives it) and the command-line options, and
returns a RunPlan or raises ConfigError/UsageError. `--dry-run` prints the plan and stops here.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaoslab.config import NAMESPACE, LabConfig, lab_keys, parse_config
from chaoslab.config.model import decode_value
from chaoslab.config.topology import FRONTEND_SERVICE, Timeouts, frontend_url
from chaoslab.experiments import CATALOG
from chaoslab.experiments.durations import format_duration
from chaoslab.experiments.errors import ConfigError
from chaoslab.experiments.fis import FIS_CATALOG, LabRefs
from chaoslab.experiments.fis_actions import action_seconds

from .abort import AbortCondition, check_conditions
from .cluster import ChaosTarget
from .errors import UsageError
from .fis_hypotheses import FIS_HYPOTHESES
from .hypotheses import HYPOTHESES, RECOVERED_AFTER, STEADY_STATE_BEFORE, Hypothesis
from .probe import DEFAULT_RATE, DEFAULT_TIMEOUT_S, ProbeSettings, default_concurrency, redact_url

DEFAULT_BASELINE_S = 30.0
DEFAULT_AFTER_S = 30.0
# A FIS action's effect outlasts the action: a terminated node's pods take minutes to come back
# (Kubernetes evicts a NotReady node's pods after 300 s by default), so `run` probes at least this long.
MIN_FIS_DURING_S = 120.0
CHAOS_MESH_ENGINE = "chaos-mesh"
FIS_ENGINE = "fis"
# Where a phase's requests come from: `run`'s own probe, or the in-cluster prober's figures in CloudWatch.
SAMPLES_FROM_PROBE = "probe"
SAMPLES_FROM_CLOUDWATCH = "cloudwatch"
SAMPLE_SOURCES = (SAMPLES_FROM_PROBE, SAMPLES_FROM_CLOUDWATCH)
RUNS_DIR = Path(".chaoslab") / "runs"


def config_key(key: str) -> str:
    return f"{NAMESPACE}:{key}"


HALTED_KEY = config_key("halted")


def lab_config(stack_config: Mapping[str, Any], stack: str) -> LabConfig:
    """The stack's config through the program's own model: what `pulumi up` rejects is rejected here.

    Raises ConfigError with the same messages `up` prints.
    """
    return parse_config(lab_keys(stack_config), stack=stack, today=datetime.now(UTC).date())


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
    abort_on_alarm: bool = False
    samples_from: str = SAMPLES_FROM_PROBE


@dataclass(frozen=True)
class RunPlan:
    experiment: str
    stack: str
    project_dir: Path
    simulates: str
    engine: str  # CHAOS_MESH_ENGINE: `up` declares the chaos object; FIS_ENGINE: `up` declares a template `run` starts
    target: ChaosTarget | None  # the chaos object to watch; None for a FIS run, which is followed through the FIS API
    parameters: Mapping[str, Any]  # catalog defaults merged with the stack's overrides
    chaos_s: float  # how long the chaos lasts once Chaos Mesh starts it
    hypothesis: Hypothesis
    app: Timeouts
    app_namespace: str  # where the demo app's frontend is: the sandbox namespace
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
    abort_on_alarm: bool = False  # stop the FIS experiment when a steady-state alarm is in ALARM
    samples_from: str = SAMPLES_FROM_PROBE
    steady_state_target: str = ""  # the in-cluster prober's URL: its metrics' Target dimension
    region: str | None = None  # the stack's `region` output, once `run` has read it

    @property
    def from_cloudwatch(self) -> bool:
        return self.samples_from == SAMPLES_FROM_CLOUDWATCH

    @property
    def through_fis(self) -> bool:
        return self.engine == FIS_ENGINE

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
            "engine": self.engine,
            "target": None
            if self.target is None
            else {"kind": self.target.kind, "namespace": self.target.namespace, "name": self.target.name},
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
            "samples_from": self.samples_from,
            "region": self.region,
            "steady_state_target": self.steady_state_target,
            "probe": {
                "url": (
                    f"in-cluster prober, {self.steady_state_target} (CloudWatch)"
                    if self.from_cloudwatch
                    else redact_url(self.url)
                    if self.url
                    else f"kubectl port-forward to svc/{FRONTEND_SERVICE}, path /api/"
                ),
                "rate": self.rate,
                "timeout_s": self.timeout_s,
                "concurrency": self.concurrency,
            },
            "phases_s": {"baseline": self.baseline_s, "during": self.during_s, "after": self.after_s},
            "abort_if": [condition.text for condition in self.abort_conditions],
            "abort_on_alarm": self.abort_on_alarm,
        }

    def describe(self) -> list[str]:
        """The plan in the order it runs, for --dry-run."""
        probe = f"at {self.rate:g}/s (timeout {format_duration(self.timeout_s)}, at most {self.concurrency} in flight)"
        source = (
            f"judge each phase on the in-cluster prober's figures for {self.steady_state_target} in CloudWatch "
            f"(GetMetricData), {probe}"
            if self.from_cloudwatch
            else f"probe {redact_url(self.url) if self.url else f'the frontend through kubectl port-forward svc/{FRONTEND_SERVICE}'} {probe}"
        )
        change = "set it back to false" if self.entry_existed else f"remove {self.entry_key} again"
        stops = [
            *(condition.text for condition in self.abort_conditions),
            *(["a steady-state alarm in ALARM"] if self.abort_on_alarm else []),
        ]
        if self.through_fis:
            declared = "declares its FIS experiment template"
            start = "start the stack's template (fisTemplateIds output) with StartExperiment and follow its states"
            during = (
                f"4. during: probe for {format_duration(self.during_s)} and until the FIS experiment ends (its actions "
                f"last {format_duration(self.chaos_s)})"
                + (f"; abort if {' or '.join(stops)}: StopExperiment at once, wait for `stopped`" if stops else "")
            )
            recovered = "the template is deleted"
        else:
            declared = "declares the chaos object"
            start = f"wait until Chaos Mesh reports {self.target} injected"
            during = (
                f"4. during: probe for {format_duration(self.during_s)} (the chaos lasts {format_duration(self.chaos_s)})"
                + (f"; abort if {' or '.join(stops)}: pause {self.target} at once, then disable it" if stops else "")
            )
            recovered = f"wait until {self.target} is recovered or gone"
        return [
            f"experiment {self.experiment} on stack {self.stack} ({self.engine}): {self.simulates}",
            f"hypothesis: {self.hypothesis.title}",
            *(f"  during: {line}" for line in self.hypothesis.describe()),
            f"parameters: {json.dumps(dict(self.parameters), sort_keys=True)}",
            source,
            f"1. baseline: probe for {format_duration(self.baseline_s)}; stop unless "
            + ", ".join(tolerance.describe() for tolerance in STEADY_STATE_BEFORE),
            f"2. set {self.enabled_key} true and run `pulumi up`, which {declared}",
            f"3. {start}",
            during,
            f"5. {change} and run `pulumi up`; {recovered}",
            f"6. after: probe for {format_duration(self.after_s)}; expect "
            + ", ".join(tolerance.describe() for tolerance in RECOVERED_AFTER),
            f"7. write the journal and report to {self.out_dir}",
            "Ctrl-C or any failure after step 2 still "
            + ("stops the FIS experiment and " if self.through_fis else "")
            + "disables the experiment.",
        ]


def experiment_parameters(name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """The catalog's parameters for `name` with the entry's overrides applied, keyed like the config.

    The entry must have passed parse_experiments; the readers cannot fail on it then.
    """
    defaults = (CATALOG[name] if name in CATALOG else FIS_CATALOG[name]).defaults
    readers = defaults.readers()
    overrides = {readers[key][0]: readers[key][1](value) for key, value in entry.items() if key in readers}
    return replace(defaults, **overrides).to_plain()


def make_plan(name: str, stack: str, project_dir: Path, config: Mapping[str, str], options: RunOptions) -> RunPlan:
    """Raises ConfigError when the stack's config does not allow the run, UsageError for bad options."""
    if name not in CATALOG and name not in FIS_CATALOG:
        raise UsageError(f"experiment: got {name!r}; accepted one of {', '.join([*CATALOG, *FIS_CATALOG])}")
    raw = lab_keys(config)
    today = datetime.now(UTC).date()
    current = parse_config(raw, stack=stack, today=today)
    configured = decode_value(raw.get("experiments")) or {}
    entry = configured.get(name, {})
    _check_stack_allows_run(name, current, entry, options)
    # The config exactly as `up` will see it once `run` has enabled the experiment.
    with_run = parse_config(
        {**raw, "experiments": {**configured, name: {**entry, "enabled": True}}},
        stack=stack,
        today=today,
    )
    chaos = _fis_chaos(with_run, stack) if with_run.fis_experiments else _chaos_mesh_chaos(name, with_run, options)
    plan = _run_plan(name, stack, project_dir, current, configured, chaos, options)
    check_conditions(plan.abort_conditions, plan.rate)
    # Every phase's probe settings are checked now, not when the phase starts minutes later.
    for duration_s in (plan.baseline_s, plan.during_s, plan.after_s):
        plan.probe_settings(options.url or "http://127.0.0.1/", duration_s)
    return plan


def _check_stack_allows_run(name: str, current: LabConfig, entry: Mapping[str, Any], options: RunOptions) -> None:
    """Raises ConfigError listing every reason the stack's config rules the run out, then UsageError for options
    the config makes meaningless."""
    problems = []
    if current.halted:
        problems.append(
            f"{HALTED_KEY}: the stack is halted, so it declares no chaos object; `chaoslab resume` clears it"
        )
    enabled = [experiment.name for experiment in current.experiments] + [
        experiment.name for experiment in current.fis_experiments
    ]
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
    if options.samples_from == SAMPLES_FROM_CLOUDWATCH and not (current.on_aws and current.steady_state.enabled):
        problems.append(
            f"{config_key('steadyState.enabled')}: --samples-from cloudwatch reads the in-cluster prober's figures, "
            "which an EKS stack publishes when steadyState.enabled is true"
        )
    if problems:
        raise ConfigError(problems)
    if options.samples_from == SAMPLES_FROM_CLOUDWATCH and options.abort_conditions:
        raise UsageError(
            "--abort-if judges run's own probe, which --samples-from cloudwatch replaces; stop on the "
            "steady-state alarms with --abort-on-alarm instead"
        )


@dataclass(frozen=True)
class _Chaos:
    """What the enabled experiment injects, and how `run` follows it."""

    engine: str
    target: ChaosTarget | None
    chaos_s: float
    default_during_s: float

    def during_s(self, asked_s: float | None) -> float:
        """--during, else this engine's default; Chaos Mesh chaos ends itself, so probing past it is refused."""
        during_s = self.default_during_s if asked_s is None else asked_s
        if self.engine == CHAOS_MESH_ENGINE and during_s > self.chaos_s:
            raise UsageError(
                f"--during: got {format_duration(during_s)}, longer than the chaos, which ends itself after "
                f"{format_duration(self.chaos_s)}; observe what follows with --after"
            )
        return during_s


def _fis_chaos(with_run: LabConfig, stack: str) -> _Chaos:
    """The FIS template's longest action is the chaos; the probe runs at least MIN_FIS_DURING_S."""
    [fis_experiment] = with_run.fis_experiments
    actions, _ = fis_experiment.plan.actions_and_targets(LabRefs.placeholders(stack, "chaos-lab"))
    chaos_s = float(max(action_seconds(action) for action in actions.values()))
    return _Chaos(FIS_ENGINE, None, chaos_s, max(chaos_s, MIN_FIS_DURING_S))


def _chaos_mesh_chaos(name: str, with_run: LabConfig, options: RunOptions) -> _Chaos:
    """The chaos object `up` declares, probed for as long as it lasts."""
    if options.abort_on_alarm:
        raise UsageError(
            f"--abort-on-alarm: {name} runs through Chaos Mesh, which no alarm can stop; it acts on FIS runs "
            "(the FIS entries, or a Chaos Mesh entry with engine: fis)"
        )
    [experiment] = with_run.experiments
    target = ChaosTarget(kind=experiment.kind, namespace=experiment.namespace, name=experiment.name)
    bound_s = experiment.chaos.bound_s()
    assert bound_s is not None  # Experiment refuses chaos that never ends
    return _Chaos(CHAOS_MESH_ENGINE, target, bound_s, bound_s)


def _run_plan(
    name: str,
    stack: str,
    project_dir: Path,
    current: LabConfig,
    configured: Mapping[str, Any],
    chaos: _Chaos,
    options: RunOptions,
) -> RunPlan:
    """The plan from checked parts: the stack's current config, its chaos once enabled, and the options."""
    during_s = chaos.during_s(options.during_s)
    steady_state = current.steady_state
    from_cloudwatch = options.samples_from == SAMPLES_FROM_CLOUDWATCH
    # From CloudWatch, the requests are the prober's: its rate and timeout are what the figures mean.
    rate, timeout_s = (
        (steady_state.rate, steady_state.timeout_s) if from_cloudwatch else (options.rate, options.timeout_s)
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return RunPlan(
        experiment=name,
        stack=stack,
        project_dir=project_dir,
        simulates=(CATALOG[name] if name in CATALOG else FIS_CATALOG[name]).simulates,
        engine=chaos.engine,
        target=chaos.target,
        parameters=experiment_parameters(name, configured.get(name, {})),
        chaos_s=chaos.chaos_s,
        # A Chaos Mesh entry through FIS keeps its own hypothesis: the fault is the same.
        hypothesis=HYPOTHESES[name] if name in HYPOTHESES else FIS_HYPOTHESES[name],
        app=current.app.timeouts,
        app_namespace=current.sandbox_namespace,
        entry_existed=name in configured,
        kubeconfig_context=current.kubeconfig_context,
        url=options.url,
        baseline_s=options.baseline_s,
        during_s=during_s,
        after_s=options.after_s,
        rate=rate,
        timeout_s=timeout_s,
        concurrency=default_concurrency(rate, timeout_s)
        if options.concurrency is None or from_cloudwatch
        else options.concurrency,
        out_dir=options.out_dir or project_dir / RUNS_DIR / f"{stamp}-{name}",
        abort_conditions=options.abort_conditions,
        abort_on_alarm=options.abort_on_alarm,
        samples_from=options.samples_from,
        steady_state_target=frontend_url(current.sandbox_namespace, steady_state.path),
    )
