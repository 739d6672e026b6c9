"""`report RUN_DIR`: the experiment log (report.md), every summary (summaries.json), a chart (latency.png).

Everything is read from the run directory (journal.json and the phases' samples), so a report can
be redrawn at any time, also for a run that was interrupted. What an operator writes under "What we
learned" survives a redraw.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .cloudwatch_samples import CLOUDWATCH_FILE, read_series
from .errors import UsageError
from .files import write_atomic, write_json
from .journal import JOURNAL_FILE
from .samples import MS_PER_S, MalformedFile, Sample, read_samples

REPORT_FILE = "report.md"
SUMMARIES_FILE = "summaries.json"
CHART_FILE = "latency.png"
# Everything below this line in report.md is the operator's, kept when the report is redrawn.
NOTES_MARKER = "<!-- chaoslab: notes below this line are kept when the report is redrawn -->"
NOTES_TEMPLATE = """
## What we learned

_What surprised us, what held, what broke, and why._

## What we change next

_Fixes, new alerts, a follow-up experiment._
"""
CHART_SIZE_IN = (10.0, 5.0)
CHART_DPI = 100
PHASE_COLOURS = {"baseline": "#9e9e9e", "during": "#e53935", "after": "#43a047"}
# Latency spans a loopback millisecond to a 5 s timeout: only a log axis shows both.
MIN_PLOTTED_MS = 0.1


@dataclass(frozen=True)
class Phase:
    name: str
    offset_s: float  # from the run's start
    record: Mapping[str, Any]  # the probe activity's journal record
    samples: Sequence[Sample]

    @property
    def summary(self) -> Mapping[str, Any] | None:
        summary: Mapping[str, Any] | None = self.record["output"].get("summary")
        return summary


@dataclass(frozen=True)
class ReportFiles:
    report: Path
    summaries: Path
    chart: Path


def write_report(run_dir: Path) -> ReportFiles:
    """Raises UsageError when run_dir holds no journal, MalformedFile (a UsageError) naming the file and
    field when the journal or a samples file is not what `run` writes; OSError when files cannot be written."""
    journal_path = run_dir / JOURNAL_FILE
    if not journal_path.is_file():
        raise UsageError(f"{run_dir} is not a run directory: it has no {JOURNAL_FILE}")
    journal = read_journal(journal_path)
    phases = _phases(run_dir, journal)
    files = ReportFiles(run_dir / REPORT_FILE, run_dir / SUMMARIES_FILE, run_dir / CHART_FILE)
    write_json(files.summaries, summaries(journal, phases))
    write_atomic(files.chart, chart_png(journal, phases, in_cluster_intervals(run_dir, phases)))
    write_atomic(files.report, markdown(journal, phases, _kept_notes(files.report)))
    return files


# What the report reads of a journal (chaoslab.journal writes it), checked before any of it is used,
# so a hand-edited or truncated journal is named field by field instead of failing half-way.
# A spec is a type (or tuple of types; None allows null), a dict of field specs, a one-item list (every
# item), or a function returning the problem or None.
_NUMBER = (int, float)


def _timestamp(value: Any) -> str | None:
    if not isinstance(value, str):
        return "accepted an ISO 8601 time such as 2026-01-01T12:00:00.000Z"
    try:
        _parse_time(value)
    except ValueError:
        return "accepted an ISO 8601 time such as 2026-01-01T12:00:00.000Z"
    return None


_VERDICT = (
    type(None),
    {
        "met": bool,
        "checks": [
            {
                "requirement": str,
                "observed": (*_NUMBER, type(None)),
                "threshold": (*_NUMBER, type(None)),
                "unit": str,
                "met": bool,
                "detail": (str, type(None)),
            }
        ],
    },
)
_ACTIVITY = {
    "activity": {"type": str, "name": str},
    "start": _timestamp,
    "duration": (*_NUMBER, type(None)),
    "status": (str, type(None)),
    "output": dict,
    "exception": (str, type(None)),
}
_JOURNAL = {
    "chaoslab_version": str,
    "platform": str,
    "node": str,
    "start": _timestamp,
    "end": (str, type(None)),
    "duration": (*_NUMBER, type(None)),
    "status": (str, type(None)),
    "deviated": bool,
    "experiment": {
        "name": str,
        "stack": str,
        "simulates": str,
        "title": str,
        "config_key": str,
        "chaos_s": _NUMBER,
        "target": (type(None), {"kind": str, "namespace": str, "name": str}),
        "parameters": dict,
        "app_timeouts_ms": dict,
        "probe": {"url": str, "rate": _NUMBER, "timeout_s": _NUMBER, "concurrency": int},
    },
    "steady_states": {"before": _VERDICT, "during": _VERDICT, "after": _VERDICT},
    "run": [_ACTIVITY],
    "rollbacks": [_ACTIVITY],
}
_PHASE_OUTPUT = {"phase": str, "samples": str, "started_at": _timestamp, "planned_s": _NUMBER}
_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    dict: "an object",
    list: "a list",
    type(None): "null",
}


def _problem(value: Any, spec: Any) -> tuple[str, str] | None:
    """The first (field path below here, what is wrong) for `value` against `spec`, or None."""
    if isinstance(spec, tuple) and not all(isinstance(kind, type) for kind in spec):  # null, or a nested spec
        if value is None and type(None) in spec:
            return None
        return _problem(value, next(kind for kind in spec if kind is not type(None)))
    if callable(spec) and not isinstance(spec, type):
        wrong = spec(value)
        return None if wrong is None else ("", f"got {value!r}; {wrong}")
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return "", f"got {json.dumps(value)[:60]}; accepted an object"
        for key, inner in spec.items():
            if key not in value:
                return f".{key}", "missing"
            found = _problem(value[key], inner)
            if found is not None:
                return f".{key}{found[0]}", found[1]
        return None
    if isinstance(spec, list):
        if not isinstance(value, list):
            return "", f"got {json.dumps(value)[:60]}; accepted a list"
        for index, item in enumerate(value):
            found = _problem(item, spec[0])
            if found is not None:
                return f"[{index}]{found[0]}", found[1]
        return None
    types = spec if isinstance(spec, tuple) else (spec,)
    # bool is an int to Python, never to a journal.
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        return (
            "",
            f"got {json.dumps(value)[:60]}; accepted {' or '.join(dict.fromkeys(_TYPE_NAMES[kind] for kind in types))}",
        )
    return None


def read_journal(path: Path) -> dict[str, Any]:
    """Raises MalformedFile naming the field that is missing or wrong."""
    try:
        journal: dict[str, Any] = json.loads(path.read_text())
    except ValueError as error:
        raise MalformedFile(path, "(the whole file)", f"not JSON: {error}") from None
    found = _problem(journal, _JOURNAL)
    for index, record in enumerate(journal["run"] if found is None else []):
        if "phase" in record["output"]:
            inner = _problem(record["output"], _PHASE_OUTPUT)
            if inner is not None:
                found = (f".run[{index}].output{inner[0]}", inner[1])
                break
    if found is not None:
        raise MalformedFile(path, found[0].removeprefix(".") or "(the whole file)", found[1])
    return journal


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _phases(run_dir: Path, journal: Mapping[str, Any]) -> list[Phase]:
    start = _parse_time(journal["start"])
    phases = []
    for record in journal["run"]:
        output = record["output"]
        if "phase" not in output:
            continue
        path = run_dir / output["samples"]
        samples = read_samples(path) if path.is_file() else []
        offset_s = (_parse_time(output["started_at"]) - start).total_seconds()
        phases.append(Phase(output["phase"], offset_s, record, samples))
    return phases


def _activities(journal: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every activity record in order, named as the report shows it ("rollback: ..." for rollbacks)."""
    for record in journal["run"]:
        yield record["activity"]["name"], record
    for record in journal["rollbacks"]:
        yield f"rollback: {record['activity']['name']}", record


