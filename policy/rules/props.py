"""Reading resource properties as the policy SDK hands them over.

The SDK wraps props in read-only proxies that are Mappings and Sequences but not dicts and lists, and
numbers arrive as floats (they travel as protobuf Structs). A missing or mistyped field reads as empty
here, so each rule decides what an absent value means instead of crashing on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

EMPTY: Mapping[str, Any] = {}


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else EMPTY


def items(value: Any) -> Sequence[Any]:
    return value if isinstance(value, Sequence) and not isinstance(value, str) else ()


def dig(value: Any, *keys: str) -> Any:
    """`value[keys[0]][keys[1]]...`, or None where a step is missing or not a Mapping."""
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
