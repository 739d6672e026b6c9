"""`chaoslab run` of FIS entries through the real CLI entry (main(argv, env)): FIS and CloudWatch are moto's
server on loopback, reached by real boto3 clients that Environment.connect_aws hands out; the stack is a
FakeStack whose `up` declares the entry's template in moto, as the program's FIS component would.

moto moves an experiment one state per N GetExperiment calls (fis_servers.hold_experiments_running), so
"the experiment is running" lasts as many polls as a test needs. What this cannot show: real FIS timings,
FIS's own reaction to its stop conditions (AWS does not document it), and what the actions do to nodes.
"""

from __future__ import annotations

import io
import json
import math
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chaoslab.cli import Environment, main
from chaoslab.cloudwatch_samples import CLOUDWATCH_FILE
from chaoslab.config.topology import frontend_url
from chaoslab.display import Progress
from chaoslab.exit_codes import ExitCode
from chaoslab.experiments.fis import STACK_TAG
from chaoslab.journal import JOURNAL_FILE
from chaoslab.prober.figures import PUBLISH_INTERVAL_S, IntervalFigures, cloudwatch_namespace, metric_data
from chaoslab.report import CHART_FILE, REPORT_FILE
from chaoslab.run import AwsTiming
from chaoslab.samples import ErrorKind
from chaoslab_fakes import FakeStack
from chaoslab_png import assert_real_png
from chaoslab_servers import Answer, AppServer, app_server
from fis_servers import (
    ALARMS,
    REGION,
    FisStack,
    aws_client,
    hold_experiments_running,
    put_steady_state_alarms,
)
from moto_cloudwatch import moto_server

PROJECT_DIR = Path(__file__).resolve().parent.parent
ENTRY = "node-group-loss"
ENTRY_KEY = f"chaos-lab:experiments.{ENTRY}"
RATE = 20.0
POLL_S = 0.05
HEALTHY = Answer()
FAILING = Answer(status=503)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        put_steady_state_alarms(aws_client("cloudwatch", url))
        yield url


@pytest.fixture(autouse=True)
def alarms_ok(endpoint: str) -> None:
    cloudwatch = aws_client("cloudwatch", endpoint)
    for name in ALARMS.values():
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="test start")


class Notes:
    """Records notes; `on_note` sees each one (on the follower's thread for FIS states)."""

    def __init__(self, on_note: Any = None, on_progress: Any = None) -> None:
        self.notes: list[str] = []
        self.on_note = on_note
        self.on_progress = on_progress

    def note(self, text: str) -> None:
        self.notes.append(text)
        if self.on_note is not None:
            self.on_note(text)

    def progress(self, label: str, progress: Progress) -> None:
        if self.on_progress is not None:
            self.on_progress(label)

    def done(self) -> None:
        pass


