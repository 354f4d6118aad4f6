"""What `kill -9` can repeat, exactly: an answer whose journal write committed is never asked again;
one that arrived but was not yet journaled is asked once more by `resume`. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.fake_openai import FakeOpenAI, FaultConfig
from orchestrator.checkpoint import open_persistence
from orchestrator.run import Runner
from orchestrator.settings import load_settings
from orchestrator.usage import CallUsage, UsageRecord

CHILD = Path(__file__).parent / "_crash_child.py"
NTH = 2
"""The child dies at its second call; with two handoffs per answer another call is usually in flight."""
PHASEGRAPH = str(Path(sys.executable).parent / "phasegraph")


def _settle(server: FakeOpenAI) -> None:
    """Until the server has answered (or dropped) every request it read from the dead process."""
    deadline = time.monotonic() + 60
    while any(r.t_end is None for r in server.requests):
        assert time.monotonic() < deadline, "a request of the killed run never ended"
        time.sleep(0.01)


async def _after_the_kill(url: str, project: Path, run_id: str) -> tuple[int, int | None, str]:
    """Answers journaled, pid of the lease row left behind, and the status `runs show` gives."""
    async with open_persistence(url, project) as pers:
        committed = await pers.journal(run_id).count()
        holder = await pers.registry.holder(run_id)
    shown = await Runner(load_settings(checkpoint_url=url)).show(run_id, project)
    return committed, holder.pid if holder else None, shown.status


@pytest.mark.slow
@pytest.mark.parametrize("where", ["journaled", "answer-read"])
def test_kill_9_repeats_exactly_the_answers_that_were_not_journaled(
    checkpoint_url: str, project: Path, tmp_path: Path, where: str
) -> None:
    run_id = "crash-" + secrets.token_hex(4)
    died_in = tmp_path / "died.txt"
    with FakeOpenAI(FaultConfig(latency_ms=100, array_items=2, seed=7)) as server:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PHASEGRAPH_", "OPENAI_"))},
            "OPENAI_API_KEY": "test-key",
            "OPENAI_BASE_URL": server.base_url,
            "PHASEGRAPH_LOG_LEVEL": "error",
        }
        child = subprocess.Popen(
            [sys.executable, str(CHILD), str(project), run_id, checkpoint_url, where, str(NTH), str(died_in)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        _, err = child.communicate(timeout=300)
        assert child.returncode == -signal.SIGKILL, err
        _settle(server)
        before = server.requests
        committed, left_by, shown = asyncio.run(_after_the_kill(checkpoint_url, project, run_id))
        resumed = subprocess.run(
            [
                PHASEGRAPH,
                "resume",
                run_id,
                "--project-dir",
                str(project),
                "--checkpoint-url",
                checkpoint_url,
                "--json",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        after = server.requests[len(before) :]
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "completed"
    assert left_by == child.pid, "the killed run left its lease behind, and resume took it over"
    assert shown == "paused", "a run whose process died shows where it stopped, not `running`"
    died_at = tuple(died_in.read_text().split())
    sent = {r.prompt_sha for r in before}
    assert len(sent) == len(before)
    repeated = [r for r in after if r.prompt_sha in sent]
    # Every request the dead process sent whose answer was not journaled is sent once more; no other is.
    assert len(repeated) == len(before) - committed
    assert len({r.prompt_sha for r in repeated}) == len(repeated)
    again = [r for r in repeated if (r.agent, r.phase) == died_at]
    assert len(again) == (0 if where == "journaled" else 1)


async def test_a_journal_write_is_committed_when_save_returns(checkpoint_url: str, project: Path) -> None:
    """Another connection sees the answer as soon as `save` returns: nothing is left to flush after it."""
    run_id = "journal-" + secrets.token_hex(4)
    usage = CallUsage(model="fake-model", prompt_tokens=10, completion_tokens=5)
    record = UsageRecord(agent="backend-python", phase="design", call=usage)
    async with open_persistence(checkpoint_url, project) as pers:
        await pers.journal(run_id).save(record, ("fingerprint", '{"answer": 1}'))
        assert await _seen_elsewhere(checkpoint_url, run_id) == ['{"answer": 1}']


async def _seen_elsewhere(url: str, run_id: str) -> list[str]:
    """The run's journaled answers, read over a connection of its own."""
    if url.startswith("sqlite:"):
        with sqlite3.connect(url.split(":///", 1)[1]) as conn:
            rows = conn.execute("SELECT raw FROM phasegraph_calls WHERE run_id = ?", (run_id,)).fetchall()
        return [row[0] for row in rows]
    import psycopg

    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute(
            "SELECT value FROM store WHERE prefix = %s", (f"phasegraph.calls.{run_id}",)
        )
        return [row[0]["raw"] for row in await cursor.fetchall()]
