"""Fixtures shared by the chaoslab tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chaoslab_servers import KubeApiServer


@pytest.fixture
def kube() -> Iterator[KubeApiServer]:
    """A stateful Kubernetes API stand-in on loopback, closed after the test."""
    server = KubeApiServer()
    yield server
    server.close()
