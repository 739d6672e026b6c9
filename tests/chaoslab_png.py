"""Checks that bytes are a real PNG of the chart's size, without an image library."""

from __future__ import annotations

import struct

from chaoslab.report import CHART_DPI, CHART_SIZE_IN

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A chart with axes, points and a legend compresses to tens of kilobytes; far less is a blank
# image, far more is not this chart.
MIN_CHART_BYTES = 10_000
MAX_CHART_BYTES = 2_000_000


def assert_real_png(data: bytes) -> None:
    assert data[:8] == PNG_SIGNATURE
    # The first chunk is IHDR: length 13, then width and height as big-endian 32-bit integers.
    length, chunk_type, width, height = struct.unpack(">I4sII", data[8:24])
    assert (length, chunk_type) == (13, b"IHDR")
    assert (width, height) == (round(CHART_SIZE_IN[0] * CHART_DPI), round(CHART_SIZE_IN[1] * CHART_DPI))
    assert MIN_CHART_BYTES <= len(data) <= MAX_CHART_BYTES
