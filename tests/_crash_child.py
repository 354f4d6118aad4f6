"""A run that `kill -9`s itself at an exact point of its N-th model call (tests of what a crash repeats).

    python tests/_crash_child.py PROJECT RUN_ID CHECKPOINT_URL WHERE N LOG

WHERE is `answer-read` (the N-th answer reached phasegraph, not yet journaled) or
`journaled` (the N-th answer's journal write has committed). Before dying it
appends `AGENT PHASE` of that call to LOG. The openai provider talks to
OPENAI_BASE_URL (the fake server).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from orchestrator.providers import make_provider
from orchestrator.providers.base import ModelRequest, ModelResponse, Provider, T
from orchestrator.run import Runner, RunOptions
from orchestrator.settings import load_settings

TASK = "Add JWT authentication to the FastAPI notes service"


def die(log: Path, agent: str, phase: str) -> None:
    with log.open("a") as handle:
        handle.write(f"{agent} {phase}\n")
    os.kill(os.getpid(), signal.SIGKILL)


class DiesOnAnswer(Provider):
    """The openai provider, except that the process dies as the N-th answer comes back."""

    def __init__(self, inner: Provider, n: int, log: Path) -> None:
        self.inner, self.n, self.log = inner, n, log
        self.name, self.model = inner.name, inner.model
        self.answers = 0

    async def complete(self, request: ModelRequest[T]) -> ModelResponse[T]:
        response = await self.inner.complete(request)
        self.answers += 1
        if self.answers == self.n:
            die(self.log, request.agent, request.phase)
        return response


def main(project: str, run_id: str, url: str, where: str, n: str, log: str) -> None:
    settings = load_settings(provider="openai", model="fake-model", checkpoint_url=url)
    provider = make_provider(settings)
    journaled = 0

    async def on_call(agent: str, phase: str) -> None:
        # Runs right after the journal write of a new answer has committed.
        nonlocal journaled
        journaled += 1
        if where == "journaled" and journaled == int(n):
            die(Path(log), agent, phase)

    if where == "answer-read":
        provider = DiesOnAnswer(provider, int(n), Path(log))
    runner = Runner(settings, provider=provider, on_call=on_call)
    asyncio.run(runner.start(RunOptions(task=TASK, project_dir=Path(project), run_id=run_id)))


if __name__ == "__main__":
    main(*sys.argv[1:7])
