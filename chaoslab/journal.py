"""The run's journal, in the shape and order of Chaos Toolkit's (chaoslib/run.py).

journal.json holds: the experiment copy, host and version, timings, the steady states judged
before, during and after, one record per activity of the method (in `run`) and of the rollback (in
`rollbacks`), the final status and, separately, whether the system deviated from its hypothesis, and
the abort condition that stopped the run, if one did, and for a FIS run its experiment ID, states and stop reason.
It is rewritten after every activity, so a run that dies leaves what it had done.
"""

from __future__ import annotations

import contextlib
import platform
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from . import __version__
from .files import write_json

JOURNAL_FILE = "journal.json"


class RunStatus(StrEnum):
    COMPLETED = "completed"  # every phase ran; see `deviated` for the verdict
    FAILED = "failed"  # the steady state did not hold before the chaos, so the method was skipped
    ABORTED = "aborted"  # an error (Pulumi, Kubernetes, the probe) or an abort condition stopped the run
    INTERRUPTED = "interrupted"  # Ctrl-C


class ActivityStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class ActivityType(StrEnum):
    PROBE = "probe"  # observes
    ACTION = "action"  # changes the system


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def one_line(error: BaseException) -> str:
    """`Type: message` on one line, as the CLI prints errors."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


class Journal:
    def __init__(self, run_dir: Path, experiment: dict[str, Any]) -> None:
        self.run_dir = run_dir
        self._started = utc_now()
        self._started_monotonic = time.monotonic()
        self.data: dict[str, Any] = {
            "chaoslab_version": __version__,
            "platform": platform.platform(),
            "node": socket.gethostname(),
            "experiment": experiment,
            "start": iso(self._started),
            "end": None,
            "duration": None,
            "status": None,
            "deviated": False,
            "error": None,
            "steady_states": {"before": None, "during": None, "after": None},
            "abort": None,
            "fis": None,
            "run": [],
            "rollbacks": [],
        }

    def save(self) -> None:
        write_json(self.run_dir / JOURNAL_FILE, self.data)

    def steady_state(self, when: str, verdict: dict[str, Any]) -> None:
        self.data["steady_states"][when] = verdict
        self.save()

    def abort(self, record: dict[str, Any]) -> None:
        self.data["abort"] = record
        self.save()

    def fis(self, record: dict[str, Any]) -> None:
        """The FIS run's outcome (chaoslab.fis.Outcome.to_journal): experiment ID, states, stop reason."""
        self.data["fis"] = record
        self.save()

    def finish(self, status: RunStatus, *, deviated: bool = False, error: BaseException | None = None) -> None:
        self.data.update(
            end=iso(utc_now()),
            duration=round(time.monotonic() - self._started_monotonic, 3),
            status=status.value,
            deviated=deviated,
            error=None if error is None else one_line(error),
        )
        self.save()

    @contextlib.contextmanager
    def activity(self, kind: ActivityType, name: str, *, rollback: bool = False) -> Iterator[dict[str, Any]]:
        """Record one activity: yields its output dict to fill in; saves the journal when it ends.

        Exceptions pass through, recorded as the activity's failure (or interruption).
        """
        started, started_monotonic = utc_now(), time.monotonic()
        record: dict[str, Any] = {
            "activity": {"type": kind.value, "name": name},
            "start": iso(started),
            "end": None,
            "duration": None,
            "status": None,
            "output": {},
            "exception": None,
        }
        self.data["rollbacks" if rollback else "run"].append(record)
        try:
            yield record["output"]
            record["status"] = ActivityStatus.SUCCEEDED.value
        except KeyboardInterrupt:
            record["status"] = ActivityStatus.INTERRUPTED.value
            raise
        except Exception as error:
            record["status"] = ActivityStatus.FAILED.value
            record["exception"] = one_line(error)
            raise
        finally:
            record["end"] = iso(utc_now())
            record["duration"] = round(time.monotonic() - started_monotonic, 3)
            self.save()
