"""Benchmarks: every module imports, and the helpers that turn logs into numbers are right.

No benchmark is run here (they take minutes); `make bench` runs them.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

from benchmarks import _common as c
from benchmarks import _standard
from benchmarks.fake_openai import FakeOpenAI, FaultConfig

MODULES = [
    "benchmarks.__main__",
    "benchmarks.bench_startup",
    "benchmarks.bench_overhead",
    "benchmarks.bench_critical_path",
    "benchmarks.bench_tokens",
    "benchmarks.bench_prefix",
    "benchmarks.bench_resilience",
    "benchmarks.bench_crash",
    "benchmarks.bench_scale",
    "benchmarks.bench_peers",
    "benchmarks.bench_usage",
    "benchmarks.bench_workspace",
    "benchmarks.bench_workers",
]


@pytest.mark.parametrize("name", MODULES)
def test_benchmark_module_imports_and_has_an_entry_point(name: str) -> None:
    module = importlib.import_module(name)
    assert callable(module.main)
    if name != "benchmarks.__main__":
        assert callable(module.run)


@dataclass
class Entry:
    """The fields of a fake-server RequestLog that the helpers read."""

    phase: str
    agent: str
    t_start: float
    t_end: float
    status: int = 200


@pytest.mark.parametrize(
    ("calls", "length", "chain"),
    [
        ([], 0.0, []),
        ([c.Call("a", 1.0)], 1.0, ["a"]),
        ([c.Call("a", 1.0), c.Call("b", 2.0, ("a",)), c.Call("c", 0.5, ("b",))], 3.5, ["a", "b", "c"]),
        (
            [c.Call("p", 0.3), *(c.Call(f"h{i}", 0.3 + i / 100, ("p",)) for i in range(3)), c.Call("n", 0.3)],
            0.62,
            ["p", "h2"],
        ),
        ([c.Call("a", 1.0), c.Call("b", 1.0), c.Call("j", 1.0, ("a", "b"))], 2.0, ["a", "j"]),
    ],
)
def test_critical_path_is_the_longest_dependent_chain(
    calls: list[c.Call], length: float, chain: list[str]
) -> None:
    got_length, got_chain = c.critical_path(calls)
    assert got_length == pytest.approx(length)
    assert got_chain == chain


def test_critical_path_refuses_a_cycle() -> None:
    with pytest.raises(ValueError, match="cycle"):
        c.critical_path([c.Call("a", 1, ("b",)), c.Call("b", 1, ("a",))])


@pytest.mark.parametrize(
    ("intervals", "longest"),
    [
        ([], 0.0),
        ([(0, 1), (1, 2), (2, 3)], 3.0),
        ([(0, 1), (0, 1), (0, 1), (1, 2)], 2.0),
        ([(0, 10), (1, 2), (3, 4)], 10.0),
        ([(0, 1), (0.5, 3), (3, 4)], 3.5),
    ],
)
def test_interval_chain_is_the_longest_non_overlapping_sequence(
    intervals: list[tuple[float, float]], longest: float
) -> None:
    assert c.interval_chain(intervals) == pytest.approx(longest)


def _manifest(*phases: tuple[str, list[tuple[str, str | None]]]) -> dict[str, object]:
    return {
        "phases": [
            {
                "key": key,
                "agents": [
                    {
                        "id": a,
                        "handed_off_by": by,
                        "deliverables": [{"name": f"{a} doc", "path": f"{key}/{a}.md"}],
                    }
                    for a, by in agents
                ],
            }
            for key, agents in phases
        ]
    }


def test_phase_calls_chain_handoffs_inside_a_phase_and_phases_one_after_another() -> None:
    manifest = _manifest(
        ("design", [("lead", None), ("db", "lead"), ("sec", "lead"), ("deep", "db")]),
        ("build", [("lead", None)]),
    )
    log = [
        Entry("design", "lead", 0.0, 0.3),
        Entry("design", "db", 0.4, 0.7),
        Entry("design", "sec", 0.4, 0.8),
        Entry("design", "deep", 0.8, 1.1),
        Entry("build", "lead", 1.2, 1.5),
        Entry("build", "lead", 1.0, 1.0, status=429),
    ]
    calls = c.phase_calls(manifest, log)
    assert {k.key: k.after for k in calls} == {
        "design/lead/0": (),
        "design/db/0": ("design/lead/0",),
        "design/sec/0": ("design/lead/0",),
        "design/deep/0": ("design/db/0",),
        "build/lead/0": ("design/lead/0", "design/db/0", "design/sec/0", "design/deep/0"),
    }
    length, chain = c.critical_path(calls)
    assert length == pytest.approx(1.2)
    assert chain == ["design/lead/0", "design/db/0", "design/deep/0", "build/lead/0"]


def test_waves_make_a_collaborator_wait_for_its_whole_handoff_level() -> None:
    manifest = _manifest(("design", [("lead", None), ("db", "lead"), ("sec", "lead"), ("deep", "db")]))
    log = [
        Entry("design", "lead", 0.0, 0.3),
        Entry("design", "db", 0.4, 0.7),
        Entry("design", "sec", 0.4, 2.0),
        Entry("design", "deep", 2.1, 2.4),
    ]
    assert c.critical_path(c.phase_calls(manifest, log))[0] == pytest.approx(1.9)
    waves = {k.key: k.after for k in c.phase_calls(manifest, log, waves=True)}
    assert waves["design/deep/0"] == ("design/db/0", "design/sec/0")
    assert c.critical_path(c.phase_calls(manifest, log, waves=True))[0] == pytest.approx(2.2)


def test_retried_attempts_fold_into_one_call_from_first_request_to_answer() -> None:
    from benchmarks.bench_resilience import logical_calls

    log = [
        Entry("design", "lead", 0.0, 0.0, status=429),
        Entry("design", "lead", 1.0, 1.1, status=500),
        Entry("design", "lead", 2.0, 2.3),
        Entry("build", "lead", 2.5, 2.8),
    ]
    spans = [(s.phase, s.t_start, s.t_end) for s in logical_calls(log)]
    assert spans == [("design", 0.0, 2.3), ("build", 2.5, 2.8)]


def test_a_repair_call_waits_for_the_whole_phase_before_it() -> None:
    manifest = _manifest(("design", [("lead", None), ("db", "lead")]))
    log = [Entry("design", "lead", 0, 1), Entry("design", "db", 1, 3), Entry("design", "lead", 3, 4)]
    calls = {k.key: k.after for k in c.phase_calls(manifest, log)}
    assert calls["design/lead/1"] == ("design/lead/0",)
    assert c.critical_path(c.phase_calls(manifest, log))[0] == pytest.approx(3.0)


def test_manifest_shape_lists_phase_agent_and_deliverable_names() -> None:
    manifest = _manifest(("design", [("lead", None), ("db", "lead")]))
    assert c.manifest_shape(manifest) == [("design", "lead", ("lead doc",)), ("design", "db", ("db doc",))]


def test_deliverables_on_disk_counts_only_non_empty_files(tmp_path: Path) -> None:
    manifest = _manifest(("design", [("lead", None), ("db", "lead")]))
    (tmp_path / "design").mkdir()
    (tmp_path / "design" / "lead.md").write_text("text")
    (tmp_path / "design" / "db.md").write_text("")
    assert c.deliverables_on_disk(tmp_path, manifest) == (2, 1)


@pytest.mark.parametrize("agent", _standard.agents())
def test_standard_cards_are_the_seed_cards_size(agent: str) -> None:
    seed = len(_standard.SEED.read_text(encoding="utf-8"))
    assert abs(len(_standard.standard_card(agent)) - seed) / seed < 0.05


def test_standard_cards_give_the_issue_s_roles() -> None:
    from orchestrator.cards import parse_card

    cards = {a: parse_card(_standard.standard_card(a).encode()) for a in _standard.agents()}
    assert [x.id for x in cards["backend-python"].collaborators] == ["database-specialist", "security-expert"]
    for step in _standard.STEPS:
        label = {"design": "2", "build": "5b", "verify": "7"}[step.phase]
        assert list(step.deliverables) == cards[step.agent].deliverables[label]


def test_standard_project_routes_as_the_standard_set_up(tmp_path: Path) -> None:
    from orchestrator.catalog import Catalog
    from orchestrator.phases import load_pipeline
    from orchestrator.project import ProjectSnapshot
    from orchestrator.routing import Router

    project = _standard.write_project(tmp_path / "p")
    router = Router(Catalog.load(project_dir=project), ProjectSnapshot.scan(project))
    pipeline = load_pipeline("default", project_dir=project)
    plan = {key: router.route(_standard.TASK, pipeline.phase(key)) for key in ("design", "build", "verify")}
    assert {k: r.primary for k, r in plan.items()} == {
        "design": "backend-python",
        "build": "backend-python",
        "verify": "qa-automation",
    }
    assert plan["design"].collaborators == ["database-specialist", "security-expert"]


def test_fake_server_calls_each_offered_tool_once_then_answers() -> None:
    tools = [
        {"type": "function", "function": {"name": n, "parameters": {"type": "object", "properties": {}}}}
        for n in ("transfer_to_a", "transfer_to_b")
    ]
    messages: list[dict[str, object]] = [{"role": "user", "content": "go"}]
    names: list[str | None] = []
    with FakeOpenAI(FaultConfig(call_tools=True)) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        for _ in range(3):
            answer = client.chat.completions.create(model="m", messages=messages, tools=tools)  # type: ignore[arg-type]
            message = answer.choices[0].message
            if not message.tool_calls:
                names.append(None)
                break
            call = message.tool_calls[0]
            names.append(call.function.name)  # type: ignore[union-attr]
            messages.append(message.model_dump(exclude_none=True))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": "done"})
        client.close()
        log = server.requests
    assert names == ["transfer_to_a", "transfer_to_b", None]
    assert log[1].prompt_tokens > log[0].prompt_tokens


def test_fake_server_ignores_tools_unless_asked() -> None:
    tools = [
        {"type": "function", "function": {"name": "t", "parameters": {"type": "object", "properties": {}}}}
    ]
    with FakeOpenAI(FaultConfig()) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        answer = client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "go"}],
            tools=tools,  # type: ignore[arg-type]
        )
        client.close()
    assert answer.choices[0].message.tool_calls is None
    assert json.dumps(answer.choices[0].message.content)


async def test_concurrent_runs_on_a_fresh_project_all_complete(tmp_path: Path) -> None:
    """The scale benchmark's set-up in small: many runs open one fresh SQLite file at once."""
    import asyncio

    from orchestrator.run import Runner, RunOptions
    from orchestrator.settings import load_settings

    project = _standard.write_project(tmp_path / "p", standard_cards=False)
    runner = Runner(load_settings(provider="offline"))
    results = await asyncio.gather(
        *(
            runner.start(
                RunOptions(task=_standard.TASK, project_dir=project, run_id=f"r{i}", phases=["design"])
            )
            for i in range(8)
        )
    )
    assert [r.status for r in results] == ["completed"] * 8


