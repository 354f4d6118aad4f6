"""The `phasegraph` command line.

Each command group lives in its own module and registers itself on `app`. Commands
that need no model (agents, route, plan, config) must not import the model stack,
so heavy imports stay inside the command functions.
"""

from __future__ import annotations

import sys

import typer

from orchestrator._terminal import terminal_safe
from orchestrator.errors import PhasegraphError, exit_code

app = typer.Typer(
    name="phasegraph",
    help="Run a software task through Design -> Build -> Verify with agents chosen by their cards.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_COMMAND_MODULES = ("agents", "run", "routing", "config")


def _register() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        importlib.import_module(f"orchestrator.cli.{name}")


def main() -> None:
    """Console-script entry point: one line and a documented exit code per user error."""
    _register()
    try:
        app()
    except PhasegraphError as exc:
        print(f"phasegraph: error: {terminal_safe(str(exc), one_line=True)}", file=sys.stderr)
        sys.exit(exit_code(exc))
    except KeyboardInterrupt:
        print("phasegraph: interrupted", file=sys.stderr)
        sys.exit(130)
