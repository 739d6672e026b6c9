"""Breach -> StopExperiment: how long `chaoslab` takes to send the stop once a steady-state alarm is in ALARM.

Runs against moto's server on loopback (FIS and CloudWatch); nothing here reaches AWS. Each round starts
an experiment, flips the alarm with SetAlarmState, and measures from the moment the flip returned to the
moment chaoslab.fis sent StopExperiment. The figure is chaoslab's own share: one poll interval at worst
plus the DescribeAlarms and StopExperiment calls. The alarm's own detection (period x evaluation
periods) comes before it, and FIS's own reaction to its stop condition is not documented by AWS
(https://docs.aws.amazon.com/fis/latest/userguide/stop-conditions.html), so it is not measured here.

Two modes:
- `follow` (the default): chaoslab.fis.follow alone, as above.
- `run`: the whole `chaoslab run node-group-loss --abort-on-alarm` through its CLI entry (main(argv, env)),
  with a FakeStack whose `up` declares the template in moto and a local app server for the probe. The
  alarm is flipped at a random moment once the experiment is running; StopExperiment is timed by a
  botocore `before-call` hook on the run's own FIS client, so the figure includes the follower thread,
  DescribeAlarms and everything `run` does between them.

Usage: venv/bin/python benchmarks/fis_stop_bench.py [rounds] [poll seconds] [follow|run]
"""

from __future__ import annotations

import logging
import random
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent.parent / "tests")]

import io
import tempfile

from chaoslab import fis as fis_ops
from chaoslab.cli import Environment, main
from chaoslab.display import NullDisplay
from chaoslab.exit_codes import ExitCode
from chaoslab.run import AwsTiming
from chaoslab_servers import app_server
from fis_servers import (
    ACCOUNT,
    ALARMS,
    REGION,
    FisStack,
    aws_client,
    fis_template,
    hold_experiments_running,
    moto_server,
    put_steady_state_alarms,
)

ALARM = "bench-frontend-errors"


