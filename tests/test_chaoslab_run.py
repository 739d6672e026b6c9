"""`run`'s orchestration through fakes of its two interfaces (FakeStack, FakeWatcher) and a real
local app server that the fake stack makes misbehave while the experiment is enabled, as the chaos
would. Phases are half a second, so each run takes about two.

Not covered: the Pulumi Automation API and a real `up` (tests/test_chaoslab_stack.py, where the
pulumi CLI exists), Chaos Mesh itself (test_chaoslab_cluster.py covers the watcher on a fake API
server), kubectl port-forward (test_chaoslab_portforward.py), and a second Ctrl-C reaching the
pulumi CLI during the rollback.
"""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaoslab.cli import Environment, main
from chaoslab.display import NullDisplay
from chaoslab.exit_codes import ExitCode
from chaoslab.experiments.durations import parse_duration
from chaoslab.journal import JOURNAL_FILE
from chaoslab.plan import RunOptions, make_plan
from chaoslab.report import CHART_FILE, REPORT_FILE, SUMMARIES_FILE
from chaoslab.run import execute
from chaoslab_fakes import CtrlCDisplay, FakeStack, FakeWatcher, press_ctrl_c
from chaoslab_png import assert_real_png
from chaoslab_servers import Answer, AppServer, app_server

PROJECT_DIR = Path(__file__).resolve().parent.parent
EXPERIMENT = "database-partition"
RATE = 20.0
PHASE_S = 0.5
PHASE_REQUESTS = math.floor(RATE * PHASE_S)
TIMEOUT_S = 2.0
ENABLED_KEY = f"chaos-lab:experiments.{EXPERIMENT}.enabled"
ENTRY_KEY = f"chaos-lab:experiments.{EXPERIMENT}"
# The backend's answer while Redis is partitioned away: a 503, after a short wait.
PARTITIONED = Answer(status=503, delay_s=0.05)
HEALTHY = Answer()


@pytest.fixture
def server() -> Iterator[AppServer]:
    with app_server(HEALTHY) as server:
        yield server


def _partitioning(server: AppServer) -> Any:
    """An `up` hook: the app answers as under a Redis partition while the experiment is enabled."""
    return lambda enabled: server.behave(PARTITIONED if EXPERIMENT in enabled else HEALTHY)


def _journal(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / JOURNAL_FILE).read_text())


def _activities(journal: dict[str, Any], part: str = "run") -> list[tuple[str, str]]:
    return [(record["activity"]["name"], record["status"]) for record in journal[part]]


def _execute(stack: FakeStack, watcher: FakeWatcher, server: AppServer, run_dir: Path, display: Any = None) -> Any:
    options = RunOptions(
        url=server.url,
        baseline_s=PHASE_S,
        during_s=PHASE_S,
        after_s=PHASE_S,
        rate=RATE,
        timeout_s=TIMEOUT_S,
        out_dir=run_dir,
    )
    plan = make_plan(EXPERIMENT, stack.name, PROJECT_DIR, stack.get_all_config(), options)
    return execute(plan, stack, watcher, server.url, display or NullDisplay())


def test_a_run_that_holds_its_hypothesis(server: AppServer, tmp_path: Path) -> None:
    stack = FakeStack({}, on_up=_partitioning(server))
    watcher = FakeWatcher()

    journal = _execute(stack, watcher, server, tmp_path).data

    assert journal["status"] == "completed" and journal["deviated"] is False
    assert {when: state["met"] for when, state in journal["steady_states"].items()} == {
        "before": True,
        "during": True,
        "after": True,
    }
    assert _activities(journal) == [
        ("probe-baseline", "succeeded"),
        ("enable-experiment", "succeeded"),
        ("wait-injected", "succeeded"),
        ("probe-during", "succeeded"),
        ("disable-experiment", "succeeded"),
        ("wait-recovered", "succeeded"),
        ("probe-after", "succeeded"),
    ]
    assert journal["rollbacks"] == []
    during = journal["run"][3]["output"]["summary"]
    assert during["errors"] == {"http_5xx": PHASE_REQUESTS}  # the probe really saw the chaos
    # The entry did not exist before: the run leaves the stack's config as it found it.
    assert stack.calls == [
        ("set_config", ENABLED_KEY, "true", True),
        ("up", f"chaoslab run: enable {EXPERIMENT}"),
        ("remove_config", ENTRY_KEY, True),
        ("up", f"chaoslab run: disable {EXPERIMENT}"),
    ]
    assert json.loads(stack.config["chaos-lab:experiments"]) == {}
    assert [call for call, _ in watcher.calls] == ["wait_injected", "wait_recovered"]
    for phase in ("baseline", "during", "after"):
        assert len((tmp_path / f"{phase}.samples.jsonl").read_text().splitlines()) == PHASE_REQUESTS


