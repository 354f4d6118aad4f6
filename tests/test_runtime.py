"""The runtime: what the runs of a process share (clients, connections, limiters, caches), and until when."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from benchmarks.fake_openai import FakeOpenAI, FaultConfig
from orchestrator import Orchestrator, Runtime
from orchestrator.cards import load_card
from orchestrator.providers._limits import shared_limiter
from orchestrator.providers.openai import OpenAIProvider
from orchestrator.run import Runner, RunOptions
from orchestrator.runtime import current_runtime
from orchestrator.settings import ModelPrice, load_settings
from orchestrator.usage import cost_of
from tests.conftest import LogCapture

TASK = "Add JWT authentication to the FastAPI notes service"
PRICES = {"fake-model": ModelPrice(input=0, cached_input=0, output=0)}


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every `AsyncOpenAI` client the OpenAI provider makes during the test."""
    made: list[Any] = []
    original = OpenAIProvider._new_client

    def spy(self: OpenAIProvider) -> Any:
        made.append(original(self))
        return made[-1]

    monkeypatch.setattr(OpenAIProvider, "_new_client", spy)
    return made


@pytest.fixture
def server() -> Any:
    with FakeOpenAI(FaultConfig(seed=1)) as running:
        yield running


def _runner(base_url: str) -> Runner:
    settings = load_settings(provider="openai", model="fake-model", openai_base_url=base_url, prices=PRICES)
    return Runner(settings)


def _options(project: Path, run_id: str) -> RunOptions:
    return RunOptions(task=TASK, project_dir=project, phases=["design"], run_id=run_id)


async def test_runs_on_one_loop_share_one_client_closed_when_the_runtime_ends(
    clean_env: None, project: Path, server: Any, clients: list[Any]
) -> None:
    async with Runtime():
        for run_id in ("first", "second"):
            result = await _runner(server.base_url).start(_options(project, run_id))
            assert result.status == "completed", result.message
        [client] = clients
        assert not client.is_closed()
    assert client.is_closed()


def test_the_default_runtime_closes_a_loops_clients_when_the_loop_shuts_down(
    clean_env: None, project: Path, server: Any, clients: list[Any]
) -> None:
    result = asyncio.run(_runner(server.base_url).start(_options(project, "once")))
    assert result.status == "completed", result.message
    [client] = clients
    assert client.is_closed()


def test_synchronous_runs_share_one_client(
    clean_env: None, project: Path, server: Any, clients: list[Any]
) -> None:
    orch = Orchestrator(provider="openai", model="fake-model", openai_base_url=server.base_url, prices=PRICES)
    for run_id in ("first", "second"):
        assert orch.run(TASK, project, phases="design", run_id=run_id).status == "completed"
    assert len(clients) == 1


async def test_clients_of_other_endpoints_share_one_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.providers import openai as openai_provider

    made: list[Any] = []
    original = openai_provider._tls_context

    def spy() -> Any:
        made.append(original())
        return made[-1]

    monkeypatch.setattr(openai_provider, "_tls_context", spy)
    async with Runtime():
        one = await OpenAIProvider(model="m", api_key="k", base_url="https://one.test/v1")._client()
        other = await OpenAIProvider(model="m", api_key="k", base_url="https://other.test/v1")._client()
    assert one is not other
    assert len(made) == 1


async def test_a_shared_resource_opens_once_and_closes_with_its_last_user() -> None:
    events: list[str] = []

    def opener(name: str) -> Callable[[], Awaitable[tuple[str, Callable[[], Awaitable[None]]]]]:
        async def open_it() -> tuple[str, Callable[[], Awaitable[None]]]:
            events.append(f"open {name}")

            async def close() -> None:
                events.append(f"close {name}")

            return name, close

        return open_it

    async with Runtime() as runtime:
        async with runtime.shared("db", opener("a")) as first, runtime.shared("db", opener("b")) as second:
            assert (first, second) == ("a", "a")
            assert events == ["open a"]
        assert events == ["open a", "close a"]
        async with runtime.shared("db", opener("c")) as third:
            assert third == "c"
    assert events == ["open a", "close a", "open c", "close c"]


async def test_each_runtime_has_its_own_limiters() -> None:
    outside = shared_limiter("openai:https://limits.test/v1", max_concurrency=2)
    async with Runtime():
        inside = shared_limiter("openai:https://limits.test/v1", max_concurrency=2)
        assert inside is shared_limiter("openai:https://limits.test/v1", max_concurrency=2)
    assert inside is not outside
    assert shared_limiter("openai:https://limits.test/v1", max_concurrency=2) is outside