class _Killed(BaseException):
    """Stands in for kill -9: nothing after it runs, no handler catches it."""


async def test_resume_continues_after_a_crash_between_a_steps_writes_and_its_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the crash benchmark: a run killed after a handoff's answer was saved as a pending
    write, but before the next checkpoint, has no `next` task; resume must still continue it."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    from orchestrator.run import Runner, RunOptions
    from orchestrator.settings import load_settings
    from tests.conftest import ScriptedProvider

    project = _standard.write_project(tmp_path / "p", standard_cards=False)
    provider = ScriptedProvider(handoffs=["database-specialist"])
    runner = Runner(load_settings(provider="offline"), provider=provider)
    original = AsyncSqliteSaver.aput

    async def dies_at_step_4(
        self: AsyncSqliteSaver, config: Any, checkpoint: Any, metadata: Any, versions: Any
    ) -> Any:
        if metadata.get("step") == 4:
            raise _Killed
        return await original(self, config, checkpoint, metadata, versions)

    monkeypatch.setattr(AsyncSqliteSaver, "aput", dies_at_step_4)
    with pytest.raises(_Killed):
        await runner.start(RunOptions(task=_standard.TASK, project_dir=project, run_id="killed"))
    monkeypatch.setattr(AsyncSqliteSaver, "aput", original)
    asked = [(r.phase, r.agent) for r in provider.requests]
    # qa-automation is a required collaborator of the task ("verify it with pytest"): the plan
    # consults it beside the handoff the answer asked for.
    assert asked[0] == ("design", "backend-python")
    assert sorted(asked[1:]) == [("design", "database-specialist"), ("design", "qa-automation")]

    resumed = await runner.resume("killed", project)

    assert resumed.status == "completed"
    assert [p.status for p in resumed.phases] == ["completed"] * 3
    assert [(r.phase, r.agent) for r in provider.requests].count(("design", "database-specialist")) == 1