def test_an_entry_the_stack_had_is_switched_back_off_not_removed(server: AppServer, tmp_path: Path) -> None:
    entry = {"enabled": False, "duration": "90s"}
    stack = FakeStack({"chaos-lab:experiments": json.dumps({EXPERIMENT: entry})}, on_up=_partitioning(server))

    _execute(stack, FakeWatcher(), server, tmp_path)

    assert ("set_config", ENABLED_KEY, "false", True) in stack.calls
    assert json.loads(stack.config["chaos-lab:experiments"]) == {EXPERIMENT: entry}


def test_a_chaos_that_changes_nothing_deviates(server: AppServer, tmp_path: Path) -> None:
    stack = FakeStack({})  # `up` leaves the app healthy: the partition did not take

    journal = _execute(stack, FakeWatcher(), server, tmp_path).data

    assert journal["status"] == "completed" and journal["deviated"] is True
    during = journal["steady_states"]["during"]
    assert during["met"] is False
    assert during["checks"][0]["detail"] == f"others: 200 x{PHASE_REQUESTS}"


def test_an_unhealthy_baseline_skips_the_chaos(server: AppServer, tmp_path: Path) -> None:
    server.behave(Answer(status=500))
    stack = FakeStack({})

    journal = _execute(stack, FakeWatcher(), server, tmp_path).data

    assert journal["status"] == "failed"
    assert journal["steady_states"]["before"]["met"] is False
    assert _activities(journal) == [("probe-baseline", "succeeded")]
    assert stack.calls == []


def test_a_failed_up_is_rolled_back_and_re_raised(server: AppServer, tmp_path: Path) -> None:
    stack = FakeStack({}, failing_up_calls=frozenset({1}))

    with pytest.raises(RuntimeError, match="pulumi up #1 failed"):
        _execute(stack, FakeWatcher(), server, tmp_path)

    journal = _journal(tmp_path)
    assert (
        journal["status"] == "aborted" and journal["error"] == "RuntimeError: pulumi up #1 failed: error: update failed"
    )
    assert _activities(journal)[-1] == ("enable-experiment", "failed")
    assert _activities(journal, "rollbacks") == [("disable-experiment", "succeeded")]
    assert stack.calls[-2:] == [("remove_config", ENTRY_KEY, True), ("up", f"chaoslab run: disable {EXPERIMENT}")]


def test_ctrl_c_during_the_baseline_changes_nothing_and_keeps_the_samples(server: AppServer, tmp_path: Path) -> None:
    stack = FakeStack({})
    baseline_s = 2.0  # Ctrl-C comes at the first progress update, 0.5 s in

    options = RunOptions(url=server.url, baseline_s=baseline_s, rate=RATE, out_dir=tmp_path)
    plan = make_plan(EXPERIMENT, stack.name, PROJECT_DIR, {}, options)
    with pytest.raises(KeyboardInterrupt):
        execute(plan, stack, FakeWatcher(), server.url, CtrlCDisplay())

    journal = _journal(tmp_path)
    assert journal["status"] == "interrupted"
    assert _activities(journal) == [("probe-baseline", "interrupted")]
    kept = len((tmp_path / "baseline.samples.jsonl").read_text().splitlines())
    assert 0 < kept < math.floor(RATE * baseline_s)
    assert journal["run"][0]["output"]["summary"]["scheduled"] == kept
    assert stack.calls == []


def _cli_run(
    stack: FakeStack,
    watcher: FakeWatcher,
    server: AppServer,
    run_dir: Path,
    *extra: str,
    url: str | None = None,
    display: Any = None,
) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    env = Environment(
        stdout=stdout,
        stderr=stderr,
        stderr_isatty=False,
        connect_stack=lambda name, project_dir: stack,
        connect_cluster=lambda access: watcher,
        display=display or NullDisplay(),
    )
    code = main(
        [
            "run",
            EXPERIMENT,
            "--stack",
            stack.name,
            "--project-dir",
            str(PROJECT_DIR),
            "--url",
            url or server.url,
            "--baseline",
            "500ms",
            "--during",
            "500ms",
            "--after",
            "500ms",
            "--rate",
            f"{RATE:g}",
            "--out",
            str(run_dir),
            *extra,
        ],
        env,
    )
    return code, stdout.getvalue(), stderr.getvalue()


def test_ctrl_c_while_waiting_for_injection_disables_reports_and_exits_130(server: AppServer, tmp_path: Path) -> None:
    stack = FakeStack({}, on_up=_partitioning(server))

    code, stdout, stderr = _cli_run(stack, FakeWatcher(on_wait_injected=press_ctrl_c), server, tmp_path, "--json")

    assert code == ExitCode.INTERRUPTED
    assert stderr.splitlines()[-1] == "Interrupted: stopped by Ctrl-C"
    journal = _journal(tmp_path)
    assert journal["status"] == "interrupted"
    assert _activities(journal)[-1] == ("wait-injected", "interrupted")
    assert _activities(journal, "rollbacks") == [("disable-experiment", "succeeded")]
    assert stack.calls[-2:] == [("remove_config", ENTRY_KEY, True), ("up", f"chaoslab run: disable {EXPERIMENT}")]
    # The partial report: every file, the one JSON object on stdout, the baseline judged and nothing after.
    assert_real_png((tmp_path / CHART_FILE).read_bytes())
    summaries = json.loads(stdout)
    assert summaries == {**json.loads((tmp_path / SUMMARIES_FILE).read_text()), "run_dir": str(tmp_path)}
    assert summaries["status"] == "interrupted" and summaries["steady_states"]["during"] is None
    assert "the run was interrupted" in (tmp_path / REPORT_FILE).read_text()


