"""The real StackDriver (Pulumi Automation API) on a throwaway project with a local file backend.

It needs the pulumi CLI, which the Automation API drives; without it these tests skip (fail where
CHAOSLAB_REQUIRE_PULUMI_CLI=1, as in GitHub's test workflow), except the ones that check what a
missing CLI looks like. Not covered even with the CLI: `up` (it needs the lab's program and a
cluster), outputs, and a cloud backend.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaoslab.errors import UsageError
from chaoslab.experiments.errors import MissingTool
from chaoslab.stack import AutomationStack
from pulumi_cli import MISSING_PULUMI_CLI, REQUIRE_PULUMI_CLI, require_pulumi_cli

STACK = "chaoslab-test"
ENTRY_KEY = "chaos-lab:experiments.basic-pod-kill"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    require_pulumi_cli()
    from pulumi import automation

    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'state'}")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "chaoslab-test")  # the local backend encrypts secrets with it
    (tmp_path / "state").mkdir()
    work_dir = tmp_path / "project"
    work_dir.mkdir()
    (work_dir / "Pulumi.yaml").write_text("name: chaos-lab\nruntime: python\n")
    automation.create_stack(stack_name=STACK, work_dir=str(work_dir))
    return work_dir


def test_path_config_is_stored_as_the_program_reads_it(project: Path) -> None:
    stack = AutomationStack.select(STACK, project)

    stack.set_config(f"{ENTRY_KEY}.enabled", "true", path=True)
    enabled = json.loads(stack.get_all_config()["chaos-lab:experiments"])
    stack.remove_config(ENTRY_KEY, path=True)
    removed = json.loads(stack.get_all_config()["chaos-lab:experiments"])

    assert enabled == {"basic-pod-kill": {"enabled": True}}  # a boolean, not the string "true"
    assert removed == {}


def test_halted_is_set_as_a_boolean_and_removing_it_twice_is_fine(project: Path) -> None:
    """What `halt` and `resume` rely on: resume removes chaos-lab:halted whether or not it is set."""
    stack = AutomationStack.select(STACK, project)

    stack.set_config("chaos-lab:halted", "true", path=True)
    halted = stack.get_all_config()["chaos-lab:halted"]
    stack.remove_config("chaos-lab:halted", path=True)
    stack.remove_config("chaos-lab:halted", path=True)

    assert halted == "true"
    assert "chaos-lab:halted" not in stack.get_all_config()


def test_a_stack_that_does_not_exist_is_a_usage_error(project: Path) -> None:
    with pytest.raises(UsageError, match="stack 'nope' not found"):
        AutomationStack.select("nope", project)


def test_without_the_pulumi_cli_the_error_says_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(
        MissingTool,
        match=r"pulumi is not on PATH; the Automation API drives it: install it from https://www\.pulumi\.com/docs/install/",
    ):
        AutomationStack.select(STACK, tmp_path)


@pytest.mark.parametrize("ci", ["true", None])
def test_a_missing_cli_skips_even_under_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ci: str | None) -> None:
    """.ci/run sets CI=true on machines that cannot install the CLI: there these tests must still skip."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(REQUIRE_PULUMI_CLI, raising=False)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)

    with pytest.raises(pytest.skip.Exception, match=r"tests/test_chaoslab_stack\.py"):
        require_pulumi_cli()


def test_a_missing_cli_fails_where_it_is_required(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv(REQUIRE_PULUMI_CLI, "1")

    with pytest.raises(pytest.fail.Exception) as failure:
        require_pulumi_cli()
    assert str(failure.value) == MISSING_PULUMI_CLI


def test_a_cli_on_path_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli = tmp_path / "pulumi"
    cli.write_text("#!/bin/sh\n")
    cli.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv(REQUIRE_PULUMI_CLI, "1")

    assert require_pulumi_cli() == str(cli)
