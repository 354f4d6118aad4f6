"""Money is data: every answer the server sent is counted, whatever happened to it afterwards.

These run the whole pipeline on the real openai client, with respx at the HTTP layer
playing a server that answers badly. The manifest's usage must equal what the server
saw: answers received (usable or not) in `calls`, sent-but-unanswered attempts in
`unanswered_attempts`, and the budget must hold both.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from pydantic import BaseModel

from orchestrator.errors import ConfigError
from orchestrator.journal import CallJournal
from orchestrator.providers import Message, ModelRequest, make_provider, metered
from orchestrator.providers._retry import RetryPolicy
from orchestrator.run import Runner, RunOptions
from orchestrator.settings import load_settings
from orchestrator.usage import Usage, UsageLedger, UsageRecord
from tests.conftest import FITTING_TOKENS, fitting_completion, invoke_cli

TASK = "Add JWT authentication to the FastAPI notes service"
BASE = "http://127.0.0.1:9/v1"
PROMPT, COMPLETION = FITTING_TOKENS


async def _no_sleep(seconds: float) -> None:
    return None


def _body(
    request: httpx.Request, *, content: str | None = None, finish: str = "stop", refusal: str | None = None
) -> httpx.Response:
    """A chat.completion of PROMPT + COMPLETION tokens; `content` defaults to JSON that fits the schema."""
    response: httpx.Response = fitting_completion(request, content=content, finish=finish, refusal=refusal)
    return response


class Server:
    """Scripted answers: the first requests get `faults` in order, the rest a good answer."""

    def __init__(self, faults: list[str]) -> None:
        self.faults = list(faults)
        self.answered = 0
        """200 responses sent: each carried usage, so each was billed."""
        self.unanswered = 0
        """Requests that got no answer after they were sent (timeouts)."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        fault = self.faults.pop(0) if self.faults else "ok"
        if fault == "timeout":
            self.unanswered += 1
            raise httpx.ReadTimeout("read timed out", request=request)
        if fault == "connect":
            raise httpx.ConnectError("connection refused", request=request)
        if fault == "429":
            return httpx.Response(
                429, headers={"retry-after-ms": "1"}, json={"error": {"message": "slow down"}}
            )
        if fault == "500":
            return httpx.Response(500, json={"error": {"message": "boom"}})
        self.answered += 1
        if fault == "malformed":
            return _body(request, content='{"not": json')
        if fault == "mismatch":
            return _body(request, content='{"unexpected": 1}')
        if fault == "truncated":
            return _body(request, content='{"api', finish="length")
        if fault == "refused":
            return _body(request, refusal="I can't help with that.")
        return _body(request)


def _runner(max_attempts: int = 6, **settings: Any) -> Runner:
    configured = load_settings(
        provider="openai", openai_base_url=BASE, model="gpt-4o-mini", max_attempts=max_attempts, **settings
    )
    provider = make_provider(
        configured,
        http_client=httpx.AsyncClient(),
        retry=RetryPolicy.from_settings(configured, sleep=_no_sleep),
    )
    return Runner(configured, provider=provider)


def _manifest(result: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((Path(result.run_dir) / "manifest.json").read_text())
    return data


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, clean_env: None) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")


@pytest.mark.parametrize("fault", ["malformed", "mismatch", "truncated", "refused"])
@respx.mock
async def test_an_unusable_answer_is_counted_in_the_manifest(env: None, project: Path, fault: str) -> None:
    server = Server([fault])
    respx.post(f"{BASE}/chat/completions").mock(side_effect=server)
    result = await _runner().start(RunOptions(task=TASK, project_dir=project, phases=["design"]))
    assert result.status == "failed"
    usage = _manifest(result)["usage"]
    assert usage["calls"] == server.answered == 1
    assert usage["prompt_tokens"] == PROMPT
    assert usage["completion_tokens"] == COMPLETION
    assert usage["cost_usd"] > 0


@respx.mock
async def test_every_resume_against_a_broken_server_is_counted_and_the_budget_stops_it(
    env: None, project: Path
) -> None:
    server = Server(["malformed"] * 100)
    route = respx.post(f"{BASE}/chat/completions").mock(side_effect=server)
    # One malformed answer costs (1000 * 0.15 + 200 * 0.60) / 1e6 = $0.00027; the budget fits three.
    runner = _runner(max_usd=0.0008)
    result = await runner.start(RunOptions(task=TASK, project_dir=project, phases=["design"]))
    for _ in range(5):
        result = await runner.resume(result.run_id, project)
    usage = _manifest(result)["usage"]
    assert route.call_count == server.answered == usage["calls"] == 3
    assert result.status == "budget_exceeded"
    assert usage["cost_usd"] == pytest.approx(3 * (PROMPT * 0.15 + COMPLETION * 0.60) / 1e6)


@pytest.mark.parametrize(
    ("faults", "answered_before_success", "unanswered"),
    [
        (["timeout", "timeout"], 0, 2),
        (["429", "500"], 0, 0),
        (["connect", "timeout"], 0, 1),
    ],
)
@respx.mock
async def test_retried_attempts_are_counted_as_what_the_server_saw(
    env: None, project: Path, faults: list[str], answered_before_success: int, unanswered: int
) -> None:
    server = Server(faults)
    respx.post(f"{BASE}/chat/completions").mock(side_effect=server)
    result = await _runner().start(RunOptions(task=TASK, project_dir=project, phases=["design"]))
    assert result.status == "completed", result.message
    usage = _manifest(result)["usage"]
    assert usage["calls"] == server.answered
    assert usage["unanswered_attempts"] == server.unanswered == unanswered
    assert usage["prompt_tokens"] == PROMPT * server.answered


