"""Planning a run from the stack's config: what `run` refuses before changing anything, and what it
reads (sandbox namespace, app timeouts, the experiment's overrides).

Not covered: what the Pulumi program itself rejects at `up` (the replica rule, which needs the
declared replica counts the CLI does not read).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from chaoslab.cli import Environment, main
from chaoslab.errors import UsageError
from chaoslab.exit_codes import ExitCode
from chaoslab.experiments import CATALOG
from chaoslab.experiments.errors import ConfigError
from chaoslab.plan import RunOptions, RunPlan, make_plan
from chaoslab_fakes import FakeStack, FakeWatcher

PROJECT_DIR = Path(__file__).resolve().parent.parent
URL = "http://127.0.0.1:8080/api/"
OPTIONS = RunOptions(url=URL)


def _experiments(entries: dict[str, object]) -> dict[str, str]:
    return {"chaos-lab:experiments": json.dumps(entries)}


def _plan(name: str, config: dict[str, str], options: RunOptions = OPTIONS) -> RunPlan:
    return make_plan(name, "dev", PROJECT_DIR, config, options)


def test_the_plan_reads_the_namespace_the_timeouts_and_the_overrides() -> None:
    config = {
        "chaos-lab:sandboxNamespace": "lab-two",
        "chaos-lab:app": json.dumps(
            {"redisTimeout": "500ms", "proxyConnectTimeout": "750ms", "proxyReadTimeout": "3s"}
        ),
        **_experiments({"api-high-latency": {"enabled": False, "latency": "300ms", "duration": "45s"}}),
    }

    plan = make_plan("api-high-latency", "dev", PROJECT_DIR, config, OPTIONS)

    assert (plan.target.kind, plan.target.namespace, plan.target.name) == (
        "NetworkChaos",
        "lab-two",
        "api-high-latency",
    )
    assert (plan.app.redis_ms, plan.app.proxy_connect_ms, plan.app.proxy_read_ms) == (500.0, 750.0, 3000.0)
    assert plan.parameters == {**CATALOG["api-high-latency"].parameters(), "latency": "300ms", "duration": "45s"}
    assert plan.chaos_s == plan.during_s == 45.0  # --during defaults to the experiment's own duration
    assert plan.entry_existed


def test_the_ramp_runs_as_long_as_its_steps() -> None:
    parameters = CATALOG["progressive-delay"].parameters()

    plan = make_plan("progressive-delay", "dev", PROJECT_DIR, {}, OPTIONS)

    assert plan.target.kind == "Workflow"
    assert plan.chaos_s == len(parameters["steps"]) * 60.0  # stepDuration 60s


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        (
            _experiments({"basic-pod-kill": {"enabled": True}}),
            "chaos-lab:experiments.basic-pod-kill.enabled: already true",
        ),
        (
            _experiments({"basic-pod-kill": {"enabled": False}, "packet-loss-scenario": {"enabled": True}}),
            "chaos-lab:experiments: packet-loss-scenario enabled too",
        ),
        ({"chaos-lab:halted": "true"}, "chaos-lab:halted: the stack is halted"),
        (
            _experiments({"basic-pod-kill": {"enabled": False, "schedule": "@every 1h"}}),
            "chaos-lab:experiments.basic-pod-kill.schedule: a scheduled experiment fires on its cron",
        ),
        (
            _experiments({"basic-pod-kill": {"enabled": False, "duration": "forever"}}),
            "chaos-lab:experiments.basic-pod-kill.duration: got 'forever'",
        ),
        (
            {"chaos-lab:maxExperimentDuration": "30s"},
            "chaos-lab:experiments.basic-pod-kill.duration: got '60s'; accepted at most 30s",
        ),
        ({"chaos-lab:app": json.dumps({"redisTimeout": "soon"})}, "chaos-lab:app.redisTimeout: got 'soon'"),
    ],
)
def test_config_that_does_not_allow_a_run_is_refused(config: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError) as refused:
        _plan("basic-pod-kill", config)

    assert any(item.startswith(problem) for item in refused.value.problems), refused.value.problems


def test_observing_longer_than_the_chaos_lasts_is_refused() -> None:
    with pytest.raises(UsageError, match="--during: got 2m, longer than the chaos, which ends itself after 1m"):
        _plan("basic-pod-kill", {}, RunOptions(url=URL, during_s=120.0))


def test_a_refused_run_is_one_config_error_line_and_exit_2_with_nothing_changed() -> None:
    stack = FakeStack({**_experiments({"basic-pod-kill": {"enabled": True}}), "chaos-lab:halted": "true"})
    stdout, stderr = io.StringIO(), io.StringIO()
    env = Environment(
        stdout=stdout,
        stderr=stderr,
        stderr_isatty=False,
        connect_stack=lambda name, project_dir: stack,
        connect_cluster=lambda access: FakeWatcher(),
    )

    code = main(["run", "basic-pod-kill", "--stack", "dev", "--project-dir", str(PROJECT_DIR), "--url", URL], env)

    assert code == ExitCode.USAGE
    [line] = stderr.getvalue().splitlines()
    assert line.startswith("ConfigError: chaos-lab:halted: the stack is halted")
    assert "; chaos-lab:experiments.basic-pod-kill.enabled: already true" in line
    assert stack.calls == [] and stdout.getvalue() == ""
