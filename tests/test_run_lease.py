"""One writer per run: start, resume, approve and reject take the run's lease; show and list never do."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from benchmarks.fake_openai import FakeOpenAI, FaultConfig
from orchestrator.checkpoint import open_persistence
from orchestrator.errors import RunLocked
from orchestrator.providers.base import ModelRequest, ModelResponse, T
from orchestrator.registry import Owner
from orchestrator.run import Runner, RunOptions
from orchestrator.settings import load_settings
from tests.conftest import ScriptedProvider, invoke_cli

TASK = "Add JWT authentication to the FastAPI notes service"
HOLDER_SCRIPT = Path(__file__).parent / "_lease_holder.py"
PHASEGRAPH = str(Path(sys.executable).parent / "phasegraph")
ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
STUCK_S = 120
"""Only so that a second writer stuck beside the first fails the test instead of hanging it."""


def new_run_id() -> str:
    return "one-writer-" + secrets.token_hex(4)


class GatedProvider(ScriptedProvider):
    """Scripted answers; while `gate` is closed, a call waits in it (and says so through `waiting`)."""

    __test__ = False

    def __init__(self) -> None:
        super().__init__(handoffs=[])
        self.gate = asyncio.Event()
        self.gate.set()
        self.waiting = asyncio.Event()

    async def complete(self, request: ModelRequest[T]) -> ModelResponse[T]:
        if not self.gate.is_set():
            self.waiting.set()
            await self.gate.wait()
        return await super().complete(request)


@contextmanager
def held_elsewhere(url: str, project: Path, run_id: str) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the run's lease until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, str(HOLDER_SCRIPT), url, str(project), run_id],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == f"got {proc.pid}\n"
        yield proc
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=60)


async def test_two_resumes_of_one_run_in_one_process_advance_it_once(
    checkpoint_url: str, project: Path
) -> None:
    provider = GatedProvider()
    runner = Runner(load_settings(provider="offline", checkpoint_url=checkpoint_url), provider=provider)
    run_id = new_run_id()
    await runner.start(RunOptions(task=TASK, project_dir=project, until="design", run_id=run_id))
    provider.gate.clear()
    both = {asyncio.create_task(runner.resume(run_id, project)) for _ in range(2)}
    first, still = await asyncio.wait(both, timeout=STUCK_S, return_when=asyncio.FIRST_COMPLETED)
    assert first, "both resumes are waiting inside a model call: both are advancing the run"
    refused = first.pop().exception()
    assert isinstance(refused, RunLocked)
    assert re.fullmatch(
        rf"run {run_id} is being advanced by {os.getpid()} on .+ since {ISO_UTC}", str(refused)
    )
    provider.gate.set()
    done = await still.pop()
    assert done.status == "completed"
    fingerprints = [r.fingerprint() for r in provider.requests]
    assert len(fingerprints) == len(set(fingerprints))
    async with open_persistence(checkpoint_url, project) as pers:
        assert await pers.journal(run_id).count() == len(fingerprints)


async def test_approve_and_reject_take_the_lease_too(checkpoint_url: str, project: Path) -> None:
    provider = GatedProvider()
    runner = Runner(load_settings(provider="offline", checkpoint_url=checkpoint_url), provider=provider)
    run_id = new_run_id()
    await runner.start(RunOptions(task=TASK, project_dir=project, approval_gates=True, run_id=run_id))
    provider.gate.clear()
    approving = asyncio.create_task(runner.decide(run_id, project, approve=True))
    await provider.waiting.wait()
    with pytest.raises(RunLocked):
        await asyncio.wait_for(runner.decide(run_id, project, approve=False, text="Use sessions."), STUCK_S)
    provider.gate.set()
    assert (await approving).status == "paused"


async def test_a_start_with_a_run_id_that_is_being_advanced_is_refused(
    checkpoint_url: str, project: Path
) -> None:
    run_id = new_run_id()
    provider = ScriptedProvider(handoffs=[])
    runner = Runner(load_settings(provider="offline", checkpoint_url=checkpoint_url), provider=provider)
    with (
        held_elsewhere(checkpoint_url, project, run_id) as other,
        pytest.raises(RunLocked, match=f"by {other.pid}"),
    ):
        await runner.start(RunOptions(task=TASK, project_dir=project, run_id=run_id))
    assert provider.requests == []


async def test_a_run_whose_lease_was_taken_over_stops_instead_of_advancing(
    checkpoint_url: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import orchestrator.lease

    monkeypatch.setattr(orchestrator.lease, "RENEW_EVERY_S", 0.01)
    provider = GatedProvider()
    runner = Runner(load_settings(provider="offline", checkpoint_url=checkpoint_url), provider=provider)
    run_id = new_run_id()
    await runner.start(RunOptions(task=TASK, project_dir=project, until="design", run_id=run_id))
    provider.gate.clear()
    resuming = asyncio.create_task(runner.resume(run_id, project))
    await provider.waiting.wait()
    async with open_persistence(checkpoint_url, project) as pers:
        # As if this process had stalled past its expiry and a worker elsewhere took the run over.
        await pers.registry.claim(
            run_id, Owner("other", 4242, "worker-3", "another-node"), 600, lambda h, n: True
        )
    with pytest.raises(RunLocked, match=rf"^run {run_id}: this process lost its lease to 4242 on worker-3"):
        await asyncio.wait_for(resuming, STUCK_S)
    assert {r.phase for r in provider.requests} == {"design"}, "its first build call never got an answer"


async def test_show_reads_a_run_while_another_process_advances_it(checkpoint_url: str, project: Path) -> None:
    provider = GatedProvider()
    settings = load_settings(provider="offline", checkpoint_url=checkpoint_url)
    run_id = new_run_id()
    await Runner(settings, provider=provider).start(
        RunOptions(task=TASK, project_dir=project, until="design", run_id=run_id)
    )
    provider.gate.clear()
    resuming = asyncio.create_task(Runner(settings, provider=provider).resume(run_id, project))
    await provider.waiting.wait()
    shown = await Runner(settings).show(run_id, project)
    listed = {row["run_id"]: row for row in await Runner(settings).list(project)}
    provider.gate.set()
    assert (await resuming).status == "completed"
    assert shown.status == "running" and shown.error_type is None
    assert re.fullmatch(
        rf"run {run_id} is being advanced by {os.getpid()} on .+ since {ISO_UTC}", shown.message
    )
    assert listed[run_id]["status"] == "running"


def _fake_env(monkeypatch: pytest.MonkeyPatch, server: FakeOpenAI) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)


@pytest.mark.slow
@pytest.mark.usefixtures("clean_env")
def test_a_second_resume_exits_2_naming_the_holder_and_calls_no_model(
    checkpoint_url: str, project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = new_run_id()
    common = ["--project-dir", str(project), "--checkpoint-url", checkpoint_url, "--json", "--quiet"]
    with FakeOpenAI(FaultConfig(array_items=1)) as server:
        _fake_env(monkeypatch, server)
        started = ["run", TASK, "--provider", "openai", "--model", "fake-model", "--until", "design"]
        code, _, err = invoke_cli(capsys, monkeypatch, *started, "--run-id", run_id, *common)
        assert code == 0, err
        asked = len(server.requests)
        with held_elsewhere(checkpoint_url, project, run_id) as other:
            code, out, err = invoke_cli(capsys, monkeypatch, "resume", run_id, *common)
            assert code == 2 and out == ""
            host = re.escape(socket.gethostname())
            holder = rf"run {run_id} is being advanced by {other.pid} on {host} since {ISO_UTC}"
            assert re.fullmatch(rf"phasegraph: error: {holder}\n", err)
            assert len(server.requests) == asked
        code, out, err = invoke_cli(capsys, monkeypatch, "resume", run_id, *common)
        assert code == 0, err
        prompts = [r.prompt_sha for r in server.requests]
    assert len(prompts) > asked
    assert len(prompts) == len(set(prompts)) == json.loads(out)["usage"]["calls"]


@pytest.mark.slow
@pytest.mark.usefixtures("clean_env")
def test_resume_takes_over_from_a_process_that_was_killed_holding_the_run(
    checkpoint_url: str, project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = new_run_id()
    common = ["--project-dir", str(project), "--checkpoint-url", checkpoint_url, "--json", "--quiet"]
    code, _, err = invoke_cli(
        capsys, monkeypatch, "run", TASK, "--until", "design", "--run-id", run_id, *common
    )
    assert code == 0, err
    with held_elsewhere(checkpoint_url, project, run_id) as other:
        other.send_signal(signal.SIGKILL)
        other.wait(timeout=60)
    code, out, err = invoke_cli(capsys, monkeypatch, "resume", run_id, *common)
    assert code == 0, err
    assert json.loads(out)["status"] == "completed"


@pytest.mark.slow
def test_two_resume_processes_at_once_send_every_request_once(checkpoint_url: str, project: Path) -> None:
    """The issue's case: two `phasegraph resume RUN_ID` started together."""
    run_id = new_run_id()
    common = ["--project-dir", str(project), "--checkpoint-url", checkpoint_url, "--json", "--quiet"]
    with FakeOpenAI(FaultConfig(latency_ms=300, array_items=1)) as server:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PHASEGRAPH_", "OPENAI_"))},
            "OPENAI_API_KEY": "test-key",
            "OPENAI_BASE_URL": server.base_url,
            "PHASEGRAPH_LOG_LEVEL": "error",
        }
        started = [
            PHASEGRAPH,
            "run",
            TASK,
            "--provider",
            "openai",
            "--model",
            "fake-model",
            "--until",
            "design",
        ]
        first = subprocess.run(
            [*started, "--run-id", run_id, *common],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert first.returncode == 0, first.stderr
        resumes = [
            subprocess.Popen(
                [PHASEGRAPH, "resume", run_id, *common],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        said = [p.communicate(timeout=300) for p in resumes]
        outcomes = [(p.returncode, out, err) for p, (out, err) in zip(resumes, said, strict=True)]
        prompts = [r.prompt_sha for r in server.requests]
    assert len(prompts) == len(set(prompts))
    assert sorted(code for code, _, _ in outcomes) in ([0, 0], [0, 2])
    for code, out, err in outcomes:
        if code == 2:
            assert re.fullmatch(
                rf"phasegraph: error: run {run_id} is being advanced by \d+ on .+ since {ISO_UTC}\n", err
            )
        else:
            assert json.loads(out)["status"] == "completed"