async def test_an_unpriced_model_is_reported_once_per_runtime(logs: LogCapture) -> None:
    async with Runtime():
        for _ in range(2):
            cost_of("model-priced-nowhere", 10, 0, 10)
    async with Runtime():
        cost_of("model-priced-nowhere", 10, 0, 10)
    assert [e["event"] for e in logs.events] == ["usage.unpriced_model"] * 2


async def test_a_card_file_is_parsed_once_per_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    import orchestrator.cards as cards

    card = Path(__file__).resolve().parent.parent / "agents" / "backend-python.md"
    parsed: list[str] = []
    original = cards.parse_card

    def spy(text: bytes, source: str) -> Any:
        parsed.append(source)
        return original(text, source)

    monkeypatch.setattr(cards, "parse_card", spy)
    for _ in range(2):
        async with Runtime():
            assert load_card(card).id == load_card(card).id == "backend-python"
    assert parsed == [str(card), str(card)]


async def test_a_graph_is_built_once_per_shape() -> None:
    built: list[str] = []

    def build(shape: str) -> Callable[[], str]:
        def compile_it() -> str:
            built.append(shape)
            return shape

        return compile_it

    async with Runtime() as runtime:
        for shape in ("design", "design", "build"):
            assert runtime.graph(shape, build(shape)) == shape
    assert built == ["design", "build"]


async def test_runtimes_nest_and_the_outer_one_is_back_after_the_inner_block() -> None:
    default = current_runtime()
    async with Runtime() as outer:
        assert current_runtime() is outer
        async with Runtime() as inner:
            assert current_runtime() is inner
        assert current_runtime() is outer
    assert current_runtime() is default


async def test_a_closed_runtime_refuses_to_be_used() -> None:
    async with Runtime() as runtime:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        runtime.once("anything", object)
    with pytest.raises(RuntimeError, match="closed"):
        async with runtime:
            pass


async def test_closing_the_default_runtime_makes_a_fresh_default() -> None:
    closed = current_runtime()
    await closed.aclose()
    assert current_runtime() is not closed
    assert not current_runtime().closed


async def test_a_template_is_compiled_once_per_runtime_and_again_when_it_changes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import jinja2

    from orchestrator.prompts import PromptBook

    compiled: list[str | None] = []
    original = jinja2.Environment.compile

    def spy(self: jinja2.Environment, source: Any, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
        compiled.append(name)
        return original(self, source, name, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", spy)
    (tmp_path / "note.md.j2").write_text("Hello {{ who }}")
    async with Runtime():
        assert PromptBook([tmp_path]).render("note.md.j2", who="a") == "Hello a\n"
        assert PromptBook([tmp_path]).render("note.md.j2", who="b") == "Hello b\n"
        (tmp_path / "note.md.j2").write_text("Bye {{ who }}")
        assert PromptBook([tmp_path]).render("note.md.j2", who="c") == "Bye c\n"
    assert compiled == ["note.md.j2", "note.md.j2"]


async def test_a_requests_output_schema_is_built_once_per_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import BaseModel

    from orchestrator.providers.base import Message, ModelRequest

    class Answer(BaseModel):
        text: str

    built: list[str] = []
    original = Answer.model_json_schema

    def spy(*args: Any, **kwargs: Any) -> dict[str, Any]:
        built.append("schema")
        return original(*args, **kwargs)

    monkeypatch.setattr(Answer, "model_json_schema", spy)
    request = ModelRequest(messages=[Message(role="user", content="hi")], output_model=Answer)
    async with Runtime():
        first = request.fingerprint()
        request.normalised()["output_schema"]["title"] = "changed by a caller"
        assert request.fingerprint() == first
    assert built == ["schema"]


async def test_runs_of_one_shape_share_one_compiled_graph(
    clean_env: None, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import orchestrator._graph as graphs
    from orchestrator._nodes import GraphShape

    compiled: list[GraphShape] = []
    original = graphs.compile_graph

    def spy(shape: GraphShape, *args: Any, **kwargs: Any) -> Any:
        compiled.append(shape)
        return original(shape, *args, **kwargs)

    monkeypatch.setattr(graphs, "compile_graph", spy)
    runner = Runner(load_settings(provider="offline"))
    async with Runtime():
        results = [await runner.start(_options(project, run_id)) for run_id in ("first", "second")]
        results.append(await runner.start(RunOptions(task=TASK, project_dir=project, phases=["build"])))
    assert [r.status for r in results] == ["completed"] * 3
    assert [shape.phases for shape in compiled] == [("design",), ("build",)]
