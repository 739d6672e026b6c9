"""The alarm evaluator's rules (tests/cloudwatch_alarms.py), and the stack's alarm and dashboard definitions
as CloudWatch's API takes them: PutMetricAlarm, PutCompositeAlarm and PutDashboard through botocore's
models into moto's server.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.validate import validate_parameters

from chaoslab.config.model import SteadyStateConfig
from chaoslab.prober import figures
from cloudwatch_alarms import ALARM, INSUFFICIENT_DATA, OK, AlarmRule, evaluate
from components import steady_state
from moto_cloudwatch import client, moto_server

PERIOD = figures.PUBLISH_INTERVAL_S
END = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TARGET = "http://frontend-service.chaos-sandbox.svc.cluster.local/api/"
SETTINGS = SteadyStateConfig()
SUCCESS = AlarmRule.from_definition(steady_state.alarm_definitions("dev", TARGET, SETTINGS)["successRate"])
LATENCY = AlarmRule.from_definition(steady_state.alarm_definitions("dev", TARGET, SETTINGS)["p95Latency"])


def points(*values: float | None, end: datetime = END) -> list[tuple[datetime, float]]:
    """One datapoint per period, the last in the period that ends at `end`; None leaves a period empty."""
    count = len(values)
    return [
        (end - timedelta(seconds=PERIOD * (count - index)), float(value))
        for index, value in enumerate(values)
        if value is not None
    ]


def test_the_definitions_are_three_of_three_ten_second_periods_with_missing_data_breaching():
    for rule in (SUCCESS, LATENCY):
        assert (rule.period_s, rule.evaluation_periods, rule.datapoints_to_alarm, rule.treat_missing_data) == (
            10,
            3,
            3,
            "breaching",
        )


@pytest.mark.parametrize(
    ("values", "state"),
    [
        ((100, 100, 100), OK),
        ((100, 98, 100), OK),  # one bad period is not an outage
        ((98, 97, 50), ALARM),
        ((100, 98, 97, 50), ALARM),  # only the last three count
        ((98, 97, 50, 100), OK),  # recovered in the newest period
        ((99, 99, 99), OK),  # at the threshold is not below it
    ],
)
def test_the_success_rate_alarm_needs_three_breaching_periods_in_a_row(values, state):
    assert evaluate(SUCCESS, points(*values), END) == state


def test_the_statistic_takes_the_worst_of_two_probers_in_one_period():
    """During a rollout two probers publish into the same period; the Minimum is the worse one."""
    healthy = points(100, 100, 100)
    unhealthy_twin = [(timestamp + timedelta(seconds=1), 50.0) for timestamp, _ in healthy]
    assert evaluate(SUCCESS, healthy + unhealthy_twin, END) == ALARM


def test_missing_periods_count_as_breaching_when_too_few_real_ones_are_left():
    assert evaluate(SUCCESS, [], END) == ALARM
    assert evaluate(SUCCESS, points(100, None, None, None), END) == ALARM
    assert evaluate(SUCCESS, points(50, None, None), END) == ALARM
    # Fewer than three real datapoints, the missing ones filled as breaching: with three of three to
    # alarm, one healthy period among them still holds the alarm off.
    assert evaluate(SUCCESS, points(None, 100, None), END) == OK


def test_with_enough_real_datapoints_in_the_range_a_late_period_is_not_filled():
    """The range reaches further back than three periods: three real datapoints there are evaluated as they are."""
    late = points(50, 50, 50, None)
    assert evaluate(SUCCESS, late, END, evaluation_range=4) == ALARM  # the three real ones, all breaching
    recovering = points(100, 50, 50, None)
    assert evaluate(SUCCESS, recovering, END, evaluation_range=4) == OK  # real: 100, 50, 50
    assert evaluate(SUCCESS, recovering, END, evaluation_range=3) == ALARM  # 50, 50 and a filled breaching one


def test_the_latency_alarm_fires_above_its_threshold_only():
    limit = SETTINGS.max_p95_ms
    assert evaluate(LATENCY, points(limit, limit, limit), END) == OK
    assert evaluate(LATENCY, points(limit + 1, limit + 1, limit + 1), END) == ALARM


def test_the_other_missing_data_rules():
    def rule(treat: str) -> AlarmRule:
        return AlarmRule(**{**SUCCESS.__dict__, "treat_missing_data": treat})

    assert evaluate(rule("notBreaching"), [], END) == OK
    assert evaluate(rule("missing"), [], END) == INSUFFICIENT_DATA
    assert evaluate(rule("ignore"), [], END, current=ALARM) == ALARM
    assert evaluate(rule("ignore"), [], END, current=OK) == OK


def test_the_stack_s_alarms_and_dashboard_are_accepted_by_cloudwatch_s_api():
    definitions = steady_state.alarm_definitions("dev", TARGET, SETTINGS)
    with moto_server() as endpoint:
        cloudwatch = client(endpoint)
        for definition in definitions.values():
            cloudwatch.put_metric_alarm(
                AlarmName=definition["name"],
                AlarmDescription=definition["alarm_description"],
                Namespace=definition["namespace"],
                MetricName=definition["metric_name"],
                Dimensions=[{"Name": key, "Value": value} for key, value in definition["dimensions"].items()],
                Statistic=definition["statistic"],
                Period=definition["period"],
                EvaluationPeriods=definition["evaluation_periods"],
                DatapointsToAlarm=definition["datapoints_to_alarm"],
                Threshold=definition["threshold"],
                ComparisonOperator=definition["comparison_operator"],
                TreatMissingData=definition["treat_missing_data"],
            )
        stored = {alarm["AlarmName"]: alarm for alarm in cloudwatch.describe_alarms()["MetricAlarms"]}
        assert set(stored) == {definition["name"] for definition in definitions.values()}
        arns = {key: stored[definition["name"]]["AlarmArn"] for key, definition in definitions.items()}
        # moto does not implement PutCompositeAlarm: botocore's own validation of the request is the check.
        composite = cloudwatch.meta.service_model.operation_model("PutCompositeAlarm").input_shape
        validate_parameters(
            {"AlarmName": "broken", "AlarmRule": steady_state.composite_rule(list(arns.values()))}, composite
        )
        body = steady_state.dashboard_body(
            figures.cloudwatch_namespace("dev"), "us-east-1", "dev", TARGET, SETTINGS, arns
        )
        answer = cloudwatch.put_dashboard(
            DashboardName=steady_state.alarm_prefix("dev"), DashboardBody=json.dumps(body)
        )
        assert answer["DashboardValidationMessages"] == []
        assert (
            json.loads(cloudwatch.get_dashboard(DashboardName=steady_state.alarm_prefix("dev"))["DashboardBody"])
            == body
        )
