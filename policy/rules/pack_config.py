"""The pack's own configuration: the keys a policy config file may set, their defaults, and readers.

The limits come from policy config (`pulumi preview --policy-pack policy --policy-pack-config FILE`),
never from the stack's `chaos-lab:` config: a guard that read the stack's own ceiling would let the
very change it guards against raise the ceiling too. `policy/config/<stack>.json` holds each stack's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyConfigSchema

from .props import items

MAX_DURATION_KEY = "maxExperimentDuration"
FENCED_NAMESPACES_KEY = "fencedNamespaces"
DEFAULT_MAX_DURATION = "10m"
DEFAULT_FENCED_NAMESPACES = ("chaos-sandbox",)

# Go's time.ParseDuration syntax, which Chaos Mesh uses for `duration` and `deadline`.
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
DURATION_PATTERN = rf"^(?:{_DURATION_PART.pattern})+$"

MAX_DURATION_SCHEMA = PolicyConfigSchema(
    properties={
        MAX_DURATION_KEY: {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "default": DEFAULT_MAX_DURATION,
            "description": "Longest a chaos experiment, or a whole workflow, may run, e.g. 10m.",
        }
    }
)
FENCED_NAMESPACES_SCHEMA = PolicyConfigSchema(
    properties={
        FENCED_NAMESPACES_KEY: {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "minItems": 1,
            "default": list(DEFAULT_FENCED_NAMESPACES),
            "description": "The only namespaces chaos may select pods in (the lab's sandbox).",
        }
    }
)


def parse_duration_s(text: Any) -> float:
    """Seconds in a Go duration such as `90s` or `1h30m`.

    Raises ValueError for anything else, a missing value included.
    """
    if not isinstance(text, str) or not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"{text!r} is not a duration like 30s, 2m or 1h30m")
    return sum(float(number) * _UNIT_S[unit] for number, unit in _DURATION_PART.findall(text))


def format_duration(seconds: float) -> str:
    whole = int(seconds)
    if whole == seconds and whole % 60 == 0:
        return f"{whole // 60}m"
    return f"{seconds:g}s"


def max_duration(config: Mapping[str, Any]) -> tuple[str, float]:
    """The configured ceiling as written and in seconds.

    Raises ValueError when the configured value is not a duration (the schema's pattern stops that
    before the pack runs under the CLI).
    """
    text = config.get(MAX_DURATION_KEY, DEFAULT_MAX_DURATION)
    return text, parse_duration_s(text)


def fenced_namespaces(config: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(items(config.get(FENCED_NAMESPACES_KEY, DEFAULT_FENCED_NAMESPACES)))
