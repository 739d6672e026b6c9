"""`pip install .` gives a working `chaoslab` command (checked by hand in a fresh venv; here: the declaration)."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
import tomllib

from pulumi_harness import PROJECT_DIR


def test_console_script_points_at_a_callable_in_a_packaged_module():
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
    target = project["project"]["scripts"]["chaoslab"]
    module_name, _, attribute = target.partition(":")
    assert callable(getattr(importlib.import_module(module_name), attribute))
    assert module_name.split(".")[0] in project["tool"]["setuptools"]["packages"]


def test_packaged_modules_import_nothing_that_is_not_packaged():
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
    packaged = set(project["tool"]["setuptools"]["packages"])
    local_roots = {path.name for path in PROJECT_DIR.iterdir() if (path / "__init__.py").exists()}
    for package in packaged:
        for source in (PROJECT_DIR / package.replace(".", "/")).glob("*.py"):
            for line in source.read_text().splitlines():
                words = line.split()
                if words[:1] in (["import"], ["from"]) and len(words) > 1:
                    root = words[1].split(".")[0]
                    assert root not in local_roots - packaged, (
                        f"{source.name} imports {root}, which pip install . leaves out"
                    )


def test_every_package_directory_under_a_packaged_one_is_packaged_too():
    """setuptools' explicit list does not recurse: a subpackage left off it is missing from the wheel."""
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
    packaged = set(project["tool"]["setuptools"]["packages"])
    for package in packaged:
        for init in (PROJECT_DIR / package.replace(".", "/")).glob("*/__init__.py"):
            name = ".".join(init.parent.relative_to(PROJECT_DIR).parts)
            assert name in packaged, f"{name} is not in [tool.setuptools] packages"


def test_the_config_model_and_the_cli_import_without_pulumi():
    """The installed CLI parses stack config with the program's own model, so that model must not need Pulumi."""
    blocker = textwrap.dedent(
        """
        import importlib.abc, sys

        class NoPulumi(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0].startswith("pulumi"):
                    raise ImportError(f"{name} imported")
                return None

        sys.meta_path.insert(0, NoPulumi())
        import chaoslab.cli, chaoslab.config, chaoslab.plan
        print("imported")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", blocker], cwd=PROJECT_DIR, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported"
