"""Finds the built-in data folders the same way from a checkout and from a wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def builtin_dir(name: str) -> Path:
    """Return the built-in `agents`, `phases` or `prompts` folder.

    A wheel carries them inside the package (`orchestrator/_data/<name>`); a source
    checkout (and an editable install) has them beside the package.
    """
    bundled = _PACKAGE / "_data" / name
    if bundled.is_dir():
        return bundled
    return _PACKAGE.parent / name