def _run(
    endpoint: str,
    stack: FisStack,
    server: AppServer,
    out: Path,
    *extra: str,
    display: Notes | None = None,
    stop_deadline_s: float = 5.0,
) -> tuple[int, dict[str, Any], str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    regions: list[str] = []

    def connect_aws(service: str, region: str) -> Any:
        regions.append(region)
        return aws_client(service, endpoint)

    env = Environment(
        stdout=stdout,
        stderr=stderr,
        stderr_isatty=False,
        connect_stack=lambda name, project_dir: stack,
        connect_cluster=lambda access: pytest.fail("no watcher"),
        connect_aws=connect_aws,
        aws_timing=AwsTiming(poll_s=POLL_S, stop_deadline_s=stop_deadline_s),
        display=display or Notes(),
    )
    code = main(
        [
            "run",
            ENTRY,
            "--stack",
            stack.name,
            "--project-dir",
            str(PROJECT_DIR),
            "--url",
            server.url,
            "--baseline",
            "500ms",
            "--after",
            "500ms",
            "--rate",
            f"{RATE:g}",
            "--out",
            str(out),
            *extra,
        ],
        env,
    )
    assert set(regions) <= {REGION}  # the stack's region output, whatever the shell's default is
    journal = json.loads((out / JOURNAL_FILE).read_text()) if (out / JOURNAL_FILE).is_file() else {}
    return code, journal, stdout.getvalue(), stderr.getvalue()


def _activities(journal: dict[str, Any], part: str = "run") -> list[tuple[str, str]]:
    return [(record["activity"]["name"], record["status"]) for record in journal[part]]


def _moto_state(endpoint: str, experiment_id: str) -> str:
    return aws_client("fis", endpoint).get_experiment(id=experiment_id)["experiment"]["state"]["status"]


def test_a_fis_entry_runs_to_completion_with_its_states_in_the_journal_and_report(
    endpoint: str, tmp_path: Path
) -> None:
    hold_experiments_running(endpoint, polls=1)
    display = Notes()
    with app_server(HEALTHY) as server:
        stack = FisStack(endpoint, server)
        code, journal, stdout, stderr = _run(
            endpoint, stack, server, tmp_path, "--during", "500ms", "--json", display=display
        )

    assert code == ExitCode.OK, stderr
    fis = journal["fis"]
    experiment_id = fis["fisExperimentId"]
    assert fis["finalState"] == "completed" and fis["stopReason"] is None and fis["stopRequestedAtSeconds"] is None
    assert [state["status"] for state in fis["states"]] == ["initiating", "running", "completed"]
    assert fis["states"][-1]["actions"] == {"terminate": "completed"}
    # Started from the stack's template, tagged with the stack so `halt` finds it.
    started = aws_client("fis", endpoint).get_experiment(id=experiment_id)["experiment"]
    assert started["experimentTemplateId"] == stack.declared[ENTRY] and started["tags"][STACK_TAG] == stack.name
    # Progress: every state change on the display, as it happened.
    assert [note for note in display.notes if note.startswith("FIS ")] == [
        f"FIS {experiment_id}: initiating (terminate: pending)",
        f"FIS {experiment_id}: running (terminate: running)",
        f"FIS {experiment_id}: completed (terminate: completed): Experiment completed",
    ]
    assert _activities(journal) == [
        ("probe-baseline", "succeeded"),
        ("enable-experiment", "succeeded"),
        ("start-fis-experiment", "succeeded"),
        ("probe-during", "succeeded"),
        ("disable-experiment", "succeeded"),
        ("probe-after", "succeeded"),
    ]
    assert stack.calls[-2:] == [("remove_config", ENTRY_KEY, True), ("up", f"chaoslab run: disable {ENTRY}")]
    assert journal["experiment"]["engine"] == "fis" and journal["status"] == "completed" and not journal["deviated"]
    assert json.loads(stdout)["fis"] == fis
    report = (tmp_path / REPORT_FILE).read_text()
    assert f"`{experiment_id}` ended **completed**" in report and "chaoslab did not stop it" in report


def test_an_alarm_set_to_alarm_stops_the_experiment_and_the_run_aborts(endpoint: str, tmp_path: Path) -> None:
    hold_experiments_running(endpoint, polls=10)  # running for ten polls, stopped ten polls after the stop
    breached = threading.Event()

    def breach_once_running(note: str) -> None:
        if ": running" in note and not breached.is_set():
            breached.set()
            aws_client("cloudwatch", endpoint).set_alarm_state(
                AlarmName=ALARMS["successRate"],
                StateValue="ALARM",
                StateReason="in-cluster prober: success rate below 99 %",
            )

    during_s = 5.0
    with app_server(HEALTHY) as server:
        code, journal, stdout, stderr = _run(
            endpoint,
            FisStack(endpoint, server),
            server,
            tmp_path,
            "--during",
            f"{during_s:g}s",
            "--abort-on-alarm",
            display=Notes(on_note=breach_once_running),
        )

    assert code == ExitCode.ABORTED, stderr
    fis = journal["fis"]
    assert fis["stopReason"] == f"steady-state alarm in ALARM: {ALARMS['successRate']}"
    assert fis["finalState"] == "stopped" == _moto_state(endpoint, fis["fisExperimentId"])
    abort = journal["abort"]
    assert abort["source"] == "alarm" and abort["halt"]["request"] == "StopExperiment" and abort["halt_error"] is None
    assert journal["status"] == "aborted" and _activities(journal, "rollbacks") == [("disable-experiment", "succeeded")]
    # The alarm stopped the probe too, long before its planned length.
    during = next(record for record in journal["run"] if record["activity"]["name"] == "probe-during")
    assert during["output"]["summary"]["scheduled"] < math.floor(RATE * during_s)
    assert f"ABORTED: steady-state alarm in ALARM: {ALARMS['successRate']}; StopExperiment" in stdout


def test_a_stop_that_does_not_finish_in_time_after_an_abort_exits_5(endpoint: str, tmp_path: Path) -> None:
    hold_experiments_running(endpoint, polls=10**6)  # pending, and once stopped, stopping: for ever
    cloudwatch = aws_client("cloudwatch", endpoint)
    cloudwatch.set_alarm_state(AlarmName=ALARMS["p95Latency"], StateValue="ALARM", StateReason="already broken")
    with app_server(HEALTHY) as server:
        code, journal, stdout, stderr = _run(
            endpoint,
            FisStack(endpoint, server),
            server,
            tmp_path,
            "--during",
            "2s",
            "--abort-on-alarm",
            stop_deadline_s=0.3,
        )

    assert code == ExitCode.ABORTED_HALT_FAILED, stderr
    experiment_id = journal["fis"]["fisExperimentId"]
    assert f"FIS experiment {experiment_id} is still 'stopping'" in journal["abort"]["halt_error"]
    assert _moto_state(endpoint, experiment_id) == "stopping"
    assert "stop failed: FisError" in stdout
    # The template is still removed: the stuck run is FIS's to finish, or the lever's.
    assert _activities(journal, "rollbacks") == [("disable-experiment", "succeeded")]


def test_an_abort_if_breach_sends_stop_experiment_from_the_watch(endpoint: str, tmp_path: Path) -> None:
    hold_experiments_running(endpoint, polls=10)
    with app_server(HEALTHY) as server:
        code, journal, _, stderr = _run(
            endpoint,
            FisStack(endpoint, server, during=FAILING),
            server,
            tmp_path,
            "--during",
            "5s",
            "--abort-if",
            "success<90%/1s",
        )

    assert code == ExitCode.ABORTED, stderr
    experiment_id = journal["fis"]["fisExperimentId"]
    abort = journal["abort"]
    assert abort["condition"] == "success<90%/1s" and abort["halt_error"] is None
    assert abort["halt"] == {"object": f"FIS experiment {experiment_id}", "request": "StopExperiment"}
    assert abort["breach_to_halt_s"] is not None and abort["breach_to_halt_s"] >= 0
    assert journal["fis"]["stopReason"].startswith("abort: success<90%/1s held")
    assert journal["fis"]["finalState"] == "stopped" == _moto_state(endpoint, experiment_id)


def test_ctrl_c_during_the_experiment_stops_it_then_disables_and_exits_130(endpoint: str, tmp_path: Path) -> None:
    hold_experiments_running(endpoint, polls=10)

    def ctrl_c_during(label: str) -> None:
        if label == "during":
            raise KeyboardInterrupt

    with app_server(HEALTHY) as server:
        code, journal, _, stderr = _run(
            endpoint,
            FisStack(endpoint, server),
            server,
            tmp_path,
            "--during",
            "5s",
            display=Notes(on_progress=ctrl_c_during),
        )

    assert code == ExitCode.INTERRUPTED, stderr
    fis = journal["fis"]
    assert fis["stopReason"] == "run interrupted: ProbeInterrupted" and fis["finalState"] == "stopped"
    assert _moto_state(endpoint, fis["fisExperimentId"]) == "stopped"
    assert journal["status"] == "interrupted"
    assert _activities(journal, "rollbacks") == [
        ("stop-fis-experiment", "succeeded"),
        ("disable-experiment", "succeeded"),
    ]


def test_a_failed_run_whose_fis_stop_does_not_finish_is_a_failed_rollback_naming_the_halt(
    endpoint: str, tmp_path: Path
) -> None:
    hold_experiments_running(endpoint, polls=10**6)  # pending, and once stopped, stopping: for ever

    def fail_during(label: str) -> None:
        if label == "during":
            raise RuntimeError("the probe broke")

    with app_server(HEALTHY) as server:
        code, journal, _, stderr = _run(
            endpoint,
            FisStack(endpoint, server),
            server,
            tmp_path,
            "--during",
            "5s",
            display=Notes(on_progress=fail_during),
            stop_deadline_s=0.3,
        )

    assert code == ExitCode.ROLLBACK_FAILED, stderr
    experiment_id = journal["fis"]["fisExperimentId"]
    [line] = stderr.splitlines()
    assert line.startswith(f"RollbackFailed: could not stop FIS experiment {experiment_id} (FisError: ")
    assert line.endswith("it may still be running: chaoslab halt --stack test --fis-safety-lever")
    assert _moto_state(endpoint, experiment_id) == "stopping"
    # The template is still removed: the stuck run is FIS's to finish, or the lever's.
    assert _activities(journal, "rollbacks") == [("stop-fis-experiment", "failed"), ("disable-experiment", "succeeded")]


def test_abort_on_alarm_for_a_chaos_mesh_entry_is_refused_naming_the_option(endpoint: str, tmp_path: Path) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    stack = FakeStack({})
    env = Environment(
        stdout=stdout,
        stderr=stderr,
        stderr_isatty=False,
        connect_stack=lambda name, project_dir: stack,
    )
    code = main(
        ["run", "basic-pod-kill", "--stack", "test", "--project-dir", str(PROJECT_DIR), "--abort-on-alarm"], env
    )
    assert code == ExitCode.USAGE
    assert stderr.getvalue().startswith("UsageError: --abort-on-alarm: basic-pod-kill runs through Chaos Mesh")
    assert stack.calls == []


# The in-cluster prober's figures in CloudWatch: published with the prober's own metric_data, into moto.

TARGET = frontend_url("chaos-sandbox", "/api/")  # the prober's target for the default config


def _publish(endpoint: str, stack: str, figures: list[IntervalFigures]) -> None:
    cloudwatch = aws_client("cloudwatch", endpoint)
    for interval in figures:
        cloudwatch.put_metric_data(
            Namespace=cloudwatch_namespace(stack), MetricData=metric_data(interval, stack, TARGET)
        )


def _grid(moment: datetime) -> float:
    return moment.timestamp() - moment.timestamp() % PUBLISH_INTERVAL_S


def _interval(started_at: float, requests: int, ok: int, p95_ms: float, http_5xx: int = 0) -> IntervalFigures:
    return IntervalFigures(
        started_at=started_at,
        requests=requests,
        ok=ok,
        not_sent=0,
        latency_ms={50: p95_ms / 2, 95: p95_ms, 99: p95_ms * 2},
        errors={kind: http_5xx if kind is ErrorKind.HTTP_5XX else 0 for kind in ErrorKind},
    )


def test_run_judges_the_phases_on_the_in_cluster_figures_from_cloudwatch(endpoint: str, tmp_path: Path) -> None:
    hold_experiments_running(endpoint, polls=1)
    stack = FisStack(endpoint)
    stack.name = "cw-run"
    now = _grid(datetime.now(UTC))
    # Ten healthy intervals around now: whichever the phases overlap, each is 100 requests, all ok.
    figures = [_interval(now + PUBLISH_INTERVAL_S * offset, 100, 100, 40.0) for offset in range(-1, 9)]
    _publish(endpoint, stack.name, figures)
    stdout, stderr = io.StringIO(), io.StringIO()
    env = Environment(
        stdout=stdout,
        stderr=stderr,
        stderr_isatty=False,
        connect_stack=lambda name, project_dir: stack,
        connect_cluster=lambda access: pytest.fail("no watcher"),
        connect_aws=lambda service, region: aws_client(service, endpoint),
        aws_timing=AwsTiming(poll_s=POLL_S, stop_deadline_s=5, metrics_lag_s=0),
        display=Notes(),
    )
    # No --url: from CloudWatch, run sends no request and opens no port-forward.
    code = main(
        [
            "run",
            ENTRY,
            "--stack",
            stack.name,
            "--project-dir",
            str(PROJECT_DIR),
            "--samples-from",
            "cloudwatch",
            "--baseline",
            "500ms",
            "--during",
            "500ms",
            "--after",
            "500ms",
            "--out",
            str(tmp_path),
        ],
        env,
    )

    assert code == ExitCode.OK, stderr.getvalue()
    journal = json.loads((tmp_path / JOURNAL_FILE).read_text())
    assert journal["experiment"]["samples_from"] == "cloudwatch" and journal["experiment"]["region"] == REGION
    for phase in ("baseline", "during", "after"):
        record = next(record for record in journal["run"] if record["activity"]["name"] == f"probe-{phase}")
        written = json.loads((tmp_path / record["output"]["cloudwatch"]).read_text())
        assert written["dimensions"] == {"Stack": stack.name, "Target": TARGET}
        read = written["intervals"]
        assert read and all(interval["requests"] == 100 and interval["success_percent"] == 100 for interval in read)
        summary = record["output"]["summary"]
        assert summary["scheduled"] == 100 * len(read) and summary["ok"] == summary["scheduled"]
        assert summary["latency_ms"]["p95"] == 40.0 and summary["latency_ms"]["max"] is None
    assert journal["steady_states"]["during"]["met"] is True


def test_report_reads_the_in_cluster_series_over_the_run_and_overlays_it(endpoint: str, tmp_path: Path) -> None:
    hold_experiments_running(endpoint, polls=1)
    with app_server(HEALTHY) as server:
        stack = FisStack(endpoint, server)
        stack.name = "cw-report"
        code, journal, _, stderr = _run(endpoint, stack, server, tmp_path, "--during", "500ms")
    assert code == ExitCode.OK, stderr
    before = (tmp_path / CHART_FILE).read_bytes()
    start = _grid(datetime.fromisoformat(journal["start"].replace("Z", "+00:00")))
    # The interval the run began in was failing; the healthy ones before the run and long after it are not read.
    figures = [
        _interval(start - PUBLISH_INTERVAL_S, 50, 50, 30.0),
        _interval(start, 50, 40, 900.0, http_5xx=10),
        _interval(start + 60 * PUBLISH_INTERVAL_S, 50, 50, 30.0),
    ]
    _publish(endpoint, stack.name, figures)
    stdout, stderr_io = io.StringIO(), io.StringIO()
    env = Environment(
        stdout=stdout,
        stderr=stderr_io,
        stderr_isatty=False,
        connect_aws=lambda service, region: aws_client(service, endpoint),
    )

    assert main(["report", str(tmp_path), "--cloudwatch"], env) == ExitCode.OK, stderr_io.getvalue()

    written = json.loads((tmp_path / CLOUDWATCH_FILE).read_text())
    assert written["region"] == REGION and written["namespace"] == cloudwatch_namespace(stack.name)
    assert [
        (interval["requests"], interval["success_percent"], interval["latency_ms"]["p95"], interval["errors"])
        for interval in written["intervals"]
    ] == [(50, 80.0, 900.0, {"http_5xx": 10})]
    chart = (tmp_path / CHART_FILE).read_bytes()
    assert_real_png(chart)
    assert chart != before  # the in-cluster series and the window are drawn on it

    # A run on a stack without AWS records no region: nothing to read, said before any call.
    journal["experiment"]["region"] = None
    (tmp_path / JOURNAL_FILE).write_text(json.dumps(journal))
    env.connect_aws = lambda service, region: pytest.fail("no AWS call")
    assert main(["report", str(tmp_path), "--cloudwatch"], env) == ExitCode.USAGE
    assert stderr_io.getvalue().startswith(f"UsageError: --cloudwatch: {tmp_path / JOURNAL_FILE} records no AWS region")


def test_samples_from_cloudwatch_with_abort_if_is_refused_naming_both(tmp_path: Path) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    stack = FakeStack({})
    env = Environment(
        stdout=stdout,
        stderr=stderr,
        stderr_isatty=False,
        connect_stack=lambda name, project_dir: stack,
    )
    code = main(
        [
            "run",
            ENTRY,
            "--stack",
            "test",
            "--project-dir",
            str(PROJECT_DIR),
            "--samples-from",
            "cloudwatch",
            "--abort-if",
            "success<90%/10s",
        ],
        env,
    )
    assert code == ExitCode.USAGE
    assert stderr.getvalue().startswith(
        "UsageError: --abort-if judges run's own probe, which --samples-from cloudwatch replaces"
    )
    assert stack.calls == []


def test_dry_run_of_a_fis_entry_prints_the_fis_steps_and_changes_nothing(tmp_path: Path) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    stack = FakeStack({})
    env = Environment(
        stdout=stdout,
        stderr=stderr,
        stderr_isatty=False,
        connect_stack=lambda name, project_dir: stack,
        connect_aws=lambda service, region: pytest.fail("no AWS call"),
    )
    code = main(
        ["run", "zone-outage", "--stack", "test", "--project-dir", str(PROJECT_DIR), "--abort-on-alarm", "--dry-run"],
        env,
    )
    assert code == ExitCode.OK, stderr.getvalue()
    text = stdout.getvalue()
    assert text.startswith("experiment zone-outage on stack test (fis): ")
    assert "3. start the stack's template (fisTemplateIds output) with StartExperiment and follow its states" in text
    assert "abort if a steady-state alarm in ALARM: StopExperiment at once, wait for `stopped`" in text
    assert stack.calls == []


def test_a_run_fis_stopped_itself_is_recorded_as_an_alarm_abort(endpoint: str, tmp_path: Path) -> None:
    """FIS's own stop condition (the same alarms) stopped the run before chaoslab looked: moto's StopExperiment
    from outside `run` stands in for it, since moto does not evaluate stop conditions."""
    hold_experiments_running(endpoint, polls=10)
    stopped = threading.Event()

    def fis_stops_it(note: str) -> None:
        if ": running" in note and not stopped.is_set():
            stopped.set()
            aws_client("fis", endpoint).stop_experiment(id=note.split()[1].rstrip(":"))

    with app_server(HEALTHY) as server:
        code, journal, _, stderr = _run(
            endpoint,
            FisStack(endpoint, server),
            server,
            tmp_path,
            "--during",
            "1s",
            display=Notes(on_note=fis_stops_it),
        )

    assert code == ExitCode.ABORTED, stderr
    assert journal["fis"]["finalState"] == "stopped" and journal["fis"]["stopReason"] is None
    abort = journal["abort"]
    assert abort["source"] == "alarm" and abort["halt"]["request"] == "FIS's own stop"
    assert abort["condition"].startswith("FIS stop condition: ")
