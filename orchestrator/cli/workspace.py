"""`phasegraph diff | apply`: see a run's code, and bring it into the project's working tree.

A thin shell over the run service (`Runner.diff`, `Runner.apply`). Exit codes: 0 done,
1 nothing to show or apply, 2 a usage error or a clash with local changes (one line on
stderr, nothing changed).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from orchestrator._terminal import terminal_safe
from orchestrator.cli import app
from orchestrator.cli._common import ProjectDirOption
from orchestrator.errors import ExitCode
from orchestrator.run import Runner
from orchestrator.settings import load_settings

RunIdArgument = Annotated[str, typer.Argument(metavar="RUN_ID", help="The run whose code to use.")]
CheckpointOption = Annotated[
    str | None,
    typer.Option(
        "--checkpoint-url", help="postgresql://... or sqlite:///path (default: the project's SQLite)."
    ),
]


def _nothing(message: str) -> None:
    print(f"phasegraph: {terminal_safe(message, one_line=True)}", file=sys.stderr)
    raise typer.Exit(ExitCode.NOTHING_TO_APPLY)


@app.command()
def diff(
    run_id: RunIdArgument,
    project_dir: ProjectDirOption = Path("."),
    checkpoint_url: CheckpointOption = None,
) -> None:
    """Print the unified diff of the code run RUN_ID wrote (its branch, base .. head)."""
    runner = Runner(load_settings(checkpoint_url=checkpoint_url))
    text = asyncio.run(runner.diff(run_id, project_dir))
    if not text:
        _nothing(f"run {run_id} wrote no code: nothing to show")
    # A terminal gets control characters a model wrote as escapes; a pipe (`| git apply`) gets the bytes.
    sys.stdout.write(terminal_safe(text) if sys.stdout.isatty() else text)
    sys.stdout.flush()


@app.command()
def apply(
    run_id: RunIdArgument,
    project_dir: ProjectDirOption = Path("."),
    checkpoint_url: CheckpointOption = None,
) -> None:
    """Bring the code run RUN_ID wrote into the project's working tree (cherry-pick, or a patch)."""
    runner = Runner(load_settings(checkpoint_url=checkpoint_url))
    outcome = asyncio.run(runner.apply(run_id, project_dir))
    if not outcome.applied:
        _nothing(f"nothing to apply: {outcome.message}")
    print(terminal_safe(outcome.message, one_line=True))
