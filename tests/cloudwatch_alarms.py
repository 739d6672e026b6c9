"""How CloudWatch evaluates a metric alarm, for the series a test reads back from moto (which stores
metrics but never evaluates alarms).

Written from the CloudWatch User Guide:
- "Evaluating an alarm" (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarm-evaluation):
  each period's datapoints are aggregated with the alarm's statistic into one value; the alarm goes to
  ALARM when at least DatapointsToAlarm (M) of the last EvaluationPeriods (N) values breach the
  threshold, and to OK otherwise.
- "How alarm state is evaluated when data is missing"
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html):
  CloudWatch retrieves more periods than N, the evaluation range. When the range holds at least N real
  datapoints, the most recent N real ones are evaluated and the missing-data rule is not used. When it
  holds fewer, the missing periods among the last N are filled according to TreatMissingData
  (breaching, notBreaching, ignore: keep the current state, missing: INSUFFICIENT_DATA when nothing is
  there) and those N are evaluated.
The guide does not state the range's exact length ("depends on the length of the alarm period"), so
it is a parameter here, at least N.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

ALARM = "ALARM"
OK = "OK"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"

_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
_STATISTICS: dict[str, Callable[[Sequence[float]], float]] = {
    "Minimum": min,
    "Maximum": max,
    "Sum": sum,
    "Average": lambda values: sum(values) / len(values),
    "SampleCount": len,
}


@dataclass(frozen=True)
class AlarmRule:
    statistic: str
    period_s: int
    comparison: str
    threshold: float
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing_data: str

    @classmethod
    def from_definition(cls, definition: Mapping[str, Any]) -> AlarmRule:
        """From aws.cloudwatch.MetricAlarm arguments, snake_case as the program passes them."""
        return cls(
            statistic=str(definition["statistic"]),
            period_s=int(definition["period"]),
            comparison=str(definition["comparison_operator"]),
            threshold=float(definition["threshold"]),
            evaluation_periods=int(definition["evaluation_periods"]),
            datapoints_to_alarm=int(definition["datapoints_to_alarm"]),
            treat_missing_data=str(definition["treat_missing_data"]),
        )

    def breaches(self, value: float) -> bool:
        return _COMPARISONS[self.comparison](value, self.threshold)


def period_values(
    rule: AlarmRule, points: Sequence[tuple[datetime, float]], end: datetime, periods: int
) -> list[float | None]:
    """The statistic over each of the `periods` periods ending at `end`, oldest first; None where there is no data."""
    end_s = end.timestamp()
    buckets: list[list[float]] = [[] for _ in range(periods)]
    for timestamp, value in points:
        # Periods are [start, start + period): a datapoint at a period's start belongs to that period.
        back = math.ceil((end_s - timestamp.timestamp()) / rule.period_s) - 1
        if 0 <= back < periods:
            buckets[periods - 1 - back].append(value)
    return [_STATISTICS[rule.statistic](bucket) if bucket else None for bucket in buckets]


def evaluate(
    rule: AlarmRule,
    points: Sequence[tuple[datetime, float]],
    end: datetime,
    evaluation_range: int | None = None,
    current: str = OK,
) -> str:
    """The state the alarm takes when evaluated at `end` (the end of its newest period)."""
    wanted = rule.evaluation_periods
    values = period_values(rule, points, end, max(wanted, evaluation_range or wanted))
    real = [value for value in values if value is not None]
    if len(real) >= wanted:
        judged: list[bool | None] = [rule.breaches(value) for value in real[-wanted:]]
    else:
        newest = values[-wanted:]
        if rule.treat_missing_data == "missing" and not real:
            return INSUFFICIENT_DATA
        fill = {"breaching": True, "notBreaching": False}.get(rule.treat_missing_data)
        if fill is None and any(value is None for value in newest):
            # ignore (and missing, with some data): missing periods neither breach nor clear.
            judged = [None if value is None else rule.breaches(value) for value in newest]
            if sum(1 for item in judged if item) >= rule.datapoints_to_alarm:
                return ALARM
            return current
        judged = [fill if value is None else rule.breaches(value) for value in newest]
    return ALARM if sum(1 for item in judged if item) >= rule.datapoints_to_alarm else OK
