"""`pip install .` gives a working `chaoslab` command (checked by hand in a fresh venv; here: the declaration)."""

from __future__ import annotations

import importlib
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
        for source in (PROJECT_DIR / package).glob("*.py"):
            for line in source.read_text().splitlines():
                words = line.split()
                if words[:1] in (["import"], ["from"]) and len(words) > 1:
                    root = words[1].split(".")[0]
                    assert root not in local_roots - packaged, f"{source.name} imports {root}, which pip install . leaves out"
