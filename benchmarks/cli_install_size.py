"""What installing the operator CLI costs, against the project venv (a benchmark, not a test).

Run:  venv/bin/python benchmarks/cli_install_size.py
Creates fresh venvs in a temporary folder and installs into each from PyPI, without pip's cache so
that neither install reuses the other's downloads:
  cli      the CLI wheel (built from this checkout) with its dependencies, requirements-cli.txt
  project  requirements.txt + requirements-cli.txt: what ./venv holds for `pulumi up` and the CLI,
           and what `pip install .` pulled in before the two were split
and prints, for each, the size on disk of site-packages (as `du` counts it), the distributions
installed, the seconds the install took, and the largest top-level entries. An empty venv's pip is
the baseline row. Progress goes to stderr; figures to stdout. Needs network access to PyPI.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT_DIR / "tests")]

from cli_wheel import build_wheel

MB = 1_000_000


@dataclass(frozen=True)
class Installed:
    label: str
    seconds: float
    site_packages: Path

    def entries(self) -> dict[str, int]:
        """Bytes on disk of each top-level entry of site-packages (a package, a module, a dist-info)."""
        return {entry.name: disk_usage(entry) for entry in self.site_packages.iterdir()}

    def distributions(self) -> int:
        return len(list(self.site_packages.glob("*.dist-info")))


def disk_usage(path: Path) -> int:
    """Allocated bytes under path, each hard-linked file once, as `du` counts them."""
    if path.is_dir() and not path.is_symlink():
        files = [Path(root, name) for root, _, names in os.walk(path) for name in names]
    else:
        files = [path]
    allocated: dict[tuple[int, int], int] = {}
    for file in files:
        status = file.lstat()
        allocated[status.st_dev, status.st_ino] = status.st_blocks * 512
    return sum(allocated.values())


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fresh_venv(folder: Path) -> tuple[Path, Path]:
    """A new venv at folder: its python and its site-packages."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    python = folder / "bin" / "python"
    (site_packages,) = (folder / "lib").glob("python3*/site-packages")
    return python, site_packages


def install(label: str, folder: Path, *requirements: str) -> Installed:
    progress(f"{label}: creating a venv in {folder}")
    python, site_packages = fresh_venv(folder)
    if not requirements:
        return Installed(label, 0.0, site_packages)
    progress(f"{label}: pip install {' '.join(requirements)}")
    started = time.perf_counter()
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-cache-dir",
            *requirements,
        ],
        check=True,
    )
    seconds = time.perf_counter() - started
    progress(f"{label}: installed in {seconds:.0f} s")
    return Installed(label, seconds, site_packages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--largest", type=int, default=5, help="top-level entries to list per venv (default 5)")
    largest = parser.parse_args().largest
    with tempfile.TemporaryDirectory(prefix="cli-install-size-") as scratch:
        work = Path(scratch)
        progress("building the CLI wheel from this checkout")
        wheel = build_wheel(work / "wheel")
        runs = [
            install("empty venv", work / "empty"),
            install("cli: the CLI wheel", work / "cli", str(wheel)),
            install(
                "project: requirements.txt + requirements-cli.txt",
                work / "project",
                "-r",
                str(PROJECT_DIR / "requirements.txt"),
                "-r",
                str(PROJECT_DIR / "requirements-cli.txt"),
            ),
        ]
        print(f"{'venv':<50} {'site-packages MB':>16} {'distributions':>13} {'install s':>9}")
        for run in runs:
            size = sum(run.entries().values())
            print(f"{run.label:<50} {size / MB:>16.1f} {run.distributions():>13} {run.seconds:>9.0f}")
        for run in runs[1:]:
            top = sorted(run.entries().items(), key=lambda item: item[1], reverse=True)[:largest]
            print(f"\nlargest in {run.label}: " + ", ".join(f"{name} {size / MB:.1f} MB" for name, size in top))


if __name__ == "__main__":
    main()