def summaries(journal: Mapping[str, Any], phases: Sequence[Phase]) -> dict[str, Any]:
    """Every number of the run in one object: status, each phase's summary, each verdict, each update."""
    experiment = journal["experiment"]
    return {
        "experiment": experiment["name"],
        "stack": experiment["stack"],
        "status": journal["status"],
        "deviated": journal["deviated"],
        "error": journal.get("error"),
        "start": journal["start"],
        "end": journal["end"],
        "phases": {phase.name: phase.summary for phase in phases},
        "steady_states": journal["steady_states"],
        "abort": journal.get("abort"),  # journals from before abort conditions have none
        "fis": journal.get("fis"),  # a FIS run's experiment ID, states and stop reason
        "updates": {
            name: record["output"].get("update")
            for name, record in _activities(journal)
            if record["activity"]["type"] == "action"
        },
    }


def in_cluster_intervals(run_dir: Path, phases: Sequence[Phase]) -> Sequence[Mapping[str, Any]]:
    """The in-cluster prober's intervals: the whole run's (`report --cloudwatch`), else the phases' own
    (`run --samples-from cloudwatch`); oldest first."""
    whole = read_series(run_dir / CLOUDWATCH_FILE)
    if whole:
        return whole
    by_time = {
        interval["at"]: interval
        for phase in phases
        if "cloudwatch" in phase.record["output"]
        for interval in read_series(run_dir / phase.record["output"]["cloudwatch"])
    }
    return [by_time[at] for at in sorted(by_time)]


