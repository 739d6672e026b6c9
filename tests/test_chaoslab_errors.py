"""The lab's error taxonomy (experiments/errors.py): every error class exits with exactly one code, through one
table (chaoslab/exit_codes.py ERROR_EXIT_CODES) that `--help` and docs/operator.md show, and a missing tool
is one line and its own code through the real command line.

Not covered: a missing `aws` CLI for an EKS kubeconfig's exec plugin; the Kubernetes client reports that
itself, and it exits 1 as any failed call does.
"""

from __future__ import annotations

import importlib
import io
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import chaoslab
from chaoslab import experiments
from chaoslab.cli import Environment, main
from chaoslab.display import NullDisplay
from chaoslab.exit_codes import ERROR_EXIT_CODES, EXIT_CODE_HELP, ExitCode, exit_code_for
from chaoslab.experiments.catalog import CATALOG
from chaoslab.experiments.errors import ChaosLabError, MissingTool
from chaoslab_fakes import FakeStack, FakeWatcher

PROJECT_DIR = Path(__file__).resolve().parent.parent
GUIDE = (PROJECT_DIR / "docs" / "operator.md").read_text()
EXPERIMENT = next(iter(CATALOG))


def _every_error_class() -> list[type[ChaosLabError]]:
    """Every subclass of ChaosLabError the lab defines, wherever it is defined."""
    for package in (chaoslab, experiments):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if not module.name.endswith("__main__"):  # running it would run the command line
                importlib.import_module(module.name)
    found: list[type[ChaosLabError]] = []
    pending = list(ChaosLabError.__subclasses__())
    while pending:
        kind = pending.pop()
        found.append(kind)
        pending.extend(kind.__subclasses__())
    return sorted(found, key=lambda kind: kind.__qualname__)


ERROR_CLASSES = _every_error_class()


def test_the_table_names_four_kinds_none_inside_another() -> None:
    kinds = list(ERROR_EXIT_CODES)
    assert all(kind.__bases__ == (ChaosLabError,) for kind in kinds)
    assert len(set(ERROR_EXIT_CODES.values())) == len(kinds), "two kinds share an exit code"


@pytest.mark.parametrize("kind", ERROR_CLASSES, ids=lambda kind: kind.__name__)
def test_every_error_class_belongs_to_exactly_one_kind_and_so_one_exit_code(kind: type[ChaosLabError]) -> None:
    if kind in ERROR_EXIT_CODES:
        return  # a kind is its own row
    [code] = [code for parent, code in ERROR_EXIT_CODES.items() if issubclass(kind, parent)]
    error = kind.__new__(kind)  # the code depends on the class alone, not on how it was built
    assert exit_code_for(error) == code


def test_the_errors_the_lab_did_not_raise_itself_are_failed_actions() -> None:
    assert exit_code_for(OSError("disk full")) == ExitCode.ERROR


def test_every_exit_code_an_error_maps_to_is_in_help_with_its_kind() -> None:
    stdout = io.StringIO()
    assert main(["--help"], Environment(stdout=stdout, stderr=io.StringIO())) == ExitCode.OK
    help_lines = {
        line.split()[0]: line for line in stdout.getvalue().split("exit codes:")[1].splitlines() if line.strip()
    }
    for kind, code in ERROR_EXIT_CODES.items():
        assert code in EXIT_CODE_HELP
        assert kind.__name__ in help_lines[str(code.value)], (kind, code)


def test_the_guide_names_each_kind_with_its_code() -> None:
    rows = {
        line.split(" | ")[0].removeprefix("| "): line
        for line in GUIDE.split("## Exit codes")[1].split("\n## ")[0].splitlines()
        if line.startswith("| ")
    }
    for kind, code in ERROR_EXIT_CODES.items():
        assert f"`{kind.__name__}`" in rows[str(code.value)], (kind, code)


def test_run_without_pulumi_on_path_is_one_line_and_the_missing_tool_code(tmp_path: Path) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()

    done = subprocess.run(
        [sys.executable, "-m", "chaoslab", "run", EXPERIMENT, "--stack", "dev", "--project-dir", str(PROJECT_DIR)],
        env={**os.environ, "PATH": str(empty_bin)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == ExitCode.MISSING_TOOL == ERROR_EXIT_CODES[MissingTool], done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("MissingTool: pulumi is not on PATH; ")


def test_run_without_kubectl_on_path_is_one_line_and_the_missing_tool_code_before_any_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    stack = FakeStack({})
    stderr = io.StringIO()
    env = Environment(
        stdout=io.StringIO(),
        stderr=stderr,
        stderr_isatty=False,
        connect_stack=lambda name, project_dir: stack,
        connect_cluster=lambda access: FakeWatcher(),
        display=NullDisplay(),
    )

    # No --url: run reaches the app through `kubectl port-forward`.
    code = main(
        ["run", EXPERIMENT, "--stack", stack.name, "--project-dir", str(PROJECT_DIR), "--out", str(tmp_path / "run")],
        env,
    )

    assert code == ExitCode.MISSING_TOOL, stderr.getvalue()
    [line] = stderr.getvalue().splitlines()
    assert line.startswith("MissingTool: kubectl is not on PATH; port-forward needs it")
    assert not [call for call in stack.calls if call[0] in ("set_config", "remove_config", "up")]
