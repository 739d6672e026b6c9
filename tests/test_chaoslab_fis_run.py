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
from pathlib import Path
from typing import Any

import pytest

from chaoslab.cli import Environment, main
from chaoslab.display import Progress
from chaoslab.exit_codes import ExitCode
from chaoslab.journal import JOURNAL_FILE
from chaoslab.report import REPORT_FILE
from chaoslab.run import FisTiming
from chaoslab_fakes import FakeStack
from chaoslab_servers import Answer, AppServer, app_server
from experiments.fis import STACK_TAG
from fis_servers import ACCOUNT, REGION, client, fis_template, hold_experiments_running, moto_server

PROJECT_DIR = Path(__file__).resolve().parent.parent
ENTRY = "node-group-loss"
ENTRY_KEY = f"chaos-lab:experiments.{ENTRY}"
RATE = 20.0
POLL_S = 0.05
ALARMS = {"successRate": "test-steady-state-success-rate", "p95Latency": "test-steady-state-p95-latency",
          "broken": "test-steady-state-broken"}
HEALTHY = Answer()
FAILING = Answer(status=503)


def alarm_arn(name: str) -> str:
    return f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        cloudwatch = client("cloudwatch", url)
        for name in ALARMS.values():
            cloudwatch.put_metric_alarm(AlarmName=name, MetricName="SuccessRate", Namespace="ChaosLab/SteadyState/test",
                                        Statistic="Average", Period=10, EvaluationPeriods=3, Threshold=99,
                                        ComparisonOperator="LessThanThreshold", TreatMissingData="breaching")
        yield url


@pytest.fixture(autouse=True)
def alarms_ok(endpoint: str) -> None:
    cloudwatch = client("cloudwatch", endpoint)
    for name in ALARMS.values():
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="test start")


class FisStack(FakeStack):
    """A stack whose `up` declares a template per enabled FIS entry in moto and names it in fisTemplateIds."""

    def __init__(self, endpoint: str, server: AppServer | None = None, during: Answer = HEALTHY) -> None:
        super().__init__({}, on_up=self._declare)
        self.fis = client("fis", endpoint)
        self.templates: dict[str, str] = {}
        self.declared: dict[str, str] = {}  # every template any `up` declared
        self.server = server
        self.during = during

    def _declare(self, enabled: set[str]) -> None:
        self.templates = {name: self.templates.get(name) or fis_template(self.fis, self.name, name) for name in enabled}
        self.declared.update(self.templates)
        if self.server is not None:
            self.server.behave(self.during if enabled else HEALTHY)

    def outputs(self) -> dict[str, Any]:
        return {"region": REGION, "fisTemplateIds": dict(self.templates),
                "steadyStateAlarmArns": {key: alarm_arn(name) for key, name in ALARMS.items()}}


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