def experiment_window(journal: Mapping[str, Any]) -> tuple[float, float] | None:
    """Seconds since the run started: the FIS experiment's start to its last state, else the chaos's
    declaration (`up` enabling it returned) to its removal (`up` disabling it began)."""
    start = _parse_time(journal["start"])
    records = {record["activity"]["name"]: record for record in [*journal["run"], *journal["rollbacks"]]}
    fis = journal.get("fis")
    if fis is not None and "start-fis-experiment" in records and fis.get("states"):
        begun = (
            _parse_time(records["start-fis-experiment"]["end"] or records["start-fis-experiment"]["start"]) - start
        ).total_seconds()
        return begun, begun + fis["states"][-1]["atSeconds"]
    enabled, disabled = records.get("enable-experiment"), records.get("disable-experiment")
    if enabled is None or enabled["end"] is None:
        return None
    ended = journal.get("end") if disabled is None else disabled["start"]
    if ended is None:
        return None
    return (_parse_time(enabled["end"]) - start).total_seconds(), (_parse_time(ended) - start).total_seconds()


def chart_png(
    journal: Mapping[str, Any], phases: Sequence[Phase], in_cluster: Sequence[Mapping[str, Any]] = ()
) -> bytes:
    buffer = io.BytesIO()
    chart_figure(journal, phases, in_cluster).savefig(buffer, format="png")
    return buffer.getvalue()


def chart_figure(
    journal: Mapping[str, Any], phases: Sequence[Phase], in_cluster: Sequence[Mapping[str, Any]] = ()
) -> Any:
    """Latency of every request over the run, phases shaded, failures and unsent requests marked; with the
    in-cluster prober's intervals, its p95 and success rate per 10 s and the experiment's window on top.
    A matplotlib Figure (typed Any: matplotlib is imported only when a chart is drawn)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a CI runner or over ssh
    from matplotlib.figure import Figure

    figure = Figure(figsize=CHART_SIZE_IN, dpi=CHART_DPI)
    axes = figure.add_subplot()
    _shade_phases(axes, phases)
    _plot_requests(axes, phases)
    if in_cluster:
        _plot_in_cluster(axes, _parse_time(journal["start"]), in_cluster)
    chaos = experiment_window(journal)
    if chaos is not None:
        axes.axvspan(*chaos, facecolor="none", edgecolor="#b71c1c", hatch="//", linewidth=0, label="experiment")
    _label_latency_axes(axes, journal)
    if phases or in_cluster:
        axes.legend(loc="upper left", fontsize="small")
    else:
        axes.text(0.5, 0.5, "no phase was probed", transform=axes.transAxes, ha="center")
    figure.tight_layout()
    return figure


def _shade_phases(axes: Any, phases: Sequence[Phase]) -> None:
    for phase in phases:
        # The phase as it ran (to its last answer, or its interruption), not as it was planned.
        length_s = phase.record["duration"] or phase.record["output"]["planned_s"]
        axes.axvspan(
            phase.offset_s,
            phase.offset_s + length_s,
            color=PHASE_COLOURS.get(phase.name, "#90caf9"),
            alpha=0.15,
            label=phase.name,
        )


def _request_points(phases: Sequence[Phase], keep: Callable[[Sample], bool]) -> tuple[list[float], list[float]]:
    """The kept requests that were sent, as columns: seconds since the run started, and latency in ms raised to
    MIN_PLOTTED_MS, which a log axis can draw."""
    chosen = [
        (phase.offset_s + s.started_s, max(s.latency_ms, MIN_PLOTTED_MS))
        for phase in phases
        for s in phase.samples
        if s.started_s is not None and s.latency_ms is not None and keep(s)
    ]
    return [x for x, _ in chosen], [y for _, y in chosen]


def _plot_requests(axes: Any, phases: Sequence[Phase]) -> None:
    """Every request the probe made: answered, failed, or not sent (drawn at the floor of the log axis)."""
    answered, failed = _request_points(phases, lambda s: s.ok), _request_points(phases, lambda s: not s.ok)
    if answered[0]:
        axes.scatter(*answered, s=6, color="#1e88e5", label="ok")
    if failed[0]:
        axes.scatter(*failed, s=24, marker="x", color="#c62828", label="failed")
    not_sent = [phase.offset_s + s.scheduled_s for phase in phases for s in phase.samples if not s.sent]
    if not_sent:
        axes.scatter(
            not_sent,
            [MIN_PLOTTED_MS] * len(not_sent),
            s=24,
            marker="v",
            color="#ef6c00",
            label="not sent (concurrency cap)",
        )


def _plot_in_cluster(axes: Any, start: datetime, in_cluster: Sequence[Mapping[str, Any]]) -> None:
    """The in-cluster prober's p95 on the latency axis, and its success rate on a second axis of its own."""
    at = [(_parse_time(interval["at"]) - start).total_seconds() for interval in in_cluster]
    p95 = [interval["latency_ms"].get("p95") for interval in in_cluster]
    shown = [(x, max(y, MIN_PLOTTED_MS)) for x, y in zip(at, p95, strict=True) if y is not None]
    if shown:
        axes.plot(
            [x for x, _ in shown],
            [y for _, y in shown],
            drawstyle="steps-post",
            color="#6a1b9a",
            label="in-cluster p95 (CloudWatch, per 10 s)",
        )
    success = axes.twinx()
    success.plot(
        at,
        [interval["success_percent"] for interval in in_cluster],
        drawstyle="steps-post",
        color="#00897b",
        linestyle="--",
        label="in-cluster success % (CloudWatch)",
    )
    success.set_ylim(0, 105)
    success.set_ylabel("in-cluster success (%)")
    success.legend(loc="upper right", fontsize="small")