@pytest.mark.parametrize(
    ("prefix", "cached"), [(0, 0), (1023, 0), (1024, 1024), (1151, 1024), (1152, 1152), (5000, 4992)]
)
def test_prefix_benchmark_caches_what_openai_would(prefix: int, cached: int) -> None:
    from benchmarks.bench_prefix import cacheable

    assert cacheable(prefix) == cached


def test_prefix_benchmark_reads_the_schema_before_the_messages_and_finds_the_longest_shared_start() -> None:
    from benchmarks.bench_prefix import serialized, shared_prefix

    def body(schema: str, system: str, user: str) -> dict[str, Any]:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return {"response_format": {"name": schema}, "messages": messages}

    first = serialized(body("A", "card", "design this"))
    same_schema = serialized(body("A", "card", "build that"))
    other_schema = serialized(body("B", "card", "design this"))
    assert first.index("card") > first.index('"A"')
    assert shared_prefix(same_schema, [other_schema, first]).endswith("<|user|>")
    assert shared_prefix(other_schema, [first]) == '{"name":"'


# -- usage under faults ---------------------------------------------------------------------------------


def _billed(index: int, agent: str, tokens: tuple[int, int], start: float, **fields: Any) -> Any:
    from benchmarks.fake_openai import RequestLog

    entry = RequestLog(index, "POST", "/v1/chat/completions", start, start + 0.1, 200, agent=agent)
    entry.phase, entry.billed, entry.prompt_sha = "design", True, f"sha-{agent}"
    entry.prompt_tokens, entry.completion_tokens = tokens
    for name, value in fields.items():
        setattr(entry, name, value)
    return entry


