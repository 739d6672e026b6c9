"""The program and the `chaoslab` CLI read a stack's config with one model, so they refuse the same configs.

Each bad config goes through the Pulumi program under mocks (as `pulumi up` would run it) and through
the real CLI entry point (`main`, as `python -m chaoslab` calls it) with the same config map the pulumi
CLI hands both; the problems they report must be identical, word for word.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import pytest

from chaoslab.cli import Environment, main
from chaoslab.exit_codes import ExitCode
from chaoslab_fakes import FakeStack, FakeWatcher
from pulumi_harness import PROJECT_DIR, ProgramFailed, cli_config, run_lab

PROBLEM_PREFIX = "  - "

BAD_CONFIGS: list[dict[str, Any]] = [
    {"sandboxNamespace": "kube-system"},
    {"sandboxNamespace": "Not_A_Label"},
    {"halted": "yes"},
    {"maxExperimentDuration": "2h"},
    {"app.redisTimeout": "5s"},  # above the default 2s proxy read timeout
    {"chaosMesh.socketPath": "/run/../etc/containerd.sock"},
    {"clusterAdminArns": ["arn:aws:iam::123456789012:role/ops", "arn:aws:iam::123456789012:role/ops"]},
    {"experiments.basic-pod-kill.enabled": False, "experiments.basic-pod-kill.duration": "2h"},
    {"experiments.no-such-experiment.enabled": True},
    {"nodes.minSize": 5, "nodes.maxSize": 4},
    {"kubeconfigContext": "kind-chaos"},  # only with clusterProvider: existing
]


def _program_problems(overrides: Mapping[str, Any]) -> list[str]:
    with pytest.raises(ProgramFailed) as failed:
        run_lab("dev", overrides)
    assert failed.value.deployment.registrations == [], "the program declared resources before refusing its config"
    lines = str(failed.value.cause).splitlines()
    return [line.removeprefix(PROBLEM_PREFIX) for line in lines if line.startswith(PROBLEM_PREFIX)]


def _cli_refusal(argv: list[str], config: dict[str, str]) -> tuple[int, str, FakeStack]:
    stack = FakeStack(config)
    stdout, stderr = io.StringIO(), io.StringIO()
    env = Environment(
        stdout=stdout,
        stderr=stderr,
        stderr_isatty=False,
        connect_stack=lambda name, project_dir: stack,
        connect_cluster=lambda access: FakeWatcher(),
    )
    code = main([*argv, "--stack", "dev", "--project-dir", str(PROJECT_DIR)], env)
    return code, stderr.getvalue(), stack


@pytest.mark.parametrize("overrides", BAD_CONFIGS, ids=",".join)
@pytest.mark.parametrize(
    "command",
    [["halt", "--dry-run"], ["resume", "--dry-run"], ["run", "basic-pod-kill", "--dry-run"]],
    ids=lambda command: command[0],
)
def test_the_cli_refuses_exactly_what_up_refuses(overrides: dict[str, Any], command: list[str]) -> None:
    problems = _program_problems(overrides)
    assert problems, "the corpus holds only configs the program refuses"

    code, stderr, stack = _cli_refusal(command, cli_config("dev", overrides))

    assert code == ExitCode.USAGE, stderr
    assert stderr.splitlines() == ["ConfigError: " + "; ".join(problems)]
    assert [call for call in stack.calls if call[0] != "get_all_config"] == []  # nothing changed


def test_halt_on_the_program_s_own_good_config_is_not_refused() -> None:
    """The control case: the corpus's refusals come from the bad keys, not from reading config at all."""
    code, stderr, _ = _cli_refusal(
        ["run", "basic-pod-kill", "--dry-run", "--url", "http://127.0.0.1:1/api/"], cli_config("dev")
    )

    assert code == ExitCode.OK, stderr
