"""Every value the lab gives the Chaos Mesh chart is a key chart 2.8.3 has, with a value of the same kind.

Helm ignores keys a chart does not read, so a misspelt key (`dashboard.securityModes`) would silently
leave the chart's default in place; mocks cannot see that, the chart's own values.yaml can.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from chaoslab.config.model import DEFAULT_CHAOS_MESH_VERSION, ChaosMeshConfig
from components.chaos_mesh import ChaosMeshArgs, chart_values

CHART_VALUES = Path(__file__).parent / "data" / "chaos-mesh-chart" / "values.yaml"
CHART_VALUES_SHA256 = "5f61db2631e9652e6e3d3fb01ca09bc1f4c7accfb4a73b8e74742039f5b66979"
# Keys the chart leaves empty ({}) for the user to fill: any sub-key is theirs.
OPEN_MAPS = ("resources",)


def leaves(values: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for key, value in values.items():
        if isinstance(value, dict) and key not in OPEN_MAPS:
            yield from leaves(value, (*prefix, key))
        else:
            yield (*prefix, key), value


def lookup(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        assert isinstance(values, dict) and key in values, f"chart has no value {'.'.join(path)}"
        values = values[key]
    return values


def test_copy_is_the_2_8_3_chart_file():
    assert hashlib.sha256(CHART_VALUES.read_bytes()).hexdigest() == CHART_VALUES_SHA256
    assert DEFAULT_CHAOS_MESH_VERSION == "2.8.3"


def default_chart_values() -> dict[str, Any]:
    """The values the lab gives the chart with the default config."""
    defaults = ChaosMeshConfig()
    return chart_values(
        ChaosMeshArgs(
            chart_version=defaults.version,
            runtime=defaults.runtime.value,
            socket_path=defaults.socket_path,
            controller_replicas=defaults.controller_replicas,
            depends_on=[],
        )
    )


def test_every_value_set_is_a_chart_key_of_the_same_kind():
    chart = yaml.safe_load(CHART_VALUES.read_text())
    ours = default_chart_values()
    paths = list(leaves(ours))
    assert len(paths) > len(ours), "the values should reach into the chart's sections"
    for path, value in paths:
        default = lookup(chart, path)
        assert type(value) is type(default) or (isinstance(default, dict) and isinstance(value, dict)), (
            f"{'.'.join(path)}: chart default {default!r}, lab sets {value!r}"
        )
