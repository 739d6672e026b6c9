"""Builds the operator CLI's wheel the way `pip install .` does, from a clean copy of the checkout.

A copy because setuptools builds in the source tree: its build/ folder keeps modules that were since
deleted and puts them in the next wheel, and two builds at once would share it. The copy holds the
files git tracks plus the untracked ones it does not ignore, so the wheel is what a fresh clone
with the current edits would build. Shared by tests/test_packaging.py and benchmarks/cli_install_size.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def checkout_files() -> list[Path]:
    """The project's files relative to its root: tracked, or untracked and not ignored (symlinks as links)."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_DIR,
        capture_output=True,
        check=True,
    ).stdout.decode()
    names = sorted({name for name in listing.split("\0") if name})
    # A tracked file deleted in the working tree is still listed by --cached.
    return [Path(name) for name in names if (PROJECT_DIR / name).is_symlink() or (PROJECT_DIR / name).exists()]


def copy_checkout(destination: Path) -> Path:
    for relative in checkout_files():
        source, target = PROJECT_DIR / relative, destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        else:
            shutil.copy2(source, target)
    return destination


def build_wheel(work_dir: Path) -> Path:
    """Build the CLI wheel into work_dir with this interpreter's setuptools (no download) and return its path."""
    source = copy_checkout(work_dir / "checkout")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(work_dir),
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pip wheel of {source} failed:\n{result.stderr}")
    (wheel,) = work_dir.glob("*.whl")
    return wheel