def _label_latency_axes(axes: Any, journal: Mapping[str, Any]) -> None:
    """A log latency axis labelled in plain numbers, and the run's name and outcome as the title."""
    from matplotlib.ticker import LogFormatterSciNotation

    class PlainLogFormatter(LogFormatterSciNotation):
        """Labels the ticks matplotlib's log formatter would label, as plain numbers: 60, not 6×10¹."""

        def __call__(self, x: float, pos: int | None = None) -> str:
            return f"{x:g}" if super().__call__(x, pos) else ""

    axes.set_yscale("log")
    axes.yaxis.set_major_formatter(PlainLogFormatter())
    axes.yaxis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False))
    axes.set_xlabel("seconds since the run started")
    axes.set_ylabel("latency (ms, log scale)")
    experiment = journal["experiment"]
    deviated = ", deviated" if journal.get("deviated") else ""
    axes.set_title(
        f"{experiment['name']} on stack {experiment['stack']}: {journal.get('status') or 'running'}{deviated}"
    )
    axes.grid(True, which="major", alpha=0.3)


def _kept_notes(report: Path) -> str:
    if report.is_file():
        text = report.read_text()
        if NOTES_MARKER in text:
            return text.split(NOTES_MARKER, 1)[1]
    return NOTES_TEMPLATE


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    figure = f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"
    return f"{figure} {unit}".strip()


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    return [line(header), line(["---"] * len(header)), *(line(row) for row in rows)]


def _verdict_lines(title: str, verdict: Mapping[str, Any] | None) -> list[str]:
    if verdict is None:
        return [f"### {title}", "", "Not judged: the run did not get this far.", ""]
    rows = [
        [
            check["requirement"],
            _number(check["observed"], check["unit"]),
            _number(check["threshold"], check["unit"]),
            "met" if check["met"] else "**not met**",
            check["detail"] or "",
        ]
        for check in verdict["checks"]
    ]
    outcome = "met" if verdict["met"] else "**not met**"
    return [
        f"### {title}: {outcome}",
        "",
        *_table(["requirement", "observed", "threshold", "result", "detail"], rows),
        "",
    ]


def _verdict_section(states: Mapping[str, Any]) -> list[str]:
    return [
        "## Verdict",
        "",
        *_verdict_lines("Before (baseline)", states["before"]),
        *_verdict_lines("During the chaos", states["during"]),
        *_verdict_lines("After recovery", states["after"]),
    ]


