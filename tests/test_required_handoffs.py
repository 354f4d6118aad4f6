"""Planned handoffs are kept: required collaborators are consulted even when no answer hands off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from benchmarks.fake_openai import FakeOpenAI, FaultConfig
from orchestrator._phase import plan_brief
from orchestrator.run import Runner, RunOptions
from orchestrator.settings import load_settings
from tests.conftest import ScriptedProvider

TASK = "Add JWT auth to the FastAPI notes service with a PostgreSQL migration and a security threat model"
REQUIRED = ["database-specialist", "security-expert"]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(FaultConfig(array_items=0, string_words=4, text_words=8)) as fake:
        yield fake


def _runner(server: FakeOpenAI, **settings: object) -> Runner:
    from orchestrator.providers import make_provider

    configured = load_settings(provider="openai", openai_base_url=server.base_url, **settings)
    return Runner(configured, provider=make_provider(configured, http_client=httpx.AsyncClient()))


async def test_answers_that_hand_off_to_nobody_still_consult_every_required_collaborator(
    server: FakeOpenAI, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    _, planned = _runner(server).plan(TASK, project)
    assert [p.required_collaborators for p in planned] == [REQUIRED] * 3
    result = await _runner(server).start(RunOptions(task=TASK, project_dir=project, phases=["design"]))
    assert result.status == "completed", result.message
    design = result.phase("design")
    consulted = {a.id: (a.role, a.handed_off_by, a.by) for a in design.agents}
    assert consulted == {
        "backend-python": ("primary", None, None),
        "database-specialist": ("collaborator", "backend-python", "plan"),
        "security-expert": ("collaborator", "backend-python", "plan"),
    }
    brief = next(a.brief for a in design.agents if a.id == "security-expert")
    assert TASK in brief and "backend-python did not hand off to you" in brief


async def test_a_handoff_the_answer_asked_for_is_marked_by_model_and_not_repeated(project: Path) -> None:
    provider = ScriptedProvider(handoffs=["database-specialist"])
    result = await Runner(load_settings(), provider=provider).start(
        RunOptions(task=TASK, project_dir=project, phases=["design"])
    )
    by = {a.id: a.by for a in result.phase("design").agents if a.role == "collaborator"}
    assert by["database-specialist"] == "model"
    assert by["security-expert"] == "plan"
    assert [a.id for a in result.phase("design").agents].count("database-specialist") == 1


async def test_without_handoffs_allowed_the_plan_adds_none(project: Path) -> None:
    result = await Runner(load_settings(max_handoff_depth=0), provider=ScriptedProvider()).start(
        RunOptions(task=TASK, project_dir=project, phases=["design"])
    )
    assert [a.id for a in result.phase("design").agents] == ["backend-python"]


def test_the_plans_brief_names_the_task_and_the_primarys_deliverables() -> None:
    brief = plan_brief("Add auth", "lead", ["Design notes", "Risks"])
    assert "Task: Add auth." in brief and "lead delivered: Design notes, Risks." in brief
