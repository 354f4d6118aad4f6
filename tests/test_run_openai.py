"""The pipeline against the real openai client: respx at the HTTP layer, and a real kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from benchmarks.fake_openai import FakeOpenAI, FaultConfig
from orchestrator.catalog import Catalog
from orchestrator.phases import card_deliverables, load_pipeline
from orchestrator.run import Runner, RunOptions
from orchestrator.settings import load_settings
from tests.conftest import fitting_completion

TASK = "Add JWT authentication to the FastAPI notes service"
BASE = "http://127.0.0.1:9/v1"
PHASEGRAPH = str(Path(sys.executable).parent / "phasegraph")


def _completion(request: httpx.Request) -> httpx.Response:
    """An OpenAI chat.completion whose content fits the request's JSON schema; 400 tokens cached."""
    response: httpx.Response = fitting_completion(request, cached=400)
    return response


def _runner(**settings: Any) -> Runner:
    """A runner on the real OpenAI provider; its httpx client is the one respx intercepts."""
    from orchestrator.providers import make_provider

    configured = load_settings(provider="openai", openai_base_url=BASE, **settings)
    return Runner(configured, provider=make_provider(configured, http_client=httpx.AsyncClient()))


@respx.mock
async def test_openai_run_completes_and_usage_is_what_the_server_reported(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    route = respx.post(f"{BASE}/chat/completions").mock(side_effect=_completion)
    result = await _runner(model="gpt-4o-mini").start(RunOptions(task=TASK, project_dir=project))
    assert result.status == "completed", result.message
    assert result.usage.calls == route.call_count
    assert result.usage.prompt_tokens == 1000 * route.call_count
    assert result.usage.cached_tokens == 400 * route.call_count
    assert result.usage.cost_usd > 0
    catalog = Catalog.load(project_dir=project)
    for phase in result.phases:
        spec = load_pipeline("default").phase(phase.key)
        for agent in phase.agents:
            assert [d.name for d in agent.deliverables] == card_deliverables(catalog.get(agent.id), spec)
    headers = route.calls[0].request.headers
    assert headers["X-Phasegraph-Phase"] == "design"
    assert "sk-test-not-a-real-key" not in (Path(result.run_dir) / "manifest.json").read_text()


@respx.mock
async def test_openai_handoffs_stay_inside_the_schema_enum(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    route = respx.post(f"{BASE}/chat/completions").mock(side_effect=_completion)
    result = await _runner().start(RunOptions(task=TASK, project_dir=project, phases=["design"]))
    catalog = Catalog.load(project_dir=project)
    primary = result.phases[0].primary
    assert primary is not None
    sent: dict[str, Any] = json.loads(route.calls[0].request.content)
    enum = sent["response_format"]["json_schema"]["schema"]["$defs"]
    to = next(d["properties"]["to"] for d in enum.values() if "to" in d.get("properties", {}))
    assert set(to["enum"]) <= set(catalog.resolve_collaborators(catalog.get(primary)))
    assert [a.id for a in result.phases[0].agents if a.handed_off_by == primary] == to["enum"][:2]
    for agent in result.phases[0].agents:
        if agent.handed_off_by not in (None, primary):
            handing = catalog.get(agent.handed_off_by)
            assert agent.id in catalog.resolve_collaborators(handing)


def _wait_for_kill_point(server: FakeOpenAI, done_needed: int, timeout: float = 60.0) -> None:
    """Until `done_needed` calls answered, one is in flight, and the last answer is 0.15 s old.

    The quiet gap guarantees the client has journaled every answer it received,
    so any repeat after the kill would be phasegraph's fault, not the race's.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = server.requests
        done = [r for r in log if r.status == 200 and r.t_end is not None]
        flying = [r for r in log if r.t_end is None]
        if len(done) >= done_needed and flying and time.monotonic() - max(r.t_end or 0 for r in done) > 0.15:
            return
        time.sleep(0.01)
    raise AssertionError(f"never reached {done_needed} answered calls with one in flight")


@pytest.mark.slow
@pytest.mark.parametrize("killed_after", [1, 4])
def test_kill_9_during_a_model_call_then_resume_repeats_no_completed_call(
    project: Path, killed_after: int
) -> None:
    with FakeOpenAI(FaultConfig(latency_ms=400, array_items=1, seed=7)) as server:
        env = {
            **os.environ,
            "OPENAI_API_KEY": "test-key",
            "OPENAI_BASE_URL": server.base_url,
            "PHASEGRAPH_LOG_LEVEL": "error",
        }
        common = ["--project-dir", str(project), "--json", "--quiet"]
        run = subprocess.Popen(
            [
                PHASEGRAPH,
                "run",
                TASK,
                "--provider",
                "openai",
                "--model",
                "fake-model",
                "--run-id",
                "killed",
                *common,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        _wait_for_kill_point(server, killed_after)
        os.kill(run.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        run.wait(timeout=10)
        answered = {
            r.prompt_sha
            for r in server.requests
            if r.status == 200 and r.t_end is not None and r.t_end <= killed_at
        }
        resumed = subprocess.run(
            [PHASEGRAPH, "resume", "killed", *common], env=env, capture_output=True, text=True, timeout=120
        )
        assert resumed.returncode == 0, resumed.stderr
        after = [r for r in server.requests if r.t_start > killed_at]
        assert after, "the resumed run made the calls that were still missing"
        assert [r for r in after if r.prompt_sha in answered] == []
    manifest = json.loads(resumed.stdout)
    assert manifest["status"] == "completed"
    run_dir = Path(manifest["run_dir"])
    catalog = Catalog.load(project_dir=project)
    pipeline = load_pipeline("default")
    for phase in manifest["phases"]:
        for agent in phase["agents"]:
            listed = card_deliverables(catalog.get(agent["id"]), pipeline.phase(phase["key"]))
            assert [d["name"] for d in agent["deliverables"]] == listed
            for d in agent["deliverables"]:
                assert (run_dir / d["path"]).stat().st_size > 0
    on_disk = sorted(
        p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*.md") if p.name != "report.md"
    )
    in_manifest = sorted(
        d["path"] for ph in manifest["phases"] for a in ph["agents"] for d in a["deliverables"]
    )
    assert on_disk == in_manifest
