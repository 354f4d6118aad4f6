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
BrokerOption = Annotated[
    str | None,
    typer.Option("--broker", help="amqp://... (RabbitMQ) or redis://... (default: PHASEGRAPH_BROKER_URL)."),
]
DEFAULT_QUEUE = "phasegraph"
"""The queue `submit` sends to and `worker` consumes when none is named (`orchestrator.worker`'s)."""
QueueOption = Annotated[str, typer.Option("--queue", help="The queue the run goes to.")]


def print_json(data: Any) -> None:
    """Write `data` as indented JSON to stdout (stable key order as given), terminal-safe."""
    sys.stdout.write(json_terminal_safe(json.dumps(data, indent=2, ensure_ascii=False)) + "\n")
    sys.stdout.flush()


def print_json_rows(rows: list[dict[str, Any]]) -> None:
    """`rows` as one JSON array with a row per line: compact rows take the C encoder, which an
    indented document does not, so 10,000 runs print in a fraction of the time."""
    body = ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows)
    sys.stdout.write(json_terminal_safe(f"[\n{body}\n]" if rows else "[]") + "\n")
    sys.stdout.flush()


def safe_markup(text: str, *, one_line: bool = False) -> str:
    """Untrusted `text` for a rich markup string: controls escaped, `[tags]` printed literally."""
    return escape(terminal_safe(text, one_line=one_line))
