"""Files only their owner may read: run state and cassettes hold the project's source and every answer.

Modes are set when phasegraph creates a file or folder (0600 and 0700, before any
byte is written); an existing one keeps the mode its owner gave it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> None:
    """Create `path` owner-only if it does not exist (missing parents get the default mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=DIR_MODE)
    except FileExistsError:
        return
    # The umask can only take bits away from mkdir's mode; make sure the owner keeps all three.
    os.chmod(path, DIR_MODE)


def private_file(path: Path) -> None:
    """Create `path` empty and owner-only if it does not exist; SQLite then gives its -wal and
    -shm files the same mode."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))


def append_private(path: Path) -> IO[str]:
    """Open `path` to append text, creating it owner-only if it does not exist."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE), "a", encoding="utf-8")
