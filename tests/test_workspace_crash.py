"""`kill -9` inside a writing turn: resume leaves the workspace at a consistent commit, the turn's
commit neither lost nor made twice, and the journaled answer reused without a new model call."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.providers.base import ModelRequest, ModelResponse, Provider, T
from orchestrator.run import Runner
from orchestrator.settings import load_settings
from orchestrator.workspace import workspace_dir
from tests._writing import code_for, git, make_git_project, tree_digest, writing_provider

CHILD = Path(__file__).parent / "_crash_writes_child.py"
ROOT = Path(__file__).resolve().parent.parent


class Counting(Provider):
    """The writing provider, counting the calls each (agent, phase) makes."""

    def __init__(self) -> None:
        self.inner = writing_provider()
        self.name, self.model, self.billed = self.inner.name, self.inner.model, False
        self.calls: list[tuple[str, str]] = []

    async def complete(self, request: ModelRequest[T]) -> ModelResponse[T]:
        self.calls.append((request.agent, request.phase))
        return await self.inner.complete(request)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["before-commit", "after-commit"])
def test_kill_9_in_a_writing_turn_then_resume_is_consistent(tmp_path: Path, where: str) -> None:
    repo = make_git_project(tmp_path / "notes")
    before = tree_digest(repo)
    run_id = "crash-writes"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHASEGRAPH_", "OPENAI_"))}
    env["PYTHONPATH"] = str(ROOT)
    child = subprocess.run(
        [sys.executable, str(CHILD), str(repo), run_id, where], env=env, capture_output=True, text=True
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    ws_root = workspace_dir(repo.resolve(), run_id)
    branch = f"phasegraph/{run_id}"
    if where == "before-commit":
        assert "src/backend-python.py" in git(ws_root, "status", "--porcelain", "--untracked-files=all")
    else:
        assert git(ws_root, "log", "-1", "--format=%an", branch).strip() == "backend-python"

    provider = Counting()
    result = asyncio.run(Runner(load_settings(provider="offline"), provider=provider).resume(run_id, repo))
    assert result.status == "completed", result.message
    assert ("backend-python", "build") not in provider.calls
    assert git(ws_root, "status", "--porcelain", "--untracked-files=all") == ""
    authors = git(ws_root, "log", "--format=%an", f"{result.workspace.base}..{branch}").split()  # type: ignore[union-attr]
    agents = [a.id for a in result.phase("build").agents]
    assert sorted(authors) == sorted(agents)
    for agent in agents:
        assert (ws_root / "src" / f"{agent}.py").read_text() == code_for(agent)
    primary = next(a for a in result.phase("build").agents if a.id == "backend-python")
    assert primary.commit is not None and primary.commit in git(ws_root, "log", "--format=%H", branch)
    assert tree_digest(repo) == before
