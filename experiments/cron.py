"""Schedule expressions as the Chaos Mesh webhook reads them (robfig/cron v3 `ParseStandard`).

Five fields, a descriptor such as `@hourly`, or `@every <duration>`. The `TZ=`/`CRON_TZ=` prefix robfig
also accepts is refused here: a lab schedule runs in the controller's time zone (UTC on EKS).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .durations import format_duration, parse_duration

DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
EVERY = "@every "

# The floor between two runs of a Schedule. A schedule is for a recurring check, not for load: an hour
# leaves time to read one run's effect before the next, and to halt; anything tighter is a rolling outage.
MIN_SCHEDULE_INTERVAL_S = 3600
# The floor as shapes a regular expression can check, so the in-cluster admission policy (CEL has
# `matches` but no substring in its standard library) applies exactly the rule the model does:
# `@every` takes a whole number of hours, optionally plus minutes and seconds (e.g. `@every 2h30m`);
# a five-field line names ONE minute, so it fires at most once in any hour. Every descriptor is hourly
# or rarer. tests/test_experiments_config.py checks these shapes against MIN_SCHEDULE_INTERVAL_S.
EVERY_AT_LEAST_THE_FLOOR = r"^@every [1-9][0-9]*h([0-9]+m)?([0-9]+s)?$"
CRON_ONE_MINUTE = r"^[0-9]{1,2} "


class _Field(NamedTuple):
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # spelled values, numbered from `low`


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    _Field("day of week", 0, 6, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)


def cron_problem(text: str) -> str | None:
    """What is wrong with a schedule expression, or None when Chaos Mesh would accept it."""
    if text.startswith("@"):
        return _descriptor_problem(text)
    fields = text.split()
    if len(fields) != len(_FIELDS):
        return f"{len(fields)} fields instead of 5"
    for spec, field in zip(_FIELDS, fields, strict=True):
        for item in field.split(","):
            problem = _range_problem(item, spec)
            if problem is not None:
                return f"{spec.name} {item!r}: {problem}"
    return None


def interval_problem(text: str) -> str | None:
    """Why a valid schedule expression fires more often than the floor allows, or None."""
    if text.startswith(EVERY):
        if re.fullmatch(EVERY_AT_LEAST_THE_FLOOR, text):
            return None
        return f"@every needs a whole number of hours, at least {format_duration(MIN_SCHEDULE_INTERVAL_S)} between runs"
    if text.startswith("@") or re.match(CRON_ONE_MINUTE, text):
        return None
    return f"the minute field must be one number, so runs are at least {format_duration(MIN_SCHEDULE_INTERVAL_S)} apart"


def _descriptor_problem(text: str) -> str | None:
    if text in DESCRIPTORS:
        return None
    if not text.startswith(EVERY):
        return f"unknown descriptor {text!r}"
    try:
        seconds = parse_duration(text[len(EVERY) :])
    except ValueError:
        return f"{text[len(EVERY) :]!r} is not a duration"
    return None if seconds > 0 else "the interval must be above zero"


def _range_problem(item: str, spec: _Field) -> str | None:
    """One comma-separated item: `*`, `?`, `a`, `a-b`, each optionally `/step` (`a/step` runs to the maximum)."""
    span, slash, step = item.partition("/")
    if slash and (not step.isdigit() or int(step) == 0):
        return "the step must be a whole number above zero"
    if span in ("*", "?"):
        return None
    low_text, dash, high_text = span.partition("-")
    low = _number(low_text, spec)
    high = _number(high_text, spec) if dash else (spec.high if slash else low)
    if low is None or high is None:
        return f"not a number from {spec.low} to {spec.high}" + (" or a name" if spec.names else "")
    if not spec.low <= low <= high <= spec.high:
        return f"outside {spec.low}-{spec.high}"
    return None


def _number(text: str, spec: _Field) -> int | None:
    if text.lower() in spec.names:
        return spec.names.index(text.lower()) + spec.low
    return int(text) if text.isdigit() else None
