"""Progress on stderr: step notes, and one live line while a probe runs (on a terminal only).

Results never go through here; they go to stdout. Tests pass NullDisplay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TextIO


@dataclass(frozen=True)
class Progress:
    elapsed_s: float
    duration_s: float
    sent: int
    answered: int  # sent requests that have finished, successfully or not
    ok: int
    p95_ms: float | None  # over the finished requests so far

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0


class Display(Protocol):
    def note(self, text: str) -> None:
        """One line about a step, e.g. "enabling basic-pod-kill (pulumi up)"."""

    def progress(self, label: str, progress: Progress) -> None:
        """Overwrite the live line with the probe's state so far."""

    def done(self) -> None:
        """End the live line, if one is shown."""


class NullDisplay:
    def note(self, text: str) -> None:
        pass

    def progress(self, label: str, progress: Progress) -> None:
        pass

    def done(self) -> None:
        pass


class StderrDisplay:
    """Notes always; the live line only when `live` (stderr is a terminal), since a carriage-return
    line in a log file or CI output is noise."""

    def __init__(self, stream: TextIO, *, live: bool) -> None:
        self._stream = stream
        self._live = live
        self._line_open = False

    def note(self, text: str) -> None:
        self.done()
        self._stream.write(f"chaoslab: {text}\n")
        self._stream.flush()

    def progress(self, label: str, progress: Progress) -> None:
        if not self._live:
            return
        success = f"{100 * progress.ok / progress.answered:5.1f}%" if progress.answered else "    -"
        p95 = f"{progress.p95_ms:7.1f} ms" if progress.p95_ms is not None else "      - ms"
        self._stream.write(
            f"\r{label}: {progress.elapsed_s:5.1f}/{progress.duration_s:.0f} s  {progress.rate:6.1f}/s  "
            f"ok {success}  p95 {p95}  sent {progress.sent}"
        )
        self._stream.flush()
        self._line_open = True

    def done(self) -> None:
        if self._line_open:
            self._stream.write("\n")
            self._stream.flush()
            self._line_open = False
