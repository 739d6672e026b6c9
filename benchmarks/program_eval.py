"""How long the Pulumi program takes to evaluate under mocks, per stack (a benchmark, not a test).

Run:  venv/bin/python benchmarks/program_eval.py [--runs N]
Prints min / median / max wall time of one full evaluation (config load, every component, exports)
and the number of resources declared. The first run includes imports and is reported separately.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT_DIR), str(PROJECT_DIR / "tests")]

from chaoslab.experiments import CATALOG
from pulumi_harness import run_lab

SCENARIOS = {
    "dev (defaults)": ("dev", {}),
    "dev (every experiment)": ("dev", {"experiments": {name: {"enabled": True} for name in CATALOG}}),
    "kind (defaults)": ("kind", {}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed evaluations per scenario (default 10)")
    runs = parser.parse_args().runs
    started = time.perf_counter()
    run_lab("dev")
    print(f"first evaluation, imports included: {time.perf_counter() - started:.2f} s")
    print(f"{'scenario':<26} {'resources':>9} {'min s':>7} {'median s':>9} {'max s':>7}")
    for label, (stack, overrides) in SCENARIOS.items():
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            deployment = run_lab(stack, overrides)
            timings.append(time.perf_counter() - started)
        print(
            f"{label:<26} {len(deployment.registrations):>9} {min(timings):>7.3f} "
            f"{statistics.median(timings):>9.3f} {max(timings):>7.3f}"
        )


if __name__ == "__main__":
    main()
