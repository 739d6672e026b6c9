"""The CLI's own addition to the lab's exception tree (experiments.errors)."""

from __future__ import annotations

from experiments.errors import ChaosLabError


class UsageError(ChaosLabError):
    """A command line that cannot be used as given; nothing was started or changed."""
