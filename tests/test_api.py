"""The Python API: `Orchestrator` (sync, async, events) and the notebook `Run` handle, offline."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import orchestrator
from orchestrator import (
    BudgetExceeded,
    ConfigError,
    Event,
    GateFailed,
    NotFound,
    Orchestrator,
    PhaseResult,
    Run,
    RunResult,
    Settings,
)
from orchestrator._log import configure_logging
from orchestrator._sync import run_sync
from orchestrator.routing import plan_json
from tests.conftest import ScriptedProvider

TASK = "Add JWT authentication to the FastAPI notes service"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_env_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("PHASEGRAPH_", "OPENAI_", "AZURE_OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def scripted(**kwargs: object) -> ScriptedProvider:
    return ScriptedProvider(handoffs=[], **kwargs)  # type: ignore[arg-type]


# The package surface


@pytest.mark.slow
def test_import_orchestrator_does_not_load_the_model_stack() -> None:
    code = (
        "import sys, orchestrator\n"
        "from orchestrator import Orchestrator, Run, RunResult, PhaseResult, Deliverable, Usage, AgentCard, "
        "Catalog, PhaseSpec, Pipeline, Route, Event, PhasegraphError\n"
        "print(sorted(m for m in ('langgraph', 'openai', 'langchain_core') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]"


def test_every_public_name_resolves() -> None:
    for name in orchestrator.__all__:
        assert getattr(orchestrator, name) is not None


def test_unknown_setting_is_an_error_not_ignored() -> None:
    with pytest.raises(ConfigError, match="unknown setting 'max_usdd'"):
        Orchestrator(max_usdd=1)


def test_bad_setting_value_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="setting max_usd:"):
        Orchestrator(max_usd=-1)


def test_overrides_apply_on_top_of_a_settings_object() -> None:
    base = Settings(model="gpt-4.1-mini", max_tokens=1000)
    orch = Orchestrator(settings=base, max_usd=0.25, provider="replay", pipeline="full")
    assert (orch.settings.model, orch.settings.max_tokens) == ("gpt-4.1-mini", 1000)
    assert (orch.settings.max_usd, orch.settings.provider, orch.settings.pipeline) == (0.25, "replay", "full")


def test_a_chat_model_selects_the_langchain_provider() -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    orch = Orchestrator(chat_model=FakeListChatModel(responses=["{}"]))
    assert orch.settings.provider == "langchain"


# Looking before running


def test_plan_is_the_same_data_as_the_cli_plan(project: Path) -> None:
    from orchestrator.catalog import Catalog
    from orchestrator.phases import load_pipeline
    from orchestrator.project import ProjectSnapshot
    from orchestrator.routing import Router, plan

    planned = Orchestrator().plan(TASK, project)
    router = Router(Catalog.load(project_dir=project), ProjectSnapshot.scan(project))
    pipeline = load_pipeline("default")
    assert planned.model_dump(mode="json") == plan_json(pipeline, plan(router, TASK, pipeline))
    assert "| 2 design | `backend-python` | primary |" in planned._repr_markdown_()


def test_route_gives_the_primary_with_its_reasons(project: Path) -> None:
    route = Orchestrator().route(TASK, project, phase="7")
    assert route.phase == "verify" and route.primary == "backend-python"
    assert route.candidates[0].reasons


def test_plan_of_a_missing_project_dir_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a directory"):
        Orchestrator().plan(TASK, tmp_path / "nope")


# Running


def test_run_returns_the_manifest_as_a_model(project: Path) -> None:
    result = Orchestrator(provider="offline").run(TASK, project)
    assert isinstance(result, RunResult) and result.status == "completed"
    on_disk = json.loads((Path(result.run_dir) / "manifest.json").read_text())
    assert result.model_dump(mode="json", exclude={"run_dir"}) == on_disk


def test_deliverables_read_as_text_by_phase_agent_and_name(project: Path) -> None:
    result = Orchestrator(provider=scripted()).run(TASK, project, phases=["design"])
    text = result["design"].deliverables["backend-python"]["Authentication strategy"]
    assert "Authentication strategy" in text
    assert "<!-- /phasegraph -->" not in text
    assert result.phase("2") is result["design"]


def test_sync_run_works_inside_a_running_event_loop(project: Path) -> None:
    async def notebook_cell() -> RunResult:
        return Orchestrator(provider="offline").run(TASK, project, phases="design")

    assert asyncio.run(notebook_cell()).status == "completed"


async def test_arun_and_run_give_the_same_result(project: Path) -> None:
    orch = Orchestrator(provider="offline")
    a = await orch.arun(TASK, project, phases=["design"])
    b = orch.run(TASK, project, phases=["design"])

    def shape(r: RunResult) -> object:
        clock = {"__all__": {"call": {"started_at", "latency_s"}}}
        return r.model_dump(mode="json", exclude={"run_id": True, "run_dir": True, "calls": clock})

    assert shape(a) == shape(b)


def test_a_given_provider_instance_answers_every_call(project: Path) -> None:
    provider = scripted()
    result = Orchestrator(provider=provider).run(TASK, project, phases=["design"])
    assert len(provider.requests) == result.usage.calls == 1


def test_callbacks_see_the_run_unfold_in_order(project: Path) -> None:
    seen: list[Event] = []
    Orchestrator(provider="offline", on_event=seen.append).run(TASK, project)
    kinds = [e.kind for e in seen]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert [e.phase for e in seen if e.kind == "phase_started"] == ["design", "build", "verify"]
    selected = next(e for e in seen if e.kind == "agent_selected")
    assert selected.agent == "backend-python" and selected.data["reasons"]
    written = next(e for e in seen if e.kind == "deliverable_written")
    assert written.data["path"].startswith("design/")
    usage = [e for e in seen if e.kind == "usage"]
    assert usage[-1].data["total"]["calls"] >= 1
    assert {e.run_id for e in seen} == {seen[0].run_id}


def test_sync_callbacks_run_in_the_calling_thread(project: Path) -> None:
    threads: set[int] = set()
    own: list[Event] = []
    orch = Orchestrator(provider="offline", on_event=lambda e: threads.add(threading.get_ident()))
    orch.run(TASK, project, phases="design", on_event=own.append)
    assert threads == {threading.get_ident()}
    assert own and own[-1].kind == "run_finished"


def test_an_exception_in_a_callback_reaches_the_caller_and_the_run_stays_resumable(project: Path) -> None:
    def stop_at_build(event: Event) -> None:
        if event.kind == "phase_started" and event.phase == "build":
            raise KeyboardInterrupt

    orch = Orchestrator(provider="offline")
    with pytest.raises(KeyboardInterrupt):
        orch.run(TASK, project, run_id="interrupted", on_event=stop_at_build)
    assert orch.show("interrupted", project).phases[0].status == "completed"
    assert orch.resume("interrupted", project).status == "completed"


def test_a_failing_callback_raises_its_own_error(project: Path) -> None:
    def broken(event: Event) -> None:
        raise ValueError("callback bug")

    with pytest.raises(ValueError, match="callback bug"):
        Orchestrator(provider="offline").run(TASK, project, phases="design", on_event=broken)


async def test_astream_yields_every_event_and_ends_with_run_finished(project: Path) -> None:
    kinds = [e.kind async for e in Orchestrator(provider="offline").astream(TASK, project, phases=["design"])]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert "agent_selected" in kinds and "deliverable_written" in kinds


async def test_leaving_astream_early_cancels_the_run_which_resumes_later(project: Path) -> None:
    orch = Orchestrator(provider="offline")
    async for event in orch.astream(TASK, project, run_id="early"):
        if event.kind == "gate_passed":
            break
    done = await orch.aresume("early", project)
    assert done.status == "completed"


async def test_astream_raises_when_the_run_cannot_start(project: Path) -> None:
    with pytest.raises(NotFound, match="unknown pipeline"):
        async for _ in Orchestrator().astream(TASK, project, pipeline="nope"):
            pass


def test_events_iterates_synchronously(project: Path) -> None:
    events = list(Orchestrator(provider="offline").events(TASK, project, phases="verify"))
    assert events[0].kind == "run_started" and events[-1].kind == "run_finished"
    assert events[-1].data["status"] == "completed"


def test_until_then_resume(project: Path) -> None:
    orch = Orchestrator(provider="offline")
    first = orch.run(TASK, project, until="design")
    assert [p.status for p in first.phases] == ["completed", "pending", "pending"]
    assert orch.resume(first.run_id, project).status == "completed"


def test_approve_and_reject_through_the_api(project: Path) -> None:
    provider = scripted()
    orch = Orchestrator(provider=provider)
    paused = orch.run(TASK, project, approval_gates=True)
    again = orch.reject(paused.run_id, project, reason="Use sessions, not JWT.")
    assert again.phases[0].status == "paused"
    after = orch.approve(paused.run_id, project, feedback="Prefer RS256 keys.")
    assert after.phases[1].status == "paused"
    build_prompt = next(r for r in provider.requests if r.phase == "build").messages[-1].content
    assert "Prefer RS256 keys." in build_prompt


def test_verify_from_a_run_writes_junit(project: Path, tmp_path: Path) -> None:
    orch = Orchestrator(provider="offline")
    first = orch.run(TASK, project, phases="design,build")
    junit = tmp_path / "verify.xml"
    result = orch.verify(project, from_run=first.run_id, junit=junit)
    assert [p.key for p in result.phases] == ["verify"] and result.status == "completed"
    assert "<testsuite " in junit.read_text()


def test_verify_refuses_two_sources(project: Path) -> None:
    with pytest.raises(ConfigError, match="either from_run or from_artifacts"):
        Orchestrator().verify(project, from_run="a", from_artifacts=project)


def test_runs_lists_what_ran(project: Path) -> None:
    orch = Orchestrator(provider="offline")
    orch.run(TASK, project, phases="design", run_id="listed")
    assert "listed" in {row["run_id"] for row in orch.runs(project)}


# Stepping


def test_start_creates_a_run_id_and_runs_nothing(project: Path) -> None:
    provider = scripted()
    run = Orchestrator(provider=provider).start(TASK, project)
    assert isinstance(run, Run) and run.run_id
    assert run.status == "not started" and run.result is None
    assert run.phases == ["design", "build", "verify"]
    assert provider.requests == []
    with pytest.raises(NotFound):
        Orchestrator().show(run.run_id, project)


def test_next_runs_one_phase_at_a_time(project: Path) -> None:
    provider = scripted()
    run = Orchestrator(provider=provider).start(TASK, project)
    stepped = [run.next() for _ in range(3)]
    assert [p.key for p in stepped] == ["design", "build", "verify"]
    assert all(isinstance(p, PhaseResult) and p.status == "completed" for p in stepped)
    assert [r.phase for r in provider.requests] == ["design", "build", "verify"]
    assert run.status == "completed"
    with pytest.raises(ConfigError, match="has run every phase"):
        run.next()


def test_a_phase_renders_as_markdown_with_reasons_excerpts_and_usage(project: Path) -> None:
    phase = Orchestrator(provider="offline").start(TASK, project).next()
    text = phase._repr_markdown_()
    assert text.startswith("### Phase 2 · Design — completed")
    assert "**Primary:** `backend-python` — tech `FastAPI`" in text
    assert "    > Offline output for “Authentication strategy”" in text
    assert "_brief:_" in text
    assert "_usage: " in text


def test_attach_continues_a_run_after_a_restart(project: Path) -> None:
    run = Orchestrator(provider="offline").start(TASK, project)
    run.next()
    reopened = Orchestrator.attach(run.run_id, project_dir=project, provider="offline")
    assert reopened.run_id == run.run_id and reopened.task == TASK
    assert [p.status for p in reopened.result.phases] == ["completed", "pending", "pending"]  # type: ignore[union-attr]
    assert reopened.next().key == "build"
    assert "`run.next()` runs phase `verify`" in reopened._repr_markdown_()


def test_attach_to_an_unknown_run_is_not_found(project: Path) -> None:
    with pytest.raises(NotFound, match="run 'ghost' not found"):
        Orchestrator.attach("ghost", project_dir=project)


def test_stepping_with_approval_gates(project: Path) -> None:
    provider = scripted()
    run = Orchestrator(provider=provider).start(TASK, project, approval_gates=True)
    assert run.next().status == "paused" and run.waiting == "design"
    with pytest.raises(ConfigError, match="waits for approval"):
        run.next()
    assert run.reject("Use sessions, not JWT.").status == "paused"
    approved = run.approve(feedback="Prefer RS256 keys.")
    assert approved.key == "design" and approved.status == "completed"
    assert {r.phase for r in provider.requests} == {"design"}, "approving runs nothing else"
    build = run.next()
    assert build.key == "build" and run.waiting == "build"
    assert "Prefer RS256 keys." in provider.requests[-1].messages[-1].content


def test_approve_when_nothing_waits_is_an_error(project: Path) -> None:
    run = Orchestrator(provider="offline").start(TASK, project)
    with pytest.raises(ConfigError, match="not waiting for approval"):
        run.approve()


def test_a_failed_gate_comes_back_as_the_phase_and_next_raises(project: Path) -> None:
    run = Orchestrator(provider=scripted(force={"authentication_strategy": "TBD"})).start(TASK, project)
    design = run.next()
    assert design.status == "failed"
    assert design.missing == {"backend-python": ["Authentication strategy"]}
    with pytest.raises(GateFailed, match="Authentication strategy"):
        run.next()


def test_a_budget_stop_raises_and_a_bigger_budget_resumes(project: Path) -> None:
    run = Orchestrator(provider="offline", max_tokens=1).start(TASK, project)
    with pytest.raises(BudgetExceeded):
        run.next()
    again = Orchestrator.attach(run.run_id, project_dir=project, provider="offline")
    assert again.next().key == "design"
    assert again.result is not None and again.result.phases[0].status == "completed"


def test_a_sync_call_from_the_worker_loop_is_refused() -> None:
    async def nested() -> None:
        async def inner() -> None:
            return None

        run_sync(inner())

    with pytest.raises(RuntimeError, match="use the async API"):
        run_sync(nested())


def test_log_settings_given_to_the_orchestrator_apply(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        Orchestrator(provider="offline", log_level="info", log_format="json").run(
            TASK, project, phases="design"
        )
        records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        configure_logging()
    selected = [r for r in records if r["event"] == "agent_selected"]
    assert selected and selected[0]["agent"] == "backend-python" and selected[0]["phase"] == "design"


def test_a_chat_model_passed_as_provider_is_a_clear_error() -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    with pytest.raises(ConfigError, match="pass a LangChain chat model as chat_model="):
        Orchestrator(provider=FakeListChatModel(responses=["{}"]))  # type: ignore[arg-type]
