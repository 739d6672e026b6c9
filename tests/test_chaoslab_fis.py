"""chaoslab.fis against moto's server on loopback: start, follow, stop on a breach and on Ctrl-C, stop
every run of the stack, and the safety lever (against a loopback stand-in: moto has no lever).

What this cannot show: real FIS timings (moto moves a state per poll, see fis_servers), that AWS
honours the stop conditions, and what the actions do to real instances.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chaoslab import fis as fis_ops
from chaoslab.experiments.fis import STACK_TAG
from fis_servers import ACCOUNT, REGION, aws_client, fis_template, hold_experiments_running, lever_server
from moto_cloudwatch import moto_server


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def fis(endpoint: str) -> Any:
    hold_experiments_running(endpoint, polls=1)
    return aws_client("fis", endpoint)


def no_sleep(seconds: float) -> None:
    pass


def test_a_run_is_followed_to_completed_with_each_state_shown(fis: Any) -> None:
    template = fis_template(fis, "dev", "node-group-loss")
    experiment_id = fis_ops.start(fis, template, "dev", "node-group-loss")
    shown: list[fis_ops.Snapshot] = []
    outcome = fis_ops.follow(fis, experiment_id, display=shown.append, should_stop=lambda: None, sleep=no_sleep)
    assert outcome.final_status == "completed" and outcome.stop_reason is None
    # moto moves the run one state per GetExperiment, starting from `pending`, so the first poll sees `initiating`.
    assert [snapshot.status for snapshot in shown] == ["initiating", "running", "completed"]
    assert shown[-1].actions == {"terminate": "completed"}
    assert [snapshot.line() for snapshot in shown] == [
        "initiating (terminate: pending)",
        "running (terminate: running)",
        "completed (terminate: completed): Experiment completed",
    ]
    journal = outcome.to_journal()
    assert journal["fisExperimentId"] == experiment_id and journal["finalState"] == "completed"
    assert fis.get_experiment(id=experiment_id)["experiment"]["tags"][STACK_TAG] == "dev"


def test_a_breach_flipped_with_set_alarm_state_stops_the_run(endpoint: str, fis: Any) -> None:
    hold_experiments_running(endpoint, polls=50)
    cloudwatch = aws_client("cloudwatch", endpoint)
    cloudwatch.put_metric_alarm(
        AlarmName="dev-frontend-errors",
        MetricName="Errors",
        Namespace="ChaosLab",
        Statistic="Sum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    alarm_arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:dev-frontend-errors"
    experiment_id = fis_ops.start(fis, fis_template(fis, "dev", "zone-outage"), "dev", "zone-outage")
    polls = 0

    def should_stop() -> str | None:
        nonlocal polls
        polls += 1
        if polls == 3:
            cloudwatch.set_alarm_state(
                AlarmName="dev-frontend-errors", StateValue="ALARM", StateReason="probe failures"
            )
        return fis_ops.alarm_breach(cloudwatch, [alarm_arn])

    outcome = fis_ops.follow(fis, experiment_id, display=lambda snapshot: None, should_stop=should_stop, sleep=no_sleep)
    assert outcome.stop_reason == "steady-state alarm in ALARM: dev-frontend-errors"
    assert outcome.final_status == "stopped"
    assert fis.get_experiment(id=experiment_id)["experiment"]["state"]["status"] == "stopped"


def test_ctrl_c_stops_the_run_then_propagates(endpoint: str, fis: Any) -> None:
    hold_experiments_running(endpoint, polls=50)
    experiment_id = fis_ops.start(fis, fis_template(fis, "dev", "spot-interruption"), "dev", "spot-interruption")

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fis_ops.follow(fis, experiment_id, display=lambda snapshot: None, should_stop=lambda: None, sleep=interrupted)
    assert fis.get_experiment(id=experiment_id)["experiment"]["state"]["status"] in ("stopping", "stopped")


def test_a_stop_that_never_finishes_is_an_error_naming_the_run(endpoint: str, fis: Any) -> None:
    hold_experiments_running(endpoint, polls=1000)
    experiment_id = fis_ops.start(fis, fis_template(fis, "dev", "node-group-loss"), "dev", "node-group-loss")
    ticks = iter(range(1000))
    with pytest.raises(fis_ops.FisError, match=f"{experiment_id} is still 'stopping' 5s after StopExperiment"):
        fis_ops.stop(fis, experiment_id, deadline_s=5, clock=lambda: float(next(ticks)), sleep=no_sleep)


def test_stop_all_stops_this_stacks_runs_and_leaves_the_others(endpoint: str, fis: Any) -> None:
    hold_experiments_running(endpoint, polls=50)
    ours = [
        fis_ops.start(fis, fis_template(fis, "game", name), "game", name) for name in ("zone-outage", "node-group-loss")
    ]
    theirs = fis_ops.start(fis, fis_template(fis, "other", "zone-outage"), "other", "zone-outage")
    hold_experiments_running(endpoint, polls=1)
    stopped = fis_ops.stop_all(fis, "game", sleep=no_sleep)
    assert stopped == dict.fromkeys(ours, "stopped")
    hold_experiments_running(endpoint, polls=50)
    assert fis.get_experiment(id=theirs)["experiment"]["state"]["status"] != "stopped"


def test_stop_all_also_finds_untagged_runs_of_the_stacks_templates(endpoint: str, fis: Any) -> None:
    hold_experiments_running(endpoint, polls=50)
    template = fis_template(fis, "console", "zone-outage")
    started_by_hand = fis.start_experiment(experimentTemplateId=template)["experiment"]["id"]
    hold_experiments_running(endpoint, polls=1)
    assert fis_ops.stop_all(fis, "console-stack", [template], sleep=no_sleep) == {started_by_hand: "stopped"}


def test_the_lever_is_engaged_for_the_stack_and_released_only_by_it() -> None:
    with lever_server() as (url, handler):
        lever = aws_client("fis", url)
        assert fis_ops.engage_lever(lever, "dev") is True
        assert handler.calls[-1] == (
            "PATCH",
            "/safetyLevers/default/state",
            {"state": {"status": "engaged", "reason": "chaos-lab stack dev (chaoslab halt --fis-safety-lever)"}},
        )
        with pytest.raises(fis_ops.FisError, match="engaged by someone else"):
            fis_ops.disengage_lever(lever, "prod")
        assert handler.state["status"] == "engaged"
        assert fis_ops.disengage_lever(lever, "dev") is True
        assert handler.state["status"] == "disengaged"


def test_a_lever_engaged_by_someone_else_is_not_claimed() -> None:
    with lever_server("engaged", "incident 4711") as (url, handler):
        lever = aws_client("fis", url)
        assert fis_ops.engage_lever(lever, "dev") is False
        assert [call[0] for call in handler.calls] == ["GET"]
        with pytest.raises(fis_ops.FisError, match="incident 4711"):
            fis_ops.disengage_lever(lever, "dev")
        assert handler.state == {"status": "engaged", "reason": "incident 4711"}