def _outcome(journal: Mapping[str, Any]) -> str:
    status, states = journal.get("status"), journal["steady_states"]
    if status == "completed":
        return "the hypothesis was **not met**" if journal["deviated"] else "the hypothesis held"
    if status == "failed":
        return "the steady state did not hold before the chaos, so no chaos was injected"
    judged = [when for when in ("before", "during", "after") if states.get(when)]
    return f"the run was {status} ({journal.get('error') or 'no error recorded'}); judged so far: {', '.join(judged) or 'nothing'}"


def markdown(journal: Mapping[str, Any], phases: Sequence[Phase], notes: str) -> str:
    """The experiment log, section by section, each section ending in a blank line; `notes` follow the marker."""
    lines = [
        *_summary_lines(journal),
        *_tested_lines(journal),
        *_update_lines(journal),
        *_abort_lines(journal.get("abort")),
        *_phase_lines(phases),
        *_verdict_section(journal["steady_states"]),
        *_timeline_lines(journal),
        f"![latency over time]({CHART_FILE})",
        "",
        "Samples: one JSON line per request in `<phase>.samples.jsonl`; "
        f"every summary in `{SUMMARIES_FILE}`; the full journal in `{JOURNAL_FILE}`.",
        "",
        NOTES_MARKER,
    ]
    return "\n".join(lines) + notes


def _summary_lines(journal: Mapping[str, Any]) -> list[str]:
    experiment = journal["experiment"]
    return [
        f"# Experiment log: {experiment['name']} on stack {experiment['stack']}",
        "",
        f"- **Simulates:** {experiment['simulates']}",
        f"- **Hypothesis:** {experiment['title']}",
        f"- **When:** {journal['start']} to {journal.get('end') or '(unfinished)'}"
        + (f" ({journal['duration']:.0f} s)" if journal.get("duration") is not None else ""),
        f"- **Outcome:** {_outcome(journal)}",
        f"- **Status:** {journal.get('status')}; deviated: {'yes' if journal.get('deviated') else 'no'}",
        f"- **Run by:** chaoslab {journal['chaoslab_version']} on {journal['node']} ({journal['platform']})",
        "",
    ]


def _tested_lines(journal: Mapping[str, Any]) -> list[str]:
    """What the chaos was, its parameters, and how the probe and the app were set up."""
    experiment = journal["experiment"]
    target = experiment["target"]
    probe = experiment["probe"]
    return [
        "## What was tested",
        "",
        (
            f"{target['kind']} `{target['namespace']}/{target['name']}`, switched by `{experiment['config_key']}`; "
            f"the chaos lasts {experiment['chaos_s']:g} s once Chaos Mesh starts it."
            if target is not None
            else f"An AWS FIS experiment template, declared by `{experiment['config_key']}` and started by chaoslab; its actions "
            f"last {experiment['chaos_s']:g} s at most."
        ),
        "",
        *_fis_lines(journal.get("fis")),
        *_table(
            ["parameter", "value"], [[key, f"`{json.dumps(value)}`"] for key, value in experiment["parameters"].items()]
        ),
        "",
        f"Probe: {probe['url']} at {probe['rate']:g}/s, timeout {probe['timeout_s']:g} s, at most "
        f"{probe['concurrency']} requests in flight (open loop: requests start on schedule, unsent ones are counted). "
        f"App timeouts: {', '.join(f'{key} {value:g} ms' for key, value in experiment['app_timeouts_ms'].items())}.",
        "",
    ]


def _update_lines(journal: Mapping[str, Any]) -> list[str]:
    rows = [
        _update_row(name, record) for name, record in _activities(journal) if record["activity"]["type"] == "action"
    ]
    header = ["update", "result", "version", "resource changes", "error"]
    return ["## Stack updates", "", *(_table(header, rows) if rows else ["No stack update was made."]), ""]


_PHASE_COLUMNS = (
    "phase",
    "start",
    "length",
    "sent",
    "not sent",
    "success",
    "rate",
    "p50",
    "p95",
    "p99",
    "max",
    "errors",
    "status",
)


def _phase_lines(phases: Sequence[Phase]) -> list[str]:
    rows = [_phase_row(phase) for phase in phases]
    return ["## Phases", "", *(_table(_PHASE_COLUMNS, rows) if rows else ["No phase was probed."]), ""]


