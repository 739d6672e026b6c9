"""Writing run files so a reader never sees half of one: write to a temporary file, then rename."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

READABLE_MODE = 0o644


def write_atomic(path: Path, data: bytes | str) -> None:
    """Replace `path` with `data` in one step (os.replace within the same directory).

    Raises OSError when the directory is missing or not writable.
    """
    payload = data.encode() if isinstance(data, str) else data
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(payload)
        # mkstemp creates the file private (0600); run files are meant to be read and shared.
        os.chmod(temporary, READABLE_MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")
