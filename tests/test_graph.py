"""The pipeline graph: node names, the typed run state, and one compiled graph for many runs."""

from __future__ import annotations

import asyncio
import typing
from pathlib import Path

import pytest
from langgraph.types import StateSnapshot
from pydantic import BaseModel

import orchestrator._session
from orchestrator import routing
from orchestrator._graph import CompiledGraph, compile_graph
from orchestrator._nodes import GraphShape, NodeKind, node, parse_node, phase_of
from orchestrator._session import _status, read_only_session
from orchestrator.checkpoint import Persistence, open_persistence
from orchestrator.phases import load_pipeline
from orchestrator.result import PhaseResult
from orchestrator.run import Runner, RunOptions
from orchestrator.settings import load_settings
from orchestrator.state import CandidateRecord, ReasonRecord, RouteRecord, RunState
from tests.conftest import ScriptedProvider

TASKS = ("Add JWT authentication to the FastAPI notes service", "Add CSV export of notes to the FastAPI API")


@pytest.mark.parametrize("phase", ["design", "build", "plan-tests"])
@pytest.mark.parametrize("kind", list(NodeKind))
def test_a_node_name_reads_back_as_its_phase_and_kind(phase: str, kind: NodeKind) -> None:
    assert parse_node(node(phase, kind)) == (phase, kind)
    assert phase_of(node(phase, kind)) == phase


@pytest.mark.parametrize("name", ["__start__", "__interrupt__", "design", "design.nope", ".gate", "gate"])
def test_names_that_are_no_phase_node_read_back_as_none(name: str) -> None:
    assert parse_node(name) is None
    assert phase_of(name) is None


@pytest.mark.parametrize(
    ("record", "model"),
    [(RouteRecord, routing.Route), (CandidateRecord, routing.Candidate), (ReasonRecord, routing.Reason)],
)
def test_state_records_have_the_fields_of_the_models_they_are_dumped_from(
    record: type, model: type[BaseModel]
) -> None:
    assert set(typing.get_type_hints(record)) == set(model.model_fields)


def test_the_graph_has_one_channel_per_state_key_and_no_other(project: Path) -> None:
    pipeline = load_pipeline("default", project_dir=project)
    graph = compile_graph(GraphShape.of(pipeline, [p.key for p in pipeline.phases], approval_gates=True))
    channels = {c for c in graph.channels if not c.startswith(("__", "branch:"))}
    assert channels == set(typing.get_type_hints(RunState))


def test_the_graph_shape_is_the_phases_and_which_wait_for_approval(project: Path) -> None:
    pipeline = load_pipeline("default", project_dir=project)
    keys = [p.key for p in pipeline.phases]
    waiting = GraphShape.of(pipeline, keys, approval_gates=True)
    assert waiting.phases == tuple(keys)
    assert waiting.approval == frozenset(keys)
    assert GraphShape.of(pipeline, keys, approval_gates=False).approval == frozenset(
        p.key for p in pipeline.phases if p.gate == "approval"
    )
    graph = compile_graph(waiting)
    assert {phase_of(n) for n in graph.nodes if phase_of(n)} == set(keys)
    assert {n for n in graph.nodes if n.endswith(".approval")} == {node(k, NodeKind.APPROVAL) for k in keys}


async def test_one_compiled_graph_serves_concurrent_runs_of_its_shape(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing of a run is in its compiled graph: two runs through one graph keep their own
    run id, task, provider calls and artifacts folder."""
    compiled: dict[tuple[GraphShape, int], CompiledGraph] = {}
    real = orchestrator._session._compiled

    def shared(pers: Persistence, shape: GraphShape) -> CompiledGraph:
        key = (shape, id(pers.saver))
        if key not in compiled:
            compiled[key] = real(pers, shape)
        return compiled[key]

    monkeypatch.setattr(orchestrator._session, "_compiled", shared)
    provider = ScriptedProvider(handoffs=["security-expert"])
    runner = Runner(load_settings(provider="offline"), provider=provider)
    # Held open, the project's SQLite checkpointer is the same object for both runs.
    async with open_persistence(None, project):
        results = await asyncio.gather(
            *(runner.start(RunOptions(task=t, project_dir=project, until="design")) for t in TASKS)
        )
    assert len(compiled) == 1
    for result, task in zip(results, TASKS, strict=True):
        assert (result.status, result.task) == ("paused", task)
        asked = [r for r in provider.requests if r.run_id == result.run_id]
        assert {r.agent for r in asked} == {"backend-python", "security-expert"}
        assert all(task in r.messages[-1].content for r in asked if r.agent == "backend-python")
        written = [d.path for p in result.phases for a in p.agents for d in a.deliverables]
        assert written
        for rel in written:
            assert f"run {result.run_id}" in (Path(result.run_dir) / rel).read_text()


async def test_a_session_that_only_reads_cannot_advance_the_run(project: Path) -> None:
    ran = await Runner(load_settings(provider="offline"), provider=ScriptedProvider(handoffs=[])).start(
        RunOptions(task=TASKS[0], project_dir=project, until="design")
    )
    async with open_persistence(None, project) as pers:
        found = await pers.saver.aget_tuple({"configurable": {"thread_id": ran.run_id, "checkpoint_ns": ""}})
        assert found is not None
        values = typing.cast(RunState, found.checkpoint["channel_values"])
        session = read_only_session(load_settings(), pers, ran.run_id, values)
        assert (await session.result()).status == "paused"
        with pytest.raises(RuntimeError, match="read-only session"):
            await session.execute(None)


def test_a_run_stopped_before_its_first_node_stops_before_its_first_phase() -> None:
    """The input checkpoint of a run killed before its first step waits at LangGraph's own start node."""
    phases = [PhaseResult(key="design", label="2"), PhaseResult(key="build", label="3")]
    snapshot = StateSnapshot({}, ("__start__",), {}, None, None, None, (), ())
    assert _status(phases, snapshot, None) == (
        "paused",
        "stopped before phase design; `phasegraph resume` continues",
        None,
    )