def _run(endpoint: str, stack: FisStack, server: AppServer, out: Path, *extra: str, display: Notes | None = None,
         stop_deadline_s: float = 5.0) -> tuple[int, dict[str, Any], str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    regions: list[str] = []

    def connect_aws(service: str, region: str) -> Any:
        regions.append(region)
        return client(service, endpoint)

    env = Environment(stdout=stdout, stderr=stderr, stdout_isatty=False, stderr_isatty=False,
                      connect_stack=lambda name, project_dir: stack, connect_cluster=lambda access: pytest.fail("no watcher"),
                      connect_aws=connect_aws, fis_timing=FisTiming(poll_s=POLL_S, stop_deadline_s=stop_deadline_s),
                      display=display or Notes())
    code = main(["run", ENTRY, "--stack", stack.name, "--project-dir", str(PROJECT_DIR), "--url", server.url,
                 "--baseline", "500ms", "--after", "500ms", "--rate", f"{RATE:g}", "--out", str(out), *extra], env)
    assert set(regions) <= {REGION}  # the stack's region output, whatever the shell's default is
    journal = json.loads((out / JOURNAL_FILE).read_text()) if (out / JOURNAL_FILE).is_file() else {}
    return code, journal, stdout.getvalue(), stderr.getvalue()


def _activities(journal: dict[str, Any], part: str = "run") -> list[tuple[str, str]]:
    return [(record["activity"]["name"], record["status"]) for record in journal[part]]


def _moto_state(endpoint: str, experiment_id: str) -> str:
    return client("fis", endpoint).get_experiment(id=experiment_id)["experiment"]["state"]["status"]


def test_a_fis_entry_runs_to_completion_with_its_states_in_the_journal_and_report(endpoint: str, tmp_path: Path) -> None:
    hold_experiments_running(endpoint, polls=1)
    display = Notes()
    with app_server(HEALTHY) as server:
        stack = FisStack(endpoint, server)
        code, journal, stdout, stderr = _run(endpoint, stack, server, tmp_path, "--during", "500ms", "--json", display=display)

    assert code == ExitCode.OK, stderr
    fis = journal["fis"]
    experiment_id = fis["fisExperimentId"]
    assert fis["finalState"] == "completed" and fis["stopReason"] is None and fis["stopRequestedAtSeconds"] is None
    assert [state["status"] for state in fis["states"]] == ["initiating", "running", "completed"]
    assert fis["states"][-1]["actions"] == {"terminate": "completed"}
    # Started from the stack's template, tagged with the stack so `halt` finds it.
    started = client("fis", endpoint).get_experiment(id=experiment_id)["experiment"]
    assert started["experimentTemplateId"] == stack.declared[ENTRY] and started["tags"][STACK_TAG] == stack.name
    # Progress: every state change on the display, as it happened.
    assert [note for note in display.notes if note.startswith("FIS ")] == [
        f"FIS {experiment_id}: initiating (terminate: pending)", f"FIS {experiment_id}: running (terminate: running)",
        f"FIS {experiment_id}: completed (terminate: completed): Experiment completed"]
    assert _activities(journal) == [("probe-baseline", "succeeded"), ("enable-experiment", "succeeded"),
                                    ("start-fis-experiment", "succeeded"), ("probe-during", "succeeded"),
                                    ("disable-experiment", "succeeded"), ("probe-after", "succeeded")]
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
            client("cloudwatch", endpoint).set_alarm_state(AlarmName=ALARMS["successRate"], StateValue="ALARM",
                                                         StateReason="in-cluster prober: success rate below 99 %")

    during_s = 5.0
    with app_server(HEALTHY) as server:
        code, journal, stdout, stderr = _run(endpoint, FisStack(endpoint, server), server, tmp_path, "--during", f"{during_s:g}s",
                                             "--abort-on-alarm", display=Notes(on_note=breach_once_running))

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
    cloudwatch = client("cloudwatch", endpoint)
    cloudwatch.set_alarm_state(AlarmName=ALARMS["p95Latency"], StateValue="ALARM", StateReason="already broken")
    with app_server(HEALTHY) as server:
        code, journal, stdout, stderr = _run(endpoint, FisStack(endpoint, server), server, tmp_path, "--during", "2s",
                                             "--abort-on-alarm", stop_deadline_s=0.3)

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
        code, journal, _, stderr = _run(endpoint, FisStack(endpoint, server, during=FAILING), server, tmp_path,
                                        "--during", "5s", "--abort-if", "success<90%/1s")

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
        code, journal, _, stderr = _run(endpoint, FisStack(endpoint, server), server, tmp_path, "--during", "5s",
                                        display=Notes(on_progress=ctrl_c_during))

    assert code == ExitCode.INTERRUPTED, stderr
    fis = journal["fis"]
    assert fis["stopReason"] == "run interrupted: ProbeInterrupted" and fis["finalState"] == "stopped"
    assert _moto_state(endpoint, fis["fisExperimentId"]) == "stopped"
    assert journal["status"] == "interrupted"
    assert _activities(journal, "rollbacks") == [("stop-fis-experiment", "succeeded"), ("disable-experiment", "succeeded")]


def test_abort_on_alarm_for_a_chaos_mesh_entry_is_refused_naming_the_option(endpoint: str, tmp_path: Path) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    stack = FakeStack({})
    env = Environment(stdout=stdout, stderr=stderr, stdout_isatty=False, stderr_isatty=False,
                      connect_stack=lambda name, project_dir: stack)
    code = main(["run", "basic-pod-kill", "--stack", "test", "--project-dir", str(PROJECT_DIR), "--abort-on-alarm"], env)
    assert code == ExitCode.USAGE
    assert stderr.getvalue().startswith("UsageError: --abort-on-alarm: basic-pod-kill runs through Chaos Mesh")
    assert stack.calls == []
