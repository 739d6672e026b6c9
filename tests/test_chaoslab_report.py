"""`report RUN_DIR` on a run directory written by a real (fake-driven) run: the Markdown log, the
summaries JSON and the PNG chart, written atomically, with the operator's notes kept on a redraw.

Not covered: how the chart looks (only that it is a PNG of the right size and weight) and Markdown
rendering on any particular site.
"""

from __future__ import annotations

import io
import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaoslab.cli import Environment, main
from chaoslab.display import NullDisplay
from chaoslab.exit_codes import ExitCode
from chaoslab.journal import JOURNAL_FILE
from chaoslab.plan import RunOptions, make_plan
from chaoslab.report import CHART_FILE, NOTES_MARKER, REPORT_FILE, SUMMARIES_FILE, Phase, chart_figure, write_report
from chaoslab.run import execute
from chaoslab.samples import Sample
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
        options = RunOptions(
            url=server.url, baseline_s=PHASE_S, during_s=PHASE_S, after_s=PHASE_S, rate=RATE, out_dir=directory
        )
        plan = make_plan(EXPERIMENT, stack.name, PROJECT_DIR, {}, options)
        execute(plan, stack, FakeWatcher(), server.url, NullDisplay())
    return directory


def test_report_writes_the_log_the_summaries_and_the_chart(run_dir: Path) -> None:
    files = write_report(run_dir)

    summaries = json.loads(files.summaries.read_text())
    assert summaries["status"] == "completed" and summaries["deviated"] is False
    assert {phase: summary["sent"] for phase, summary in summaries["phases"].items()} == {
        "baseline": PHASE_REQUESTS,
        "during": PHASE_REQUESTS,
        "after": PHASE_REQUESTS,
    }
    assert set(summaries["updates"]) == {"enable-experiment", "disable-experiment"}
    assert_real_png(files.chart.read_bytes())
    report = files.report.read_text()
    rise = summaries["steady_states"]["during"]["checks"][0]
    assert f"| {rise['requirement']} | {rise['observed']:.0f} ms | {rise['threshold']:.0f} ms | met |" in report
    for heading in (
        "## What was tested",
        "## Stack updates",
        "## Phases",
        "### During the chaos: met",
        "## Timeline",
        "## What we learned",
        "## What we change next",
    ):
        assert heading in report
    assert f"![latency over time]({CHART_FILE})" in report
    assert not list(run_dir.glob(".*.tmp"))  # every file replaced whole, no temporary left behind


@pytest.mark.parametrize("latencies_ms", [(40.0, 90.0), (0.4, 4500.0)], ids=["within-a-decade", "four-decades"])
def test_the_latency_axis_labels_are_plain_numbers(latencies_ms: tuple[float, float]) -> None:
    """Within one decade matplotlib labels minor log ticks too, by default as "6×10¹"; every label reads as a number."""
    samples = [Sample(index / 10, index / 10, latency, 200, None) for index, latency in enumerate(latencies_ms)]
    phase = Phase("baseline", 0.0, {"duration": 1.0}, samples)
    journal = {
        "start": "2026-12-01T12:00:00Z",
        "experiment": {"name": EXPERIMENT, "stack": "dev"},
        "run": [],
        "rollbacks": [],
    }
    figure = chart_figure(journal, [phase])
    figure.canvas.draw()
    [latency_axes] = [axes for axes in figure.axes if axes.get_yscale() == "log"]
    low, high = latency_axes.get_ylim()
    shown = [
        (label.get_position()[1], label.get_text())
        for label in latency_axes.get_yticklabels(which="both")
        if label.get_text() and low <= label.get_position()[1] <= high
    ]
    assert len(shown) >= 2
    assert all(float(text) == pytest.approx(value) for value, text in shown), shown


def test_notes_under_the_marker_survive_a_redraw(run_dir: Path) -> None:
    write_report(run_dir)
    report = run_dir / REPORT_FILE
    notes = "\n## What we learned\n\nnginx absorbed it; the 500 ms arrived in full.\n"
    report.write_text(report.read_text().split(NOTES_MARKER)[0] + NOTES_MARKER + notes)

    write_report(run_dir)

    assert report.read_text().endswith(NOTES_MARKER + notes)


