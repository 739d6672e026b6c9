"""Readers for single values, shared by the model (which re-checks its own fields) and the config reader.

Each reader takes a plain JSON value, returns it in the form the Chaos Mesh CRD wants (numbers as strings
where the CRD says string) and raises `Invalid` saying what it would have accepted.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from typing import Any, TypeGuard, TypeVar
from urllib.parse import SplitResult, urlsplit

from .cron import MIN_SCHEDULE_INTERVAL_S, cron_problem, interval_problem
from .durations import format_duration, parse_duration, parse_one_unit_duration
from .errors import ExperimentError

E = TypeVar("E", bound=Enum)

# Kubernetes object and container names (RFC 1123 label).
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_LABEL_MAX = 63
# Kubernetes label values.
_LABEL_VALUE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")
# StressChaos memory `size` in absolute units (stress-ng --vm-bytes). Percentages are left out on
# purpose: stress-ng reads them against the memory it sees, in a container usually the node's, not the limit.
_MEMORY_SIZE = re.compile(r"([0-9]+)(B|KB|KiB|MB|MiB|GB|GiB)")
_MEMORY_UNIT_BYTES = {"B": 1, "KB": 10**3, "KiB": 2**10, "MB": 10**6, "MiB": 2**20, "GB": 10**9, "GiB": 2**30}
# NetworkChaos `bandwidth.rate` (tc's rate units; bps means bytes per second).
_RATE = re.compile(r"[0-9]+(bit|kbit|mbit|gbit|tbit|bps|kbps|mbps|gbps|tbps)")


class Invalid(ValueError):
    """A value a field does not accept; `accepted` says what it would, `reason` (optional) what is wrong."""

    def __init__(self, accepted: str, reason: str | None = None) -> None:
        super().__init__(accepted if reason is None else f"{reason}; accepted {accepted}")
        self.accepted = accepted
        self.reason = reason


def show(raw: Any) -> str:
    """A value as the user wrote it: strings quoted, everything else as JSON (true, null, [..])."""
    if isinstance(raw, str):
        return repr(raw)
    try:
        return json.dumps(raw)
    except TypeError:
        return repr(raw)


def got(raw: Any, error: Invalid) -> str:
    """The one problem format: "got X; accepted Y", with the reason in brackets when there is one."""
    reason = f" ({error.reason})" if error.reason else ""
    return f"got {show(raw)}{reason}; accepted {error.accepted}"


def require(path: str, read: Callable[[Any], Any], value: Any) -> None:
    """Raise ExperimentError naming `path` unless `read` accepts `value` exactly as it is written."""
    try:
        canonical = read(value)
    except Invalid as error:
        raise ExperimentError(f"{path}: {got(value, error)}") from None
    if canonical != value:
        raise ExperimentError(f"{path}: got {show(value)}; write it as {show(canonical)}")


def is_dns_label(raw: object) -> TypeGuard[str]:
    """RFC 1123 label, as Kubernetes names namespaces: the one copy of this rule in the lab."""
    return isinstance(raw, str) and len(raw) <= DNS_LABEL_MAX and _DNS_LABEL.fullmatch(raw) is not None


def dns_label(raw: Any) -> str:
    if not is_dns_label(raw):
        raise Invalid("a DNS-1123 label: lowercase letters, digits and '-', at most 63 characters")
    return raw


def dns_labels(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list | tuple):
        raise Invalid('a list of container names, e.g. ["httpd"]')
    return tuple(dns_label(item) for item in raw)


def label_value(raw: Any) -> str:
    if not (isinstance(raw, str) and len(raw) <= DNS_LABEL_MAX and _LABEL_VALUE.fullmatch(raw)):
        raise Invalid("a Kubernetes label value such as backend-api")
    return raw


def boolean(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise Invalid("true or false")
    return raw


def one_of(enum: type[E]) -> Callable[[Any], E]:
    """Reader for a closed set spelled by the enum's string values."""

    def read(raw: Any) -> E:
        for member in enum:
            if raw == member.value:
                return member
        raise Invalid("one of " + ", ".join(str(member.value) for member in enum))

    return read


def whole_number(low: int, high: int) -> Callable[[Any], int]:
    def read(raw: Any) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
            raise Invalid(f"a whole number from {low} to {high}")
        return raw

    return read


