"""Writing run files privately, so a reader never sees half of one: write to a temporary file, then rename.

Run files hold what the target answered, when, and the probed URL (redacted, but still naming
internal hosts): every file is 0600 and its run directory 0700, readable by the operator only.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from .errors import UsageError

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIRECTORY_MODE = 0o700
# Written in chunks this large: a probe at its maximum rate writes a few hundred lines a second.
STREAM_BUFFER_BYTES = 64 * 1024


def private_directory(path: Path) -> Path:
    """Create `path` (and its parents) with the directory itself 0700, or check that an existing one is private.

    Raises UsageError when it exists and others may read it (chmod'ing someone's existing directory,
    /tmp say, is not chaoslab's to do); OSError when it cannot be created.
    """
    try:
        path.mkdir(mode=PRIVATE_DIRECTORY_MODE, parents=True)
    except FileExistsError:
        if not path.is_dir():
            raise
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise UsageError(
                f"{path}: a run directory must be private (mode 700), and this one has mode {mode:o}; "
                "give a new directory, or chmod 700 it"
            ) from None
        return path
    os.chmod(path, PRIVATE_DIRECTORY_MODE)  # mkdir's mode is cut by the umask; never widened by it, but be exact
    return path


def write_atomic(path: Path, data: bytes | str) -> None:
    """Replace `path` with `data` in one step (os.replace within the same directory), mode 0600.

    Raises OSError when the directory is missing or not writable, or the disk is full.
    """
    payload = data.encode() if isinstance(data, str) else data
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(payload)
        os.chmod(temporary, PRIVATE_FILE_MODE)  # mkstemp's already; said here so no change loses it
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


class LineFile:
    """Lines appended as they come to a private temporary file, renamed to `path` by close().

    Memory stays bounded however many lines are written. A write that fails (the disk is full) stops
    the writing, removes the temporary file and is raised by close(), with `path` as its filename;
    `write` itself never raises, so the caller's own work (a probe) goes on.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.error: OSError | None = None
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        self._temporary = Path(temporary)
        self._stream = os.fdopen(descriptor, "w", buffering=STREAM_BUFFER_BYTES)

    def write(self, line: str) -> None:
        if self.error is not None:
            return
        try:
            self._stream.write(line)
        except OSError as error:
            self._fail(error)

    def close(self) -> None:
        """Raises OSError, naming `path`, when any write failed."""
        if self.error is None:
            try:
                self._stream.close()
                os.replace(self._temporary, self.path)
            except OSError as error:
                self._fail(error)
        if self.error is not None:
            raise self.error

    def _fail(self, error: OSError) -> None:
        self.error = OSError(error.errno, error.strerror, str(self.path))
        self._stream_close_quietly()
        self._temporary.unlink(missing_ok=True)

    def _stream_close_quietly(self) -> None:
        # The unflushed rest is being thrown away anyway.
        with contextlib.suppress(OSError):
            self._stream.close()
