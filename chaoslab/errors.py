"""The CLI's own addition to the lab's exception tree (chaoslab.experiments.errors): a command line it cannot use."""

from __future__ import annotations

from chaoslab.experiments.errors import InvalidDefinition


class UsageError(InvalidDefinition):
    """A command line that cannot be used as given; nothing was started or changed."""
