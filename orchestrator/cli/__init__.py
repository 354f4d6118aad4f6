"""The `phasegraph` command line.

Each command group lives in its own module and registers itself on `app`. Commands
that need no model (agents, route, plan, config) must not import the model stack,
so heavy imports stay inside the command functions.

The console script is `entry()`: `main()` in a process of its own, which also sets up
logging and keeps the garbage collector out of start-up and exit (see `entry`).
`main()` alone is what tests call in-process.
"""

from __future__ import annotations

import atexit
import gc
import importlib
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

_COMMAND_MODULES = ("agents", "run", "routing", "config", "workspace", "worker")

_GRAPH = ("orchestrator.run", "orchestrator._graph", "orchestrator.checkpoint")
PRELOADED: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("run", "verify", "resume", "approve", "reject"), _GRAPH),
    **dict.fromkeys(("runs", "apply", "diff"), ("orchestrator.run", "orchestrator.checkpoint")),
}
"""What a command needs whatever its options: the commands that advance a run build its graph;
`runs` reads checkpoints. Provider stacks are not in it: they depend on the settings."""


def _register() -> None:
    for name in _COMMAND_MODULES:
        importlib.import_module(f"orchestrator.cli.{name}")


def main() -> None:
    """Run the command in `sys.argv`: one line and a documented exit code per user error."""
    from orchestrator._log import configure_logging

    configure_logging()
    _register()
    try:
        app()
    except PhasegraphError as exc:
        print(f"phasegraph: error: {terminal_safe(str(exc), one_line=True)}", file=sys.stderr)
        sys.exit(exit_code(exc))
    except KeyboardInterrupt:
        print("phasegraph: interrupted", file=sys.stderr)
        sys.exit(130)


def entry() -> None:
    """The `phasegraph` console script.

    Importing the model stack builds a few hundred thousand objects that live as long as
    the process; the collector would walk them again and again while they load (about
    0.2 s of start-up) and once more while the interpreter tears them down (about 0.4 s
    between the run's last answer and the exit). So the collector is off while the
    command's modules import, and everything they built is then frozen out of it
    (`gc.freeze`); at exit everything is frozen again before the teardown. Objects the
    command creates afterwards are collected as usual.
    """
    gc.disable()
    atexit.register(gc.freeze)
    try:
        _register()
        for module in PRELOADED.get(sys.argv[1] if len(sys.argv) > 1 else "", ()):
            importlib.import_module(module)
    finally:
        gc.freeze()
        gc.enable()
    main()
