"""The real StackDriver (Pulumi Automation API) on a throwaway project with a local file backend.

It needs the pulumi CLI, which the Automation API drives; without it these tests skip, except the
one that checks what a missing CLI looks like. Not covered even with the CLI: `up` (it needs the
lab's program and a cluster), outputs, and a cloud backend.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from chaoslab.errors import UsageError
from chaoslab.stack import AutomationStack
from experiments.errors import ExperimentError

needs_pulumi = pytest.mark.skipif(shutil.which("pulumi") is None, reason="the pulumi CLI is not installed (the Automation API drives it)")
STACK = "chaoslab-test"
ENTRY_KEY = "chaos-lab:experiments.basic-pod-kill"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from pulumi import automation

    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'state'}")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "chaoslab-test")  # the local backend encrypts secrets with it
    (tmp_path / "state").mkdir()
    work_dir = tmp_path / "project"
    work_dir.mkdir()
    (work_dir / "Pulumi.yaml").write_text("name: chaos-lab\nruntime: python\n")
    automation.create_stack(stack_name=STACK, work_dir=str(work_dir))
    return work_dir


@needs_pulumi
def test_path_config_is_stored_as_the_program_reads_it(project: Path) -> None:
    stack = AutomationStack.select(STACK, project)

    stack.set_config(f"{ENTRY_KEY}.enabled", "true", path=True)
    enabled = json.loads(stack.get_all_config()["chaos-lab:experiments"])
    stack.remove_config(ENTRY_KEY, path=True)
    removed = json.loads(stack.get_all_config()["chaos-lab:experiments"])

    assert enabled == {"basic-pod-kill": {"enabled": True}}  # a boolean, not the string "true"
    assert removed == {}


@needs_pulumi
def test_halted_is_set_as_a_boolean_and_removing_it_twice_is_fine(project: Path) -> None:
    """What `halt` and `resume` rely on: resume removes chaos-lab:halted whether or not it is set."""
    stack = AutomationStack.select(STACK, project)

    stack.set_config("chaos-lab:halted", "true", path=True)
    halted = stack.get_all_config()["chaos-lab:halted"]
    stack.remove_config("chaos-lab:halted", path=True)
    stack.remove_config("chaos-lab:halted", path=True)

    assert halted == "true"
    assert "chaos-lab:halted" not in stack.get_all_config()


@needs_pulumi
def test_a_stack_that_does_not_exist_is_a_usage_error(project: Path) -> None:
    with pytest.raises(UsageError, match="stack 'nope' not found"):
        AutomationStack.select("nope", project)


def test_without_the_pulumi_cli_the_error_says_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(ExperimentError, match="the pulumi CLI is not on PATH"):
        AutomationStack.select(STACK, tmp_path)
