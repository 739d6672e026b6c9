"""docs/report-chart.png: the chart `chaoslab report` draws, from a real run against a local app.

Run:  venv/bin/python scripts/report_chart.py [--phase-seconds 10]

`chaoslab run api-high-latency` drives the run as it would on a cluster, probing a local HTTP server.
Only the stack and the Chaos Mesh watcher are the test suite's stand-ins (tests/chaoslab_fakes.py): when
the fake `pulumi up` enables the experiment, the server adds the catalog's delay, so the chart shows the
baseline, the injected latency and the recovery that the report then judges.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
CHART = PROJECT_DIR / "docs" / "report-chart.png"
sys.path[:0] = [str(PROJECT_DIR), str(PROJECT_DIR / "tests")]

from chaoslab.display import NullDisplay
from chaoslab.plan import RunOptions, make_plan
from chaoslab.report import write_report
from chaoslab.run import execute
from chaoslab_fakes import FakeStack, FakeWatcher
from chaoslab_servers import Answer, app_server

EXPERIMENT = "api-high-latency"
RATE = 20.0
# The catalog's 500 ms ± 100 ms as the app would show it; fixed, so the chart reads at a glance.
INJECTED_DELAY_S = 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--phase-seconds", type=float, default=10.0, help="baseline, during and after, each (default 10)"
    )
    phase_s = parser.parse_args().phase_seconds
    with tempfile.TemporaryDirectory() as scratch, app_server() as server:

        def inject(enabled: set[str]) -> None:
            server.behave(Answer(delay_s=INJECTED_DELAY_S) if EXPERIMENT in enabled else Answer())

        run_dir = Path(scratch) / "run"
        stack = FakeStack({}, on_up=inject)
        options = RunOptions(
            url=server.url, baseline_s=phase_s, during_s=phase_s, after_s=phase_s, rate=RATE, out_dir=run_dir
        )
        execute(
            make_plan(EXPERIMENT, stack.name, PROJECT_DIR, {}, options), stack, FakeWatcher(), server.url, NullDisplay()
        )
        shutil.copyfile(write_report(run_dir).chart, CHART)
    print(CHART.relative_to(PROJECT_DIR))


if __name__ == "__main__":
    main()
