"""The CLI wheel and the Pulumi program each need only their own requirements file.

`pip install .` builds a wheel for the operator CLI alone: one top-level name, `chaoslab`, the
experiment model under it as `chaoslab.experiments`, and the dependencies of requirements-cli.txt.
The program (stacks/, components/) runs from the checkout on requirements.txt. The wheel is built
for real from a copy of this checkout (tests/cli_wheel.py), installed into a scratch folder, and run
from outside the project with the Pulumi providers made unimportable; the program is imported with
the CLI's dependencies made unimportable.
"""

from __future__ import annotations

import ast
import email.parser
import importlib
import json
import os
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from chaoslab.cli import PROG, main
from cli_wheel import PROJECT_DIR, build_wheel, checkout_files

PROJECT = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())

# Installs a meta-path finder that refuses the modules named in BLOCKED, and those in
# BLOCKED_FOR_PROJECT when the import statement is in the project's own code (a dependency of the
# providers may use them; the program may not). Prefixed to the code each subprocess runs.
BLOCKER = """
import importlib.abc, sys

BLOCKED = set({blocked!r})
BLOCKED_FOR_PROJECT = set({blocked_for_project!r})


def importing_file():
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith("<frozen"):
        frame = frame.f_back
    return "" if frame is None else frame.f_code.co_filename


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        root = name.partition(".")[0]
        if root in BLOCKED:
            raise ImportError(f"{{name}} is blocked here")
        if root in BLOCKED_FOR_PROJECT and importing_file().startswith({project_code!r}):
            raise ImportError(f"{{name}} is blocked for the project's code, imported from {{importing_file()}}")
        return None


sys.meta_path.insert(0, Blocker())
"""