def one_round(endpoint: str, fis, cloudwatch, index: int, poll_s: float) -> float:
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="reset")
    experiment_id = fis_ops.start(fis, fis_template(fis, "bench", f"round-{index}"), "bench", f"round-{index}")
    breached_at: list[float] = []
    stop_sent_at: list[float] = []
    original_stop = fis.stop_experiment

    def timed_stop(**kwargs):
        stop_sent_at.append(time.perf_counter())
        return original_stop(**kwargs)

    fis.stop_experiment = timed_stop

    def breach() -> None:
        # Its own client: botocore clients are not to be shared across threads.
        aws_client("cloudwatch", endpoint).set_alarm_state(
            AlarmName=ALARM, StateValue="ALARM", StateReason="bench breach"
        )
        breached_at.append(time.perf_counter())

    # The breach lands anywhere within a poll interval, as a real one would.
    timer = threading.Timer(poll_s * (1 + random.random()), breach)
    timer.start()
    fis_ops.follow(
        fis,
        experiment_id,
        display=lambda snapshot: None,
        poll_s=poll_s,
        should_stop=lambda: fis_ops.alarm_breach(cloudwatch, [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{ALARM}"]),
    )
    timer.join()
    fis.stop_experiment = original_stop
    return stop_sent_at[0] - breached_at[0]


class _BreachWhenRunning(NullDisplay):
    """Flips the stack's success-rate alarm at a random moment within a poll once the experiment is running."""

    def __init__(self, endpoint: str, poll_s: float, breached_at: list[float]) -> None:
        self.endpoint, self.poll_s, self.breached_at = endpoint, poll_s, breached_at
        self.timer: threading.Timer | None = None

    def note(self, text: str) -> None:
        if ": running" in text and self.timer is None:
            self.timer = threading.Timer(self.poll_s * random.random(), self._breach)
            self.timer.start()

    def _breach(self) -> None:
        aws_client("cloudwatch", self.endpoint).set_alarm_state(
            AlarmName=ALARMS["successRate"], StateValue="ALARM", StateReason="bench breach"
        )
        self.breached_at.append(time.perf_counter())


def one_run(endpoint: str, index: int, poll_s: float) -> float:
    """One `chaoslab run --abort-on-alarm` through main(); returns breach -> StopExperiment sent, in seconds."""
    aws_client("cloudwatch", endpoint).set_alarm_state(
        AlarmName=ALARMS["successRate"], StateValue="OK", StateReason="reset"
    )
    breached_at: list[float] = []
    stop_sent_at: list[float] = []

    def connect_aws(service: str, region: str):
        made = aws_client(service, endpoint)
        if service == "fis":
            made.meta.events.register(
                "before-call.fis.StopExperiment", lambda **kwargs: stop_sent_at.append(time.perf_counter())
            )
        return made

    display = _BreachWhenRunning(endpoint, poll_s, breached_at)
    with app_server() as server, tempfile.TemporaryDirectory() as out:
        stack = FisStack(endpoint, server)
        stack.name = f"bench-{index}"
        env = Environment(
            stdout=io.StringIO(),
            stderr=io.StringIO(),
            stderr_isatty=False,
            connect_stack=lambda name, project_dir: stack,
            connect_aws=connect_aws,
            aws_timing=AwsTiming(poll_s=poll_s),
            display=display,
        )
        code = main(
            [
                "run",
                "node-group-loss",
                "--stack",
                stack.name,
                "--project-dir",
                str(Path(__file__).resolve().parent.parent),
                "--url",
                server.url,
                "--baseline",
                "500ms",
                "--during",
                "30s",
                "--after",
                "500ms",
                "--rate",
                "20",
                "--abort-on-alarm",
                "--out",
                out,
            ],
            env,
        )
    if display.timer is not None:
        display.timer.join()
    assert code == ExitCode.ABORTED, f"round {index}: exit {code}: {env.stderr.getvalue()}"
    return stop_sent_at[0] - breached_at[0]


def main_bench() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    poll_s = float(sys.argv[2]) if len(sys.argv) > 2 else fis_ops.DEFAULT_POLL_S
    mode = sys.argv[3] if len(sys.argv) > 3 else "follow"
    if mode not in ("follow", "run"):
        sys.exit(f"mode: got {mode!r}; accepted follow or run")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    if mode == "run":
        with moto_server() as endpoint:
            # Each state lasts three polls: the breach lands within the first poll of `running`, so the run is
            # still running when chaoslab sees it.
            hold_experiments_running(endpoint, polls=3)
            put_steady_state_alarms(aws_client("cloudwatch", endpoint))
            figures = sorted(one_run(endpoint, index, poll_s) for index in range(rounds))
        _print(figures, rounds, poll_s, "through `chaoslab run --abort-on-alarm` (main(argv, env))")
        return
    with moto_server() as endpoint:
        # Runs stay `running` for many polls, and reach `stopped` two polls after the stop.
        hold_experiments_running(endpoint, polls=2)
        fis, cloudwatch = aws_client("fis", endpoint), aws_client("cloudwatch", endpoint)
        cloudwatch.put_metric_alarm(
            AlarmName=ALARM,
            MetricName="Errors",
            Namespace="ChaosLab",
            Statistic="Sum",
            Period=10,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
        figures = sorted(one_round(endpoint, fis, cloudwatch, index, poll_s) for index in range(rounds))
    _print(figures, rounds, poll_s, "chaoslab.fis.follow alone")


def _print(figures: list[float], rounds: int, poll_s: float, path: str) -> None:
    milliseconds = [figure * 1000 for figure in figures]
    print(
        f"breach (SetAlarmState ALARM returned) -> StopExperiment sent, {path}, {rounds} rounds, poll {poll_s:g}s, moto on loopback"
    )
    print(
        f"  median {statistics.median(milliseconds):.1f} ms, p90 {milliseconds[int(0.9 * (rounds - 1))]:.1f} ms, "
        f"max {milliseconds[-1]:.1f} ms, min {milliseconds[0]:.1f} ms"
    )
    print(
        "  expected: up to one poll interval (the breach waits for the next poll) plus DescribeAlarms and StopExperiment"
    )


if __name__ == "__main__":
    main_bench()