def _record(agent: str, tokens: tuple[int, int], unanswered: int = 0) -> dict[str, Any]:
    call = {"prompt_tokens": tokens[0], "completion_tokens": tokens[1], "unanswered_attempts": unanswered}
    return {"agent": agent, "phase": "design", "call": call}


def test_usage_benchmark_compares_calls_tokens_and_hangs_with_the_manifest() -> None:
    from benchmarks import bench_usage as b

    log = [
        _billed(0, "a", (100, 10), 1.0),
        _billed(1, "b", (0, 0), 1.0, billed=False, status=429),
        _billed(2, "b", (0, 0), 1.2, billed=False, status=None, hung=True),
        _billed(3, "b", (50, 5), 2.5, fault="refusal"),
    ]
    server = b.server_count(log)
    usage = {"calls": 2, "prompt_tokens": 150, "completion_tokens": 15, "unanswered_attempts": 1}
    assert server == {"requests": 4, "billed": 2, "prompt_tokens": 150, "completion_tokens": 15, "hung": 1}
    assert b.equal(server, b.manifest_count(usage))
    assert not b.equal(server, b.manifest_count({**usage, "unanswered_attempts": 0}))


def test_usage_benchmark_names_the_billed_answer_the_ledger_lacks_and_what_ended_its_run() -> None:
    """A parallel call answered after a sibling's unusable answer ended the invocation: the older of
    two identical answers is the one missing (the newer is the resume asking it again)."""
    from benchmarks import bench_usage as b

    log = [
        _billed(0, "a", (100, 10), 1.0, fault="malformed"),
        _billed(1, "b", (80, 8), 0.95, t_end=1.2),
        _billed(2, "a", (100, 12), 3.0),
        _billed(3, "b", (80, 8), 3.0),
    ]
    invocations = [b.Invocation(3, 0.5, 2.0), b.Invocation(0, 2.5, 4.0)]
    records = [_record("a", (100, 10)), _record("a", (100, 12)), _record("b", (80, 8))]
    [missing] = b.unrecorded(log, records, invocations)
    assert (missing["index"], missing["invocation"], missing["exit"]) == (1, 1, 3)
    assert missing["stopper"] == "malformed answer to design/a"
    assert missing["asked_again"] is True
    assert missing["after_stop_s"] == pytest.approx(0.1)


def test_usage_benchmark_matches_hung_requests_to_unanswered_attempts() -> None:
    from benchmarks import bench_usage as b

    hung = {"billed": False, "hung": True, "status": None, "t_end": None}
    log = [_billed(0, "a", (0, 0), 1.0, **hung), _billed(1, "a", (0, 0), 2.0, **hung)]
    log.append(_billed(2, "a", (100, 10), 3.0))
    invocations = [b.Invocation(0, 0.5, 4.0)]
    assert b.unrecorded(log, [_record("a", (100, 10), unanswered=2)], invocations) == []
    [missing] = b.unrecorded(log, [_record("a", (100, 10), unanswered=1)], invocations)
    assert (missing["index"], missing["what"]) == (0, "hung request")


@pytest.mark.usefixtures("clean_env")
async def test_a_refused_answer_in_a_run_is_counted_as_the_server_billed_it(tmp_path: Path) -> None:
    """End to end in small: the server's billing record and the manifest agree on a refusal."""
    from benchmarks import bench_usage as b
    from orchestrator.run import Runner, RunOptions

    c.quiet_logging()  # the refusal's warning would go to a stream an earlier test closed
    project = _standard.write_project(tmp_path / "p", standard_cards=False)
    with FakeOpenAI(FaultConfig(rate_refusal=1.0)) as server:
        runner = Runner(c.settings_for(server.base_url))
        result = await runner.start(RunOptions(task=_standard.TASK, project_dir=project, run_id="r"))
        log = c.chat_calls(server.requests)
    assert (result.status, result.error_type) == ("failed", "Refused")
    assert b.server_count(log)["billed"] == 1
    assert b.equal(b.server_count(log), b.manifest_count(result.usage.model_dump()))