def duration(raw: Any) -> str:
    """A Chaos Mesh `duration`/`deadline`: Go syntax, above zero."""
    accepted = "a duration like 30s, 2m, 500ms or 1h30m"
    if not isinstance(raw, str):
        raise Invalid(accepted)
    try:
        seconds = parse_duration(raw)
    except ValueError:
        raise Invalid(accepted) from None
    if seconds <= 0:
        raise Invalid("a duration above zero, like 30s, 2m, 500ms or 1h30m")
    return raw


def netem_time(raw: Any) -> str:
    """NetworkChaos `latency`/`jitter`: one number, one unit (the CRD pattern)."""
    accepted = "a single number with one unit (ns, us, ms, s, m, h), e.g. 500ms"
    if not isinstance(raw, str):
        raise Invalid(accepted)
    try:
        parse_one_unit_duration(raw)
    except ValueError:
        raise Invalid(accepted) from None
    return raw


def netem_times(raw: Any) -> tuple[str, ...]:
    accepted = 'a non-empty list of single-unit latencies, e.g. ["50ms", "100ms", "500ms"]'
    if not isinstance(raw, list | tuple) or not raw:
        raise Invalid(accepted)
    for index, item in enumerate(raw):
        try:
            netem_time(item)
        except Invalid:
            raise Invalid(accepted, f"item {index} {show(item)} has not exactly one unit") from None
    return tuple(raw)


def percent(raw: Any) -> str:
    """A netem percentage (`loss`, `correlation`, ...): 0 to 100, as the numeric string the CRD wants."""
    accepted = "a number from 0 to 100 (percent), e.g. 90"
    if isinstance(raw, str) and _DECIMAL.fullmatch(raw):
        number = Decimal(raw)
    elif isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
        number = Decimal(repr(raw))  # repr keeps what was written: 0.1 stays 0.1
    else:
        raise Invalid(accepted)
    if not 0 <= number <= 100:
        raise Invalid(accepted)
    text = format(number, "f")  # plain digits, never an exponent
    return text.rstrip("0").rstrip(".") if "." in text else text


def pod_count(raw: Any) -> int | None:
    """The selector `value`: a whole number (pods for `fixed`, percent otherwise); null clears it.

    The range depends on the mode, so `mode_value_problem` in the model checks it.
    """
    if raw is None:
        return None
    if isinstance(raw, str) and raw.isdigit():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise Invalid("a whole number of at least 1 (pods for mode fixed, percent for the percent modes)")
    return raw


def memory_size(raw: Any) -> str:
    if not (isinstance(raw, str) and _MEMORY_SIZE.fullmatch(raw)) or memory_bytes(raw) == 0:
        raise Invalid("an amount of memory per worker with a unit (B, KB, KiB, MB, MiB, GB, GiB), e.g. 256MB")
    return raw


def memory_bytes(size: str) -> int:
    """Bytes in a size `memory_size` accepted."""
    match = _MEMORY_SIZE.fullmatch(size)
    if match is None:
        raise ValueError(f"{size!r} is not a memory size")
    return int(match[1]) * _MEMORY_UNIT_BYTES[match[2]]


def bandwidth_rate(raw: Any) -> str:
    if not (isinstance(raw, str) and _RATE.fullmatch(raw)):
        raise Invalid("a rate with a tc unit (bit, kbit, mbit, gbit, tbit, bps, kbps, mbps, gbps, tbps), e.g. 1mbps")
    return raw


def schedule(raw: Any) -> str:
    accepted = (
        "a cron line of 5 fields (minute hour day-of-month month day-of-week) with one minute, e.g. '0 */2 * * *', "
        "one of @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually, or '@every <hours>h', e.g. '@every 2h': "
        f"at most one run every {format_duration(MIN_SCHEDULE_INTERVAL_S)}"
    )
    if not isinstance(raw, str):
        raise Invalid(accepted)
    problem = cron_problem(raw) or interval_problem(raw)
    if problem is not None:
        raise Invalid(accepted, problem)
    return raw


def _is_http_with_host(parts: SplitResult) -> bool:
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def http_url(raw: Any) -> str:
    """An absolute http(s) URL with a host, as the StatusCheck webhook parses it."""
    if not isinstance(raw, str) or " " in raw or not _is_http_with_host(urlsplit(raw)):
        raise Invalid(
            "an absolute http:// or https:// URL, e.g. http://frontend-service.chaos-sandbox.svc.cluster.local/api/"
        )
    return raw
