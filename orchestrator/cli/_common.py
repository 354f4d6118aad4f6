"""Options and output helpers shared by the command modules."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

AgentsDirOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--agents-dir",
        help="Extra card folder, searched before the built-in catalogue (repeatable).",
        file_okay=False,
    ),
]
ProjectDirOption = Annotated[
    Path,
    typer.Option("--project-dir", help="The project the task is about.", file_okay=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def print_json(data: Any) -> None:
    """Write `data` as indented JSON to stdout (stable key order as given)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()