def test_a_rollback_that_fails_exits_rollback_failed_naming_the_commands_to_finish_by_hand(
    server: AppServer, tmp_path: Path
) -> None:
    stack = FakeStack({}, failing_up_calls=frozenset({2}))  # enabling works, disabling does not

    code, _, stderr = _cli_run(stack, FakeWatcher(on_wait_injected=press_ctrl_c), server, tmp_path)

    assert code == ExitCode.ROLLBACK_FAILED
    [line] = stderr.splitlines()
    assert line.startswith(f"RollbackFailed: could not disable {EXPERIMENT} (RuntimeError: pulumi up #2 failed")
    assert line.endswith(
        f"pulumi -C {PROJECT_DIR} -s test config rm --path {ENTRY_KEY} && pulumi -C {PROJECT_DIR} -s test up"
    )
    assert _activities(_journal(tmp_path), "rollbacks") == [("disable-experiment", "failed")]


@pytest.mark.parametrize(("on_up", "code"), [(True, ExitCode.OK), (False, ExitCode.HYPOTHESIS_NOT_MET)])
def test_the_exit_code_says_whether_the_hypothesis_held(
    server: AppServer, tmp_path: Path, on_up: bool, code: ExitCode
) -> None:
    stack = FakeStack({}, on_up=_partitioning(server)) if on_up else FakeStack({})

    result, stdout, _ = _cli_run(stack, FakeWatcher(), server, tmp_path)

    assert result == code
    assert stdout.startswith(f"{EXPERIMENT} on stack test: completed")


def test_the_during_probe_is_cut_to_what_is_left_of_the_chaos(server: AppServer, tmp_path: Path) -> None:
    chaos = "1s"
    stack = FakeStack(
        {"chaos-lab:experiments": json.dumps({EXPERIMENT: {"enabled": False, "duration": chaos}})},
        on_up=_partitioning(server),
    )
    options = RunOptions(url=server.url, baseline_s=PHASE_S, after_s=PHASE_S, rate=RATE, out_dir=tmp_path)
    plan = make_plan(EXPERIMENT, stack.name, PROJECT_DIR, stack.get_all_config(), options)

    injection_s = 0.3
    watcher = FakeWatcher(on_wait_injected=lambda: time.sleep(injection_s))

    journal = execute(plan, stack, watcher, server.url, NullDisplay()).data

    assert plan.during_s == plan.chaos_s == parse_duration(chaos)  # the default: the whole chaos
    # Less the time Chaos Mesh took to inject: the probe stops when the chaos does.
    assert 0 < journal["run"][3]["output"]["planned_s"] <= plan.chaos_s - injection_s


def test_dry_run_prints_the_plan_and_changes_nothing(server: AppServer, tmp_path: Path) -> None:
    stack = FakeStack({})
    watcher = FakeWatcher()

    code, stdout, _ = _cli_run(stack, watcher, server, tmp_path, "--dry-run")

    assert code == ExitCode.OK
    assert f"2. set {ENABLED_KEY} true and run `pulumi up`" in stdout
    assert stack.calls == [] and watcher.calls == []
    assert not (tmp_path / JOURNAL_FILE).exists()


class NotingDisplay(NullDisplay):
    """Keeps every note the run makes, as the terminal would show them."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        self.notes.append(text)


def test_a_run_writes_no_credential_of_its_url_and_only_private_files(server: AppServer, tmp_path: Path) -> None:
    user, password, token = "operator", "pa55-word", "t0ken-value"
    url = server.url.replace("http://", f"http://{user}:{password}@") + f"?api_key={token}"
    run_dir = tmp_path / "run"
    display = NotingDisplay()

    code, stdout, stderr = _cli_run(
        FakeStack({}, on_up=_partitioning(server)), FakeWatcher(), server, run_dir, "--json", url=url, display=display
    )

    assert code == ExitCode.OK, stderr
    files = {path.name: path for path in run_dir.iterdir()}
    assert {JOURNAL_FILE, REPORT_FILE, SUMMARIES_FILE, CHART_FILE, "baseline.samples.jsonl"} <= set(files)
    assert _journal(run_dir)["experiment"]["probe"]["url"] == url.replace(f"{user}:{password}", "***").replace(
        token, "***"
    )
    written = (
        stdout
        + stderr
        + "\n".join(display.notes)
        + "".join(path.read_bytes().decode(errors="replace") for path in files.values())
    )
    for secret in (user, password, token):
        assert secret not in written
    assert run_dir.stat().st_mode & 0o777 == 0o700
    assert {name: path.stat().st_mode & 0o777 for name, path in files.items()} == dict.fromkeys(files, 384)
