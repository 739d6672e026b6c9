"""Durations written the way Chaos Mesh (and Go's time.ParseDuration) writes them: `30s`, `2m`, `500ms`, `1h30m`."""

from __future__ import annotations

import re

_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_WHOLE = re.compile(rf"(?:{_PART.pattern})+")
# The same, anchored and ASCII-only, for checks written as CEL in the admission policy.
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$"

# NetworkChaos `delay.latency` and `delay.jitter` carry this pattern in the CRD: one number, one unit, so
# "1m30s" (fine for Go) is rejected by the API server.
ONE_UNIT = re.compile(r"^[0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h)$")


def parse_duration(text: str) -> float:
    """Return the duration in seconds.

    Raises ValueError for anything Go's time.ParseDuration would reject, apart from signs, which
    no duration in this lab may carry.
    """
    if not isinstance(text, str) or not _WHOLE.fullmatch(text):
        raise ValueError(f"{text!r} is not a duration like 30s, 2m, 500ms or 1h30m")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(text))


def parse_one_unit_duration(text: str) -> float:
    """Return the duration in seconds of a single-unit duration such as `500ms` or `1.5s`.

    Raises ValueError for anything the CRD's one-unit pattern rejects, "1m30s" included.
    """
    if not isinstance(text, str) or not ONE_UNIT.fullmatch(text):
        raise ValueError(f"{text!r} is not a single number with one unit like 500ms or 1.5s")
    return parse_duration(text)


def format_duration(seconds: float) -> str:
    """Shortest Chaos Mesh duration string for a whole number of seconds or milliseconds."""
    if seconds >= 1 and float(seconds).is_integer():
        whole = int(seconds)
        for unit, size in (("h", 3600), ("m", 60)):
            if whole % size == 0:
                return f"{whole // size}{unit}"
        return f"{whole}s"
    return f"{round(seconds * 1000)}ms"