def test_the_report_command_prints_one_json_object(run_dir: Path) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()

    code = main(
        ["report", str(run_dir), "--json"],
        Environment(stdout=stdout, stderr=stderr, stderr_isatty=False),
    )

    assert code == ExitCode.OK and stderr.getvalue() == ""
    assert json.loads(stdout.getvalue()) == json.loads((run_dir / SUMMARIES_FILE).read_text())


def test_a_directory_without_a_journal_is_a_usage_error(tmp_path: Path) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()

    code = main(["report", str(tmp_path)], Environment(stdout=stdout, stderr=stderr, stderr_isatty=False))

    assert code == ExitCode.USAGE
    assert stderr.getvalue() == f"UsageError: {tmp_path} is not a run directory: it has no journal.json\n"
    assert stdout.getvalue() == ""


def _broken_copy(run_dir: Path, tmp_path: Path, change: Any) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    journal = json.loads((copy / JOURNAL_FILE).read_text())
    change(journal)
    (copy / JOURNAL_FILE).write_text(json.dumps(journal))
    return copy


def _report_cli(run_dir: Path) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["report", str(run_dir)], Environment(stdout=stdout, stderr=stderr, stderr_isatty=False))
    return code, stdout.getvalue(), stderr.getvalue()


def _set(path: str, value: Any) -> Any:
    """A change to the journal: the field at a dotted path (list indexes as numbers) set to value, or removed (DELETE)."""

    def change(journal: dict[str, Any]) -> None:
        *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
        node = journal
        for part in parents:
            node = node[part]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value

    return change


DELETE = object()


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        (_set("experiment.stack", DELETE), "experiment.stack", "missing"),
        (_set("run.0.duration", "slow"), "run[0].duration", 'got "slow"; accepted an integer or a number or null'),
        (_set("start", "yesterday"), "start", "got 'yesterday'; accepted an ISO 8601 time"),
        (
            _set("steady_states.before.checks.0.met", "yes"),
            "steady_states.before.checks[0].met",
            'got "yes"; accepted true or false',
        ),
        (_set("run.0.output.planned_s", None), "run[0].output.planned_s", "got null; accepted an integer or a number"),
        (_set("rollbacks", {}), "rollbacks", "got {}; accepted a list"),
    ],
)
def test_a_malformed_journal_names_the_file_and_the_field(
    run_dir: Path, tmp_path: Path, change: Any, field: str, problem: str
) -> None:
    broken = _broken_copy(run_dir, tmp_path, change)

    code, stdout, stderr = _report_cli(broken)

    assert code == ExitCode.USAGE and stdout == ""
    [line] = stderr.splitlines()
    assert line.startswith(f"MalformedFile: {broken / JOURNAL_FILE}: {field}: {problem}")


def test_a_journal_that_is_not_json_names_the_file(run_dir: Path, tmp_path: Path) -> None:
    broken = _broken_copy(run_dir, tmp_path, lambda journal: None)
    (broken / JOURNAL_FILE).write_text('{"start": ')

    code, _, stderr = _report_cli(broken)

    assert code == ExitCode.USAGE
    assert stderr.startswith(f"MalformedFile: {broken / JOURNAL_FILE}: (the whole file): not JSON: ")


def test_a_malformed_samples_line_names_the_file_the_line_and_the_field(run_dir: Path, tmp_path: Path) -> None:
    broken = _broken_copy(run_dir, tmp_path, lambda journal: None)
    samples = broken / "during.samples.jsonl"
    lines = samples.read_text().splitlines()
    record = json.loads(lines[2])
    record["latency_ms"] = "fast"
    samples.write_text("\n".join([*lines[:2], json.dumps(record), *lines[3:]]) + "\n")

    code, _, stderr = _report_cli(broken)

    assert code == ExitCode.USAGE
    assert (
        stderr
        == f"MalformedFile: {samples}: line 3: latency_ms: got 'fast'; accepted null or a number of milliseconds\n"
    )
