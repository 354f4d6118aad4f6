"""Cassettes: record a real provider once, replay it with no network; misses are loud."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx
from pydantic import BaseModel

from orchestrator.errors import ConfigError, ReplayMiss, SchemaViolation
from orchestrator.providers import Message, ModelRequest, OfflineProvider, make_provider
from orchestrator.providers._retry import RetryPolicy
from orchestrator.providers.replay import Cassette, RecordingProvider, ReplayProvider
from orchestrator.settings import load_settings

BASE_URL = "https://llm.test/v1"
API_KEY = "sk-record-secret-abcdef0123456789"


class Plan(BaseModel):
    steps: list[str]
    summary: str


ANSWER = {"steps": ["add /login", "sign JWTs"], "summary": "JWT auth in two steps."}


def ask(task: str = "Add JWT auth", agent: str = "architect", phase: str = "design") -> ModelRequest[Plan]:
    return ModelRequest(
        messages=[Message(role="system", content="You plan."), Message(role="user", content=task)],
        output_model=Plan,
        agent=agent,
        phase=phase,
    )


def completion_body(content: str) -> dict[str, object]:
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
        ],
        "usage": {
            "prompt_tokens": 50,
            "completion_tokens": 20,
            "total_tokens": 70,
            "prompt_tokens_details": {"cached_tokens": 10},
        },
    }


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


async def test_recorded_openai_run_replays_identically_without_network(
    api: respx.MockRouter, tmp_path: Path
) -> None:
    cassette = tmp_path / "cassettes" / "design.jsonl"
    route = api.post("/chat/completions").mock(
        return_value=httpx.Response(200, json=completion_body(json.dumps(ANSWER)))
    )
    settings = load_settings(provider="openai", openai_api_key=API_KEY, openai_base_url=BASE_URL)
    recorder = make_provider(
        settings, record_to=cassette, retry=RetryPolicy(), http_client=httpx.AsyncClient()
    )
    recorded = await recorder.complete(ask())
    await recorder.aclose()

    replayer = make_provider(load_settings(provider="replay", cassette=cassette))
    replayed = await replayer.complete(ask())

    assert route.call_count == 1
    assert replayed.output == recorded.output
    assert replayed.raw == recorded.raw
    assert (replayed.usage.prompt_tokens, replayed.usage.cached_tokens) == (50, 10)
    assert replayed.usage.cost_usd == 0.0
    line = json.loads(cassette.read_text(encoding="utf-8").splitlines()[0])
    assert line["hash"] == ask().fingerprint()
    assert (line["agent"], line["phase"]) == ("architect", "design")
    assert line["request"]["messages"][1] == {"role": "user", "content": "Add JWT auth"}
    assert API_KEY not in cassette.read_text(encoding="utf-8")
    assert "authorization" not in cassette.read_text(encoding="utf-8").lower()


async def test_replay_miss_names_the_hash_agent_and_phase(tmp_path: Path) -> None:
    cassette = tmp_path / "run.jsonl"
    recorder = RecordingProvider(OfflineProvider(), Cassette(cassette))
    await recorder.complete(ask())
    changed = ask(task="Add OAuth instead", agent="architect", phase="design")
    with pytest.raises(ReplayMiss) as info:
        await ReplayProvider(cassette).complete(changed)
    message = str(info.value)
    assert changed.fingerprint() in message
    assert "agent architect, phase design" in message
    assert "1 other request(s)" in message


async def test_a_request_recorded_twice_replays_in_recorded_order(tmp_path: Path) -> None:
    cassette = Cassette(tmp_path / "run.jsonl")
    provider = RecordingProvider(OfflineProvider(seed=1), cassette)
    first = await provider.complete(ask())
    provider = RecordingProvider(OfflineProvider(seed=2), cassette)
    second = await provider.complete(ask())
    replay = ReplayProvider(cassette.path)
    assert [(await replay.complete(ask())).raw for _ in range(3)] == [first.raw, second.raw, second.raw]


async def test_whitespace_only_changes_do_not_miss(tmp_path: Path) -> None:
    cassette = tmp_path / "run.jsonl"
    await RecordingProvider(OfflineProvider(), Cassette(cassette)).complete(ask(task="Add JWT auth"))
    replayed = await ReplayProvider(cassette).complete(ask(task="Add JWT auth  \r\n"))
    assert replayed.output.summary


async def test_a_cassette_answer_that_no_longer_fits_the_model_is_a_schema_violation(tmp_path: Path) -> None:
    cassette = tmp_path / "run.jsonl"
    await RecordingProvider(OfflineProvider(), Cassette(cassette)).complete(ask())
    entry = json.loads(cassette.read_text(encoding="utf-8"))
    entry["response"] = json.dumps({"steps": "not a list", "summary": "x"})
    cassette.write_text(json.dumps(entry) + "\n", encoding="utf-8")
    with pytest.raises(SchemaViolation, match="steps"):
        await ReplayProvider(cassette).complete(ask())


def test_missing_cassette_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        make_provider(load_settings(provider="replay", cassette=tmp_path / "nope.jsonl"))


def test_replay_without_a_cassette_setting_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="PHASEGRAPH_CASSETTE"):
        make_provider(load_settings(provider="replay"))


def test_a_broken_cassette_line_is_named_by_file_and_line(tmp_path: Path) -> None:
    cassette = tmp_path / "broken.jsonl"
    cassette.write_text('\n{"hash": "abc"}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        ReplayProvider(cassette)
    assert f"{cassette}:2:" in str(info.value)