def run_blocked(
    code: str, *, cwd: Path, blocked: Iterable[str], blocked_for_project: Iterable[str] = (), pythonpath: str = ""
) -> subprocess.CompletedProcess[str]:
    project_code = tuple(
        f"{PROJECT_DIR / folder}{os.sep}" for folder in ("stacks", "components", "chaoslab", "experiments")
    )
    prelude = BLOCKER.format(
        blocked=sorted(blocked), blocked_for_project=sorted(blocked_for_project), project_code=project_code
    )
    environment = {**os.environ, "PYTHONPATH": pythonpath, "COLUMNS": "100"}
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def requirements(path: Path) -> set[Requirement]:
    """The requirement lines of a requirements file; comments and blank lines ignored."""
    lines = [line.split(" #")[0].strip() for line in path.read_text().splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    assert not [line for line in lines if line.startswith("-")], f"{path.name}: only requirement lines expected"
    return {Requirement(line) for line in lines}


def names(found: Iterable[Requirement]) -> set[str]:
    return {canonicalize_name(requirement.name) for requirement in found}


def installed_closure(roots: Iterable[str]) -> set[str]:
    """The distributions roots need, transitively, as installed in this venv (markers evaluated here)."""
    needed: set[str] = set()
    pending = [canonicalize_name(root) for root in roots]
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        needed.add(name)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(canonicalize_name(requirement.name))
    return needed


def modules_of(distributions: set[str]) -> set[str]:
    """Top-level import names provided only by the given distributions."""
    return {
        module
        for module, providers in metadata.packages_distributions().items()
        if providers and {canonicalize_name(provider) for provider in providers} <= distributions
    }


CLI_REQUIREMENTS = requirements(PROJECT_DIR / "requirements-cli.txt")
PROGRAM_REQUIREMENTS = requirements(PROJECT_DIR / "requirements.txt")
POLICY_REQUIREMENTS = requirements(PROJECT_DIR / "policy" / "requirements.txt")
# The Pulumi SDK: the program runs on it, and the CLI drives stacks with its Automation API.
SHARED = {"pulumi"}
# The Pulumi providers and pulumi-policy: what only the program or the policy pack needs.
PROVIDERS = names(PROGRAM_REQUIREMENTS | POLICY_REQUIREMENTS) - SHARED
# Importable in the venv, but not from an install of the wheel and its dependencies.
PROVIDER_MODULES = modules_of(installed_closure(PROVIDERS) - installed_closure(names(CLI_REQUIREMENTS)))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed alone (no dependencies: the venv's serve) into a folder outside the project."""
    site = tmp_path_factory.mktemp("installed") / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return site


def wheel_files(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def dist_info(wheel: Path) -> str:
    name, version = wheel.name.split("-")[:2]
    return f"{name}-{version}.dist-info"


def test_the_wheel_claims_one_top_level_name(wheel: Path):
    files = wheel_files(wheel)
    assert {name.split("/")[0] for name in files} == {"chaoslab", dist_info(wheel)}
    assert files[f"{dist_info(wheel)}/top_level.txt"].decode().split() == ["chaoslab"]


def test_the_wheel_holds_the_trees_chaoslab_and_experiments_modules_byte_for_byte(wheel: Path):
    """experiments/ ships as chaoslab/experiments/; nothing of stacks/, components/, policy/ or tests/."""
    expected: dict[str, bytes] = {}
    for relative in checkout_files():
        if relative.suffix == ".py" and relative.parts[0] == "chaoslab":
            expected[relative.as_posix()] = (PROJECT_DIR / relative).read_bytes()
        elif relative.suffix == ".py" and relative.parts[0] == "experiments":
            expected[f"chaoslab/{relative.as_posix()}"] = (PROJECT_DIR / relative).read_bytes()
    assert any(name.startswith("chaoslab/experiments/") for name in expected)
    packaged = {name: body for name, body in wheel_files(wheel).items() if not name.startswith(dist_info(wheel))}
    assert packaged.keys() == expected.keys()
    assert [name for name in expected if packaged[name] != expected[name]] == []


def test_the_wheel_requires_exactly_requirements_cli_txt(wheel: Path):
    metadata_text = wheel_files(wheel)[f"{dist_info(wheel)}/METADATA"].decode()
    requires = {Requirement(line) for line in email.parser.Parser().parsestr(metadata_text).get_all("Requires-Dist")}
    assert requires == CLI_REQUIREMENTS
    assert names(requires) & names(PROGRAM_REQUIREMENTS | POLICY_REQUIREMENTS) == SHARED
    # Not even through a dependency of a dependency (as the versions installed here declare them).
    assert {"pulumi-aws", "pulumi-eks", "pulumi-kubernetes", "pulumi-policy"} <= PROVIDERS
    assert installed_closure(names(requires)) & PROVIDERS == set()


def test_the_installed_wheel_runs_without_the_tree_and_without_the_providers(
    installed: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    """From a folder outside the project, with only the wheel's copy importable and no Pulumi provider."""
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps to it; the subprocess gets the same
    assert main(["--help"]) == 0
    help_from_the_tree = capsys.readouterr().out
    result = run_blocked(
        f"""
        import runpy
        sys.argv = [{PROG!r}, "--help"]
        runpy.run_module("chaoslab", run_name="__main__", alter_sys=True)
        """,
        cwd=installed.parent,
        blocked=PROVIDER_MODULES,
        pythonpath=str(installed),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == help_from_the_tree
    assert "probe" in result.stdout and "hypotheses" in result.stdout


def test_every_installed_module_imports_from_the_installed_copy(installed: Path):
    result = run_blocked(
        """
        import json, pkgutil
        import chaoslab, chaoslab.experiments

        modules = [
            name for _, name, _ in pkgutil.walk_packages(chaoslab.__path__, "chaoslab.")
            if not name.endswith(".__main__")
        ]
        files = {name: importlib.import_module(name).__file__ for name in ["chaoslab", *modules]}
        try:
            import experiments
            top_level_experiments = experiments.__file__
        except ModuleNotFoundError:
            top_level_experiments = None
        print(json.dumps({
            "files": files,
            "catalog": sorted(chaoslab.experiments.CATALOG),
            "top_level_experiments": top_level_experiments,
        }))
        """,
        cwd=installed.parent,
        blocked=PROVIDER_MODULES,
        pythonpath=str(installed),
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert "chaoslab.experiments.catalog" in seen["files"]
    assert {name: file for name, file in seen["files"].items() if not file.startswith(f"{installed}{os.sep}")} == {}
    assert seen["catalog"] == sorted(importlib.import_module("chaoslab.experiments").CATALOG)
    assert seen["top_level_experiments"] is None


def test_the_program_imports_with_requirements_txt_alone():
    """stacks.lab pulls in every component; none of the CLI's dependencies may be needed for it."""
    cli_only = installed_closure(names(CLI_REQUIREMENTS)) - installed_closure(names(PROGRAM_REQUIREMENTS))
    cli_direct = names(CLI_REQUIREMENTS) - names(PROGRAM_REQUIREMENTS)
    blocked, blocked_for_project = modules_of(cli_only), modules_of(cli_direct)
    assert {"kubernetes", "matplotlib", "boto3", "botocore"} <= blocked
    assert {"requests", "urllib3"} <= blocked_for_project
    result = run_blocked(
        """
        import json
        import stacks.lab

        project = ("stacks", "components", "chaoslab")
        print(json.dumps({
            name: module.__file__ for name, module in sys.modules.items() if name.partition(".")[0] in project
        }))
        """,
        cwd=PROJECT_DIR,
        blocked=blocked,
        blocked_for_project=blocked_for_project,
        pythonpath=str(PROJECT_DIR),
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert {"components.cluster", "components.steady_state", "chaoslab.experiments.catalog"} <= loaded.keys()
    # Nor later, from inside a function of a module the program loads.
    deferred = {name: imported_roots(Path(file)) & (blocked | blocked_for_project) for name, file in loaded.items()}
    assert {name: roots for name, roots in deferred.items() if roots} == {}


def test_the_config_model_and_the_cli_import_without_pulumi():
    """The installed CLI parses stack config with the program's own model, so that model must not need Pulumi."""
    pulumi_modules = {module for module in metadata.packages_distributions() if module.startswith("pulumi")}
    result = run_blocked(
        """
        import chaoslab.cli, chaoslab.config, chaoslab.plan
        print("imported")
        """,
        cwd=PROJECT_DIR,
        blocked=pulumi_modules,
        pythonpath=str(PROJECT_DIR),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported"


def imported_roots(source: Path) -> set[str]:
    """The top-level names a Python file imports (absolute imports only), wherever the import statement is."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source.read_bytes(), filename=str(source))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.partition(".")[0])
    return roots


def test_nothing_imports_the_experiments_folder_by_its_own_name():
    """One import name for one set of classes: `experiments` and `chaoslab.experiments` would be two."""
    sources = [relative for relative in checkout_files() if relative.suffix == ".py"]
    assert Path("experiments/model.py") in sources
    assert [str(relative) for relative in sources if "experiments" in imported_roots(PROJECT_DIR / relative)] == []


def test_packaged_modules_import_no_folder_the_wheel_leaves_out(wheel: Path):
    local_roots = {path.name for path in PROJECT_DIR.iterdir() if (path / "__init__.py").exists()}
    local_roots |= {path.stem for path in (PROJECT_DIR / "tests").glob("*.py")}
    left_out = local_roots - {"chaoslab"}
    assert {"stacks", "components", "experiments", "pulumi_harness"} <= left_out
    for name in wheel_files(wheel):
        if name.endswith(".py"):
            source = PROJECT_DIR / name
            assert imported_roots(source) & left_out == set(), f"{name} imports what pip install . leaves out"


def test_the_source_tree_gives_the_experiments_folder_its_packaged_name_through_a_symlink():
    """A checkout without symlinks (git's core.symlinks=false on Windows) fails here rather than at `pulumi up`."""
    link = PROJECT_DIR / "chaoslab" / "experiments"
    assert link.is_symlink(), f"{link} must be a symlink to ../experiments (is core.symlinks off?)"
    assert os.readlink(link) == "../experiments"
    assert link.resolve() == (PROJECT_DIR / "experiments").resolve()
    assert PROJECT["tool"]["setuptools"]["package-dir"]["chaoslab.experiments"] == "experiments"


def test_console_script_points_at_a_callable_in_a_packaged_module():
    target = PROJECT["project"]["scripts"]["chaoslab"]
    module_name, _, attribute = target.partition(":")
    assert callable(getattr(importlib.import_module(module_name), attribute))
    assert module_name.split(".")[0] in PROJECT["tool"]["setuptools"]["packages"]
