"""`runs show` and `runs list` read a run without its provider and report the outcome its manifest has."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from orchestrator.errors import ProviderTimeout
from orchestrator.providers.base import ModelRequest, ModelResponse, T
from orchestrator.result import RunResult
from orchestrator.run import Runner, RunOptions
from orchestrator.settings import load_settings
from tests.conftest import ScriptedProvider, invoke_cli
from tests.test_run_openai import _completion

TASK = "Add JWT authentication to the FastAPI notes service"
BASE = "http://127.0.0.1:9/v1"


class TimesOutInBuild(ScriptedProvider):
    """Scripted answers, until the build phase: there every call times out (after the retry policy)."""

    __test__ = False

    async def complete(self, request: ModelRequest[T]) -> ModelResponse[T]:
        if request.phase == "build":
            raise ProviderTimeout(f"{request.describe()}: no answer within 60 s, 6 attempts")
        return await super().complete(request)


OUTCOMES: dict[str, tuple[dict[str, Any], dict[str, Any], Callable[[], ScriptedProvider]]] = {
    "completed": ({}, {}, lambda: ScriptedProvider(handoffs=[])),
    "stopped by --until": ({}, {"until": "design"}, lambda: ScriptedProvider(handoffs=[])),
    "awaiting approval": ({}, {"approval_gates": True}, lambda: ScriptedProvider(handoffs=[])),
    "gate failed": ({}, {}, lambda: ScriptedProvider(force={"authentication_strategy": "TBD"}, handoffs=[])),
    "budget exceeded": ({"max_tokens": 1}, {}, lambda: ScriptedProvider(handoffs=[])),
    "provider timed out": ({}, {}, lambda: TimesOutInBuild(handoffs=[])),
}
"""Case -> settings, run options, and the provider that leads to that outcome."""


def _manifest(result: RunResult) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((Path(result.run_dir) / "manifest.json").read_text())
    return loaded


def _outcome(run: dict[str, Any] | RunResult) -> tuple[Any, ...]:
    data = run.model_dump(mode="json") if isinstance(run, RunResult) else run
    return data["status"], data["error_type"], data["message"]


@pytest.mark.parametrize("case", list(OUTCOMES))
async def test_show_and_list_report_the_outcome_the_manifest_has(project: Path, case: str) -> None:
    limits, options, provider = OUTCOMES[case]
    ran = await Runner(load_settings(provider="offline", **limits), provider=provider()).start(
        RunOptions(task=TASK, project_dir=project, **options)
    )
    manifest = _manifest(ran)
    reader = Runner(load_settings())
    shown = await reader.show(ran.run_id, project)
    listed = {row["run_id"]: row for row in await reader.list(project)}[ran.run_id]
    assert _outcome(shown) == _outcome(manifest)
    assert (listed["status"], listed["error_type"]) == (manifest["status"], manifest["error_type"])


async def test_a_failed_run_stays_failed_in_show_until_a_resume_changes_it(project: Path) -> None:
    runner = Runner(load_settings(provider="offline"), provider=TimesOutInBuild(handoffs=[]))
    failed = await runner.start(RunOptions(task=TASK, project_dir=project))
    assert (failed.status, failed.error_type) == ("failed", "ProviderTimeout")
    assert (await Runner(load_settings()).show(failed.run_id, project)).status == "failed"
    resumed = await Runner(load_settings(provider="offline"), provider=ScriptedProvider(handoffs=[])).resume(
        failed.run_id, project
    )
    shown = await Runner(load_settings()).show(failed.run_id, project)
    assert _outcome(shown) == _outcome(resumed) == ("completed", None, "")


async def test_list_takes_recorded_outcomes_without_opening_the_runs(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import orchestrator._session

    for limits in ({}, {"max_tokens": 1}):
        await Runner(
            load_settings(provider="offline", **limits), provider=ScriptedProvider(handoffs=[])
        ).start(RunOptions(task=TASK, project_dir=project))

    def no_graph(*args: object) -> None:
        raise AssertionError("runs list opened a run whose outcome is recorded")

    monkeypatch.setattr(orchestrator._session, "read_only_session", no_graph)
    rows = await Runner(load_settings()).list(project)
    assert sorted(row["status"] for row in rows) == ["budget_exceeded", "completed"]


@respx.mock
@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize(
    ("answer", "status", "error_type"),
    [
        (_completion, "completed", None),
        (
            lambda _: httpx.Response(401, json={"error": {"message": "bad key", "type": "x"}}),
            "failed",
            "AuthenticationFailed",
        ),
    ],
    ids=["completed", "401"],
)
def test_runs_show_and_list_of_an_openai_run_need_no_api_key(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    answer: Any,
    status: str,
    error_type: str | None,
) -> None:
    from orchestrator.providers import make_provider

    route = respx.post(f"{BASE}/chat/completions").mock(side_effect=answer)
    with_key = load_settings(provider="openai", openai_base_url=BASE, openai_api_key="sk-test-not-a-real-key")
    runner = Runner(with_key, provider=make_provider(with_key, http_client=httpx.AsyncClient()))
    ran = asyncio.run(runner.start(RunOptions(task=TASK, project_dir=project)))
    manifest = _manifest(ran)
    assert (manifest["provider"], manifest["status"], manifest["error_type"]) == (
        "openai",
        status,
        error_type,
    )
    asked = route.call_count
    code, out, err = invoke_cli(
        capsys, monkeypatch, "runs", "show", ran.run_id, "--project-dir", str(project), "--json"
    )
    assert code == 0, err
    assert _outcome(json.loads(out)) == _outcome(manifest)
    code, out, err = invoke_cli(capsys, monkeypatch, "runs", "list", "--project-dir", str(project), "--json")
    assert code == 0, err
    [row] = json.loads(out)
    assert (row["status"], row["error_type"]) == (status, error_type)
    assert route.call_count == asked
