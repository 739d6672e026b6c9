"""`report RUN_DIR` on a run directory written by a real (fake-driven) run: the Markdown log, the
summaries JSON and the PNG chart, written atomically, with the operator's notes kept on a redraw.

Not covered: how the chart looks (only that it is a PNG of the right size and weight) and Markdown
rendering on any particular site.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaoslab.cli import Environment, main
from chaoslab.display import NullDisplay
from chaoslab.exit_codes import ExitCode
from chaoslab.plan import RunOptions, make_plan
from chaoslab.report import CHART_FILE, NOTES_MARKER, REPORT_FILE, SUMMARIES_FILE, write_report
from chaoslab.run import execute
from chaoslab_fakes import FakeStack, FakeWatcher
from chaoslab_png import assert_real_png
from chaoslab_servers import Answer, app_server

PROJECT_DIR = Path(__file__).resolve().parent.parent
EXPERIMENT = "api-high-latency"
RATE = 20.0
PHASE_S = 0.5
PHASE_REQUESTS = math.floor(RATE * PHASE_S)
INJECTED_DELAY_S = 0.45  # the catalog's 500 ms +/- 100 ms, as the app would show it


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("run")
    with app_server() as server:
        def latency(enabled: set[str]) -> None:
            server.behave(Answer(delay_s=INJECTED_DELAY_S) if EXPERIMENT in enabled else Answer())

        stack = FakeStack({}, on_up=latency)
        options = RunOptions(url=server.url, baseline_s=PHASE_S, during_s=PHASE_S, after_s=PHASE_S, rate=RATE,
                             out_dir=directory)
        plan = make_plan(EXPERIMENT, stack.name, PROJECT_DIR, {}, options)
        execute(plan, stack, FakeWatcher(), server.url, NullDisplay())
    yield directory


def test_report_writes_the_log_the_summaries_and_the_chart(run_dir: Path) -> None:
    files = write_report(run_dir)

    summaries = json.loads(files.summaries.read_text())
    assert summaries["status"] == "completed" and summaries["deviated"] is False
    assert {phase: summary["sent"] for phase, summary in summaries["phases"].items()} == {
        "baseline": PHASE_REQUESTS, "during": PHASE_REQUESTS, "after": PHASE_REQUESTS,
    }
    assert set(summaries["updates"]) == {"enable-experiment", "disable-experiment"}
    assert_real_png(files.chart.read_bytes())
    report = files.report.read_text()
    rise = summaries["steady_states"]["during"]["checks"][0]
    assert f"| {rise['requirement']} | {rise['observed']:.0f} ms | {rise['threshold']:.0f} ms | met |" in report
    for heading in ("## What was tested", "## Stack updates", "## Phases", "### During the chaos: met", "## Timeline",
                    "## What we learned", "## What we change next"):
        assert heading in report
    assert f"![latency over time]({CHART_FILE})" in report
    assert not list(run_dir.glob(".*.tmp"))  # every file replaced whole, no temporary left behind


def test_notes_under_the_marker_survive_a_redraw(run_dir: Path) -> None:
    write_report(run_dir)
    report = run_dir / REPORT_FILE
    notes = "\n## What we learned\n\nnginx absorbed it; the 500 ms arrived in full.\n"
    report.write_text(report.read_text().split(NOTES_MARKER)[0] + NOTES_MARKER + notes)

    write_report(run_dir)

    assert report.read_text().endswith(NOTES_MARKER + notes)


def test_the_report_command_prints_one_json_object(run_dir: Path) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()

    code = main(["report", str(run_dir), "--json"], Environment(stdout=stdout, stderr=stderr, stdout_isatty=False, stderr_isatty=False))

    assert code == ExitCode.OK and stderr.getvalue() == ""
    assert json.loads(stdout.getvalue()) == json.loads((run_dir / SUMMARIES_FILE).read_text())


def test_a_directory_without_a_journal_is_a_usage_error(tmp_path: Path) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()

    code = main(["report", str(tmp_path)], Environment(stdout=stdout, stderr=stderr, stdout_isatty=False, stderr_isatty=False))

    assert code == ExitCode.USAGE
    assert stderr.getvalue() == f"UsageError: {tmp_path} is not a run directory: it has no journal.json\n"
    assert stdout.getvalue() == ""
