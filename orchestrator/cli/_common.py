"""Options and output helpers shared by the command modules."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from orchestrator._terminal import json_terminal_safe, terminal_safe

NoBuiltinAgentsOption = Annotated[
    bool,
    typer.Option(
        "--no-builtin-agents",
        help="Use only your cards (--agents-dir, PHASEGRAPH_AGENTS_DIRS, ./agents); "
        "also PHASEGRAPH_NO_BUILTIN_AGENTS=1.",
    ),
]
AgentsDirOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--agents-dir",
        help="Extra card folder, searched before the built-in catalogue (repeatable).",
    ),
]


def _existing_project_dir(value: Path) -> Path:
    """Every command refuses a --project-dir that is not a directory, in one line, before it starts."""
    from orchestrator.project import project_dir

    project_dir(value)
    return value


ProjectDirOption = Annotated[
    Path,
    typer.Option("--project-dir", help="The project the task is about.", callback=_existing_project_dir),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def print_json(data: Any) -> None:
    """Write `data` as indented JSON to stdout (stable key order as given), terminal-safe."""
    sys.stdout.write(json_terminal_safe(json.dumps(data, indent=2, ensure_ascii=False)) + "\n")
    sys.stdout.flush()


def safe_markup(text: str, *, one_line: bool = False) -> str:
    """Untrusted `text` for a rich markup string: controls escaped, `[tags]` printed literally."""
    return escape(terminal_safe(text, one_line=one_line))
