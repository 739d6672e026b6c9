"""Ctrl-C held off while the CLI finishes something that must not stop half-way."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from .display import Display


@contextlib.contextmanager
def sigint_deferred(display: Display, doing: str) -> Iterator[None]:
    """Ignore Ctrl-C inside the block, saying what is still being done.

    For the work a Ctrl-C has already asked to wrap up: disabling an experiment (stopping half-way
    would leave it on) and writing what a probe measured (stopping half-way would lose it). The pulumi
    CLI is in the same process group and still sees a second Ctrl-C, which cancels its update; the
    RollbackFailed then names the commands to finish by hand.
    """
    # Python runs signal handlers on the main thread only, and only the main thread may install them.
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def remind(signum: int, frame: FrameType | None) -> None:
        display.note(f"{doing}; Ctrl-C is ignored until that is done")

    previous = signal.signal(signal.SIGINT, remind)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
