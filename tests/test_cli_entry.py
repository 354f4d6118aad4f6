"""The console script: what a `phasegraph` process imports, and what it asks of the garbage collector.

How long start-up and exit take is measured in benchmarks/bench_startup.py; these check their causes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE

ROOT = Path(__file__).resolve().parent.parent

_ENTRY = """
import gc, sys
sys.argv = ["phasegraph", *sys.argv[1:]]
from orchestrator.cli import entry
try:
    entry()
except SystemExit:
    pass
print(gc.isenabled(), gc.get_freeze_count() > 0, [m for m in ("langgraph", "openai") if m in sys.modules])
"""


def _entry(*args: str, cwd: Path) -> str:
    """After `phasegraph ARGS` through `entry()`: collector on? anything frozen? which stacks loaded?"""
    done = subprocess.run(
        [sys.executable, "-c", _ENTRY, *args], capture_output=True, text=True, cwd=cwd, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def test_the_console_script_is_entry() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'phasegraph = "orchestrator.cli:entry"' in pyproject


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("agents", "list", "--json"), "True True []"),
        (("runs", "list", "--json"), "True True ['langgraph']"),
        (
            ("run", "Add JWT auth", "--provider", "offline", "--phases", "design", "--json"),
            "True True ['langgraph']",
        ),
    ],
    ids=["agents", "runs", "offline-run"],
)
def test_a_command_runs_with_the_collector_on_and_only_the_stacks_it_needs(
    args: tuple[str, ...], expected: str, tmp_path: Path
) -> None:
    project = shutil.copytree(EXAMPLE, tmp_path / "project", ignore=shutil.ignore_patterns(".phasegraph"))
    assert _entry(*args, "--project-dir", str(project), cwd=tmp_path) == expected
