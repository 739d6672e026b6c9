"""Breach -> StopExperiment: how long `chaoslab` takes to send the stop once a steady-state alarm is in ALARM.

Runs against moto's server on loopback (FIS and CloudWatch); nothing here reaches AWS. Each round starts
an experiment, flips the alarm with SetAlarmState, and measures from the moment the flip returned to the
moment chaoslab.fis sent StopExperiment. The figure is chaoslab's own share: one poll interval at worst
plus the DescribeAlarms and StopExperiment calls. The alarm's own detection (period x evaluation
periods) comes before it, and FIS's own reaction to its stop condition is not documented by AWS
(https://docs.aws.amazon.com/fis/latest/userguide/stop-conditions.html), so it is not measured here.

Usage: venv/bin/python benchmarks/fis_stop_bench.py [rounds] [poll seconds]
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

from chaoslab import fis as fis_ops  # noqa: E402
from fis_servers import ACCOUNT, REGION, client, fis_template, hold_experiments_running, moto_server  # noqa: E402

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
        client("cloudwatch", endpoint).set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="bench breach")
        breached_at.append(time.perf_counter())

    # The breach lands anywhere within a poll interval, as a real one would.
    timer = threading.Timer(poll_s * (1 + random.random()), breach)
    timer.start()
    fis_ops.follow(
        fis, experiment_id, display=lambda snapshot: None, poll_s=poll_s,
        should_stop=lambda: fis_ops.alarm_breach(cloudwatch, [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{ALARM}"]),
    )
    timer.join()
    fis.stop_experiment = original_stop
    return stop_sent_at[0] - breached_at[0]


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    poll_s = float(sys.argv[2]) if len(sys.argv) > 2 else fis_ops.DEFAULT_POLL_S
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    with moto_server() as endpoint:
        # Runs stay `running` for many polls, and reach `stopped` two polls after the stop.
        hold_experiments_running(endpoint, polls=2)
        fis, cloudwatch = client("fis", endpoint), client("cloudwatch", endpoint)
        cloudwatch.put_metric_alarm(AlarmName=ALARM, MetricName="Errors", Namespace="ChaosLab", Statistic="Sum", Period=10,
                                    EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold")
        figures = sorted(one_round(endpoint, fis, cloudwatch, index, poll_s) for index in range(rounds))
    milliseconds = [figure * 1000 for figure in figures]
    print(f"breach (SetAlarmState ALARM returned) -> StopExperiment sent, {rounds} rounds, poll {poll_s:g}s, moto on loopback")
    print(f"  median {statistics.median(milliseconds):.1f} ms, p90 {milliseconds[int(0.9 * (rounds - 1))]:.1f} ms, "
          f"max {milliseconds[-1]:.1f} ms, min {milliseconds[0]:.1f} ms")
    print("  expected: up to one poll interval (the breach waits for the next poll) plus DescribeAlarms and StopExperiment")


if __name__ == "__main__":
    main()
