"""The lint and type gates, part of the suite so that `./scripts/test` and CI fail on a finding.

ruff checks and formats the whole repository and mypy checks the packages strictly, both with the rules
and settings written down in pyproject.toml. A failure prints the findings. The planted-finding tests
show that the configuration is really read: without them, a typo in pyproject.toml could turn a gate
into one that passes everything.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from pulumi_harness import PROJECT_DIR

PYPROJECT = PROJECT_DIR / "pyproject.toml"
# Folders of Python code that are not packages of the lab: mypy leaves them to ruff.
NOT_TYPE_CHECKED = {"tests", "benchmarks", "scripts"}
# Formatted lines, docstring included; a longer function is split or starts with the marker below.
MAX_FUNCTION_LINES = 50
LONG_ON_PURPOSE = "# Long on purpose:"
# A suppression (ruff's noqa, mypy's type-ignore) names its codes, then says why on the same line.
SUPPRESSION = re.compile(r"#\s*(noqa|type:\s*ignore)\b(?P<codes>[:\[][^#\s]*\]?)?(?P<reason>.*)$")
# experiments/ is checked as chaoslab.experiments, through the symlink that gives it that name.
CHECKED_THROUGH_CHAOSLAB = "experiments"


def _run(*argv: str, cwd: Path = PROJECT_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *argv], cwd=cwd, capture_output=True, text=True, check=False, timeout=900
    )


def _tracked_python_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.py"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    return [Path(path) for path in listed.stdout.split()]


def _package_files() -> list[Path]:
    """The lab's own code: every tracked file below a folder that is not tests, benchmarks or scripts."""
    return [path for path in _tracked_python_files() if len(path.parts) > 1 and path.parts[0] not in NOT_TYPE_CHECKED]


def _findings(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout[-6000:]}{result.stderr[-2000:]}"


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "--output-format", "concise", ".")
    assert result.returncode == 0, _findings(result)


def test_every_file_is_ruff_formatted() -> None:
    result = _run("ruff", "format", "--check", "--diff", ".")
    assert result.returncode == 0, _findings(result)


def test_mypy_strict_finds_nothing_in_the_packages() -> None:
    result = _run("mypy")  # the files and the strictness come from pyproject.toml
    assert result.returncode == 0, _findings(result)


def test_mypy_strict_finds_nothing_in_the_program_entry() -> None:
    # Apart from the packages: a second module named __main__ (policy/ has one) cannot share their run.
    result = _run("mypy", "__main__.py")
    assert result.returncode == 0, _findings(result)


def test_mypy_checks_every_package_of_the_lab() -> None:
    """A new top-level package cannot slip past mypy: it is either in the checked files or named above."""
    checked = {Path(entry).parts[0] for entry in tomllib.loads(PYPROJECT.read_text())["tool"]["mypy"]["files"]}
    with_python = {path.parts[0] for path in _package_files()}
    assert with_python - checked == {CHECKED_THROUGH_CHAOSLAB}
    assert (PROJECT_DIR / "chaoslab" / CHECKED_THROUGH_CHAOSLAB).resolve() == PROJECT_DIR / CHECKED_THROUGH_CHAOSLAB
    assert {"chaoslab", "stacks", "components", "policy", "delivery"} <= checked


def test_a_planted_lint_finding_fails_the_gate(tmp_path: Path) -> None:
    # The zip that silently drops a line when two lists diverge: bugbear's B905, one of the chosen rules.
    planted = tmp_path / "planted.py"
    planted.write_text(
        "def pairs(names: list[str], values: list[int]) -> list[tuple[str, int]]:\n    return list(zip(names, values))\n"
    )
    result = _run("ruff", "check", "--config", str(PYPROJECT), "--output-format", "concise", str(planted))
    assert result.returncode == 1
    assert "B905" in result.stdout


def test_a_planted_type_error_fails_the_strict_gate(tmp_path: Path) -> None:
    # Untyped defs pass plain mypy; only --strict (disallow_untyped_defs) refuses them.
    planted = tmp_path / "planted.py"
    planted.write_text("def double(value):\n    return value * 2\n")
    result = _run("mypy", "--config-file", str(PYPROJECT), "--no-incremental", str(planted), cwd=tmp_path)
    assert result.returncode == 1
    assert "Function is missing a type annotation" in result.stdout


def _long_functions_without_a_reason() -> list[str]:
    found = []
    for path in _package_files():
        lines = (PROJECT_DIR / path).read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines), filename=str(path))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = node.end_lineno - node.lineno + 1 if node.end_lineno else 0
            first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
            if length > MAX_FUNCTION_LINES and not lines[first - 2].strip().startswith(LONG_ON_PURPOSE):
                found.append(f"{path}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_is_long_without_a_reason() -> None:
    """Past about 50 lines a function is split into named steps, or says on the line above why it reads better whole."""
    assert _long_functions_without_a_reason() == []


def _suppressions_without_a_reason() -> list[str]:
    found = []
    for path in _tracked_python_files():
        for number, line in enumerate((PROJECT_DIR / path).read_text().splitlines(), start=1):
            match = SUPPRESSION.search(line)
            if match and (not match["codes"] or not match["reason"].strip(" #")):
                found.append(f"{path}:{number}: {line.strip()}")
    return found


def test_every_suppression_names_its_codes_and_says_why() -> None:
    assert _suppressions_without_a_reason() == []
