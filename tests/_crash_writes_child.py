"""A run that `kill -9`s itself in its first writing turn (tests of what resume makes of it).

    python tests/_crash_writes_child.py PROJECT RUN_ID WHERE

WHERE is `before-commit` (the turn's files are written, its commit is not made) or
`after-commit` (the commit is made, the turn's checkpoint is not written).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import orchestrator._writes
import orchestrator.changes
from orchestrator.run import Runner, RunOptions
from orchestrator.settings import load_settings
from tests._writing import TASK, writing_provider


def die(*_: Any, **__: Any) -> Any:
    os.kill(os.getpid(), signal.SIGKILL)


def main(project: str, run_id: str, where: str) -> None:
    if where == "before-commit":
        orchestrator.changes._stage = die
    else:
        commit_turn = orchestrator.changes.commit_turn

        def commit_then_die(*args: Any, **kwargs: Any) -> Any:
            commit_turn(*args, **kwargs)
            die()

        setattr(orchestrator._writes, "commit_turn", commit_then_die)  # noqa: B010 (not exported)
    runner = Runner(load_settings(provider="offline"), provider=writing_provider())
    options = RunOptions(task=TASK, project_dir=Path(project), run_id=run_id, phases="design,build")
    asyncio.run(runner.start(options))


if __name__ == "__main__":
    main(*sys.argv[1:4])