@respx.mock
async def test_a_call_that_never_got_an_answer_is_counted_and_held_against_the_budget(
    env: None, project: Path
) -> None:
    server = Server(["timeout"] * 3)
    respx.post(f"{BASE}/chat/completions").mock(side_effect=server)
    result = await _runner(max_attempts=3).start(
        RunOptions(task=TASK, project_dir=project, phases=["design"])
    )
    assert result.status == "failed"
    assert result.error_type == "ProviderTimeout"
    usage = _manifest(result)["usage"]
    assert (usage["calls"], usage["unanswered_attempts"]) == (0, 3)
    assert usage["reserved_tokens"] > 0
    assert usage["reserved_usd"] > 0


@respx.mock
async def test_the_budget_counts_the_estimate_of_unanswered_attempts(env: None, project: Path) -> None:
    server = Server(["timeout"] * 3)
    route = respx.post(f"{BASE}/chat/completions").mock(side_effect=server)
    runner = _runner(max_attempts=3, max_tokens=1)
    result = await runner.start(RunOptions(task=TASK, project_dir=project, phases=["design"]))
    assert result.status == "failed"
    again = await runner.resume(result.run_id, project)
    assert again.status == "budget_exceeded"
    assert "unanswered attempt" in again.message
    assert route.call_count == 3


@pytest.mark.parametrize(
    ("model", "flags", "refused"),
    [
        ("gpt-9-turbo", {}, True),
        ("gpt-9-turbo", {"price_in": 1.0, "price_out": 2.0}, False),
        ("gpt-9-turbo", {"prices": {"gpt-9-turbo": {"input": 1, "cached_input": 1, "output": 2}}}, False),
        ("gpt-4o-mini-2024-07-18", {}, False),
    ],
)
@respx.mock
async def test_a_usd_budget_needs_a_price_for_the_model(
    env: None, project: Path, model: str, flags: dict[str, Any], refused: bool
) -> None:
    route = respx.post(f"{BASE}/chat/completions").mock(side_effect=Server([]))
    configured = load_settings(provider="openai", openai_base_url=BASE, model=model, max_usd=1.0, **flags)
    runner = Runner(configured, provider=make_provider(configured, http_client=httpx.AsyncClient()))
    options = RunOptions(task=TASK, project_dir=project, phases=["design"])
    if refused:
        with pytest.raises(ConfigError, match="--price-in/--price-out"):
            await runner.start(options)
        assert route.call_count == 0
    else:
        assert (await runner.start(options)).status == "completed"


def test_the_cli_refuses_a_usd_budget_for_an_unpriced_model_in_one_line(
    clean_env: None, project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", BASE)
    args = ["run", TASK, "--project-dir", str(project), "--provider", "openai", "--model", "gpt-9"]
    code, _, err = invoke_cli(capsys, monkeypatch, *args, "--max-usd", "1")
    assert code == 2
    assert err.count("\n") == 1
    assert "no price is known for model 'gpt-9'" in err
    assert "--price-in/--price-out" in err


class _Journal(CallJournal):
    """An in-memory journal: what the meter saved, and the answers it keeps."""

    def __init__(self) -> None:
        self.records: list[UsageRecord] = []
        self.answers: dict[str, str] = {}

    async def get(self, fingerprint: str) -> None:
        return None

    async def save(self, record: UsageRecord, answer: tuple[str, str] | None = None) -> None:
        self.records.append(record)
        if answer is not None:
            self.answers[answer[0]] = answer[1]

    async def spending(self) -> list[UsageRecord]:
        return list(self.records)

    async def count(self) -> int:
        return len(self.answers)


class Design(BaseModel):
    architecture: str


def _ask() -> ModelRequest[Design]:
    return ModelRequest(
        messages=[Message(role="user", content="JWT")], output_model=Design, agent="a", phase="p"
    )


@pytest.mark.parametrize(("content", "journaled"), [(None, True), ('{"broken', False)])
@respx.mock
async def test_a_call_cancelled_with_its_request_on_the_wire_is_still_counted(
    env: None, content: str | None, journaled: bool
) -> None:
    arrived, release = asyncio.Event(), asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        arrived.set()
        await release.wait()
        return _body(request, content=content)

    respx.post(f"{BASE}/chat/completions").mock(side_effect=slow)
    ledger, journal = UsageLedger(), _Journal()
    configured = load_settings(provider="openai", openai_base_url=BASE, model="gpt-4o-mini")
    meter = metered(make_provider(configured, http_client=httpx.AsyncClient()), ledger, journal=journal)
    ask = ModelRequest(
        messages=[Message(role="user", content="JWT")], output_model=Design, agent="a", phase="p"
    )
    call = asyncio.create_task(meter.complete(ask))
    await arrived.wait()
    call.cancel()
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert (ledger.total.calls, ledger.total.prompt_tokens) == (1, PROMPT)
    assert len(journal.records) == 1
    assert bool(journal.answers) is journaled


@respx.mock
async def test_a_call_cancelled_before_anything_was_sent_costs_nothing(env: None) -> None:
    route = respx.post(f"{BASE}/chat/completions").mock(side_effect=Server([]))
    ledger = UsageLedger()
    configured = load_settings(
        provider="openai", openai_base_url=BASE, model="gpt-4o-mini", max_concurrency=1
    )
    provider = make_provider(configured, http_client=httpx.AsyncClient())
    meter = metered(provider, ledger)
    ask = ModelRequest(
        messages=[Message(role="user", content="JWT")], output_model=Design, agent="a", phase="p"
    )
    async with provider.limiter.slot():  # type: ignore[attr-defined]
        call = asyncio.create_task(meter.complete(ask))
        await asyncio.sleep(0.01)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
    assert route.call_count == 0
    assert ledger.total == Usage()