def _phase_row(phase: Phase) -> list[str]:
    summary = phase.summary or {}
    latency = summary.get("latency_ms", {})
    rate = summary.get("success_rate")
    return [
        phase.name,
        f"+{phase.offset_s:.1f} s",
        f"{phase.record['output']['planned_s']:g} s",
        str(summary.get("sent", "-")),
        str(summary.get("not_sent", "-")),
        "-" if rate is None else f"{100 * rate:.2f} %",
        _number(summary.get("achieved_rate"), "/s"),
        *(_number(latency.get(key), "ms") for key in ("p50", "p95", "p99", "max")),
        ", ".join(f"{kind} {count}" for kind, count in summary.get("errors", {}).items()) or "-",
        phase.record["status"] or "-",
    ]


def _timeline_lines(journal: Mapping[str, Any]) -> list[str]:
    rows = [
        [
            name,
            record["activity"]["type"],
            record["start"],
            "-" if record["duration"] is None else f"{record['duration']:.1f} s",
            record["status"] or "-",
            record["exception"] or _activity_detail(record["output"]),
        ]
        for name, record in _activities(journal)
    ]
    return ["## Timeline", "", *_table(["activity", "type", "start", "duration", "status", "detail"], rows), ""]


def _fis_lines(fis: Mapping[str, Any] | None) -> list[str]:
    """The FIS run: its ID, each state it went through, and why it stopped."""
    if fis is None:
        return []
    stop = (
        f"chaoslab sent StopExperiment {fis['stopRequestedAtSeconds']:.1f} s after it started following: {fis['stopReason']}"
        if fis.get("stopRequestedAtSeconds") is not None
        else "chaoslab did not stop it"
    )
    rows = [
        [
            f"+{state['atSeconds']:.1f} s",
            state["status"],
            ", ".join(f"{name}: {status}" for name, status in sorted(state["actions"].items())) or "-",
        ]
        for state in fis.get("states", [])
    ]
    return [
        "### FIS experiment",
        "",
        f"`{fis['fisExperimentId']}` ended **{fis['finalState']}** ({fis['stateReason'] or 'no reason given'}); {stop}.",
        "",
        *_table(["at", "experiment", "actions"], rows),
        "",
    ]


def _abort_lines(abort: Mapping[str, Any] | None) -> list[str]:
    if abort is None:
        return []
    if abort.get("source") == "alarm":
        stop = (
            f"The stop failed: {abort['halt_error']}."
            if abort["halt_error"]
            else f"{abort['halt']['object']} ended `{abort['final_state']}`."
        )
        seen = f" chaoslab saw it at {abort['breach_at']};" if abort.get("breach_at") else ""
        return [
            "## Abort",
            "",
            f"{abort['condition']}.{seen} {abort['halt']['request']}. {stop} The experiment was then "
            "disabled (rollback).",
            "",
        ]
    window = abort["window"]
    latency = ", ".join(f"{key} {_number(value, 'ms')}" for key, value in window["latency_ms"].items())
    if abort["halt_error"]:
        halt = f"The halt failed: {abort['halt_error']}."
    elif abort["breach_to_halt_s"] is None:
        halt = "Nothing was halted then."
    else:
        halt = (
            f"The halt ({abort['halt']['request']} of {abort['halt']['object']}) was issued "
            f"**{abort['breach_to_halt_s'] * MS_PER_S:.1f} ms** after the breach."
        )
    return [
        "## Abort",
        "",
        f"`{abort['condition']}` held {abort['breach_at_s']:.1f} s into the phase ({abort['breach_at']}): observed "
        f"{_number(abort['observed'], abort['unit'])} against {_number(abort['threshold'], abort['unit'])}, over the "
        f"{window['requests']} requests that completed in the last {abort['window_s']:g} s ({window['ok']} ok; {latency}). "
        f"{halt} The breach is the completion of the request that made the condition hold. The experiment was then "
        "disabled (rollback).",
        "",
    ]


def _update_row(name: str, record: Mapping[str, Any]) -> list[str]:
    update = record["output"].get("update") or {}
    changes = ", ".join(f"{operation} {count}" for operation, count in (update.get("resource_changes") or {}).items())
    return [
        name,
        update.get("result", record["status"] or "-"),
        str(update.get("version", "-")),
        changes or "-",
        record["exception"] or "",
    ]


def _activity_detail(output: Mapping[str, Any]) -> str:
    if "state" in output:
        return f"{output['state']} after {output['waited_s']:.1f} s"
    if "summary" in output:
        return f"{output['summary']['sent']} sent, {output['summary']['ok']} ok"
    if "fisExperimentId" in output:
        return f"FIS experiment {output['fisExperimentId']}" + (
            f", {output['finalState']}" if "finalState" in output else ""
        )
    return ""
