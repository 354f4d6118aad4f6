"""The OpenAI provider against the real openai client, with HTTP answered by respx.

No test reaches the network and none sleeps: the retry policy waits on a fake clock,
and the waits it asked for are the assertions.
"""

from __future__ import annotations

import email.utils
import json
import random
from collections.abc import AsyncIterator, Iterator
from enum import StrEnum
from typing import Any

import httpx
import pytest
import respx
from pydantic import BaseModel, Field

from orchestrator.errors import (
    AuthenticationFailed,
    BadRequest,
    BudgetExceeded,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    Refused,
    SchemaViolation,
    Truncated,
)
from orchestrator.providers import Message, ModelRequest, metered
from orchestrator.providers._limits import CallLimiter
from orchestrator.providers._retry import RetryPolicy
from orchestrator.providers.openai import OpenAIProvider
from orchestrator.usage import UsageLedger, UsageLimits, cost_of
from tests.conftest import LogCapture

BASE_URL = "https://llm.test/v1"
API_KEY = "sk-test-secret-0123456789abcdef"
WALL_CLOCK = 1_700_000_000.0


class Severity(StrEnum):
    low = "low"
    high = "high"


class Risk(BaseModel):
    title: str
    severity: Severity


class Design(BaseModel):
    api_design: str = Field(min_length=1, description="The HTTP API and its error model")
    risks: list[Risk]


GOOD = {"api_design": "POST /login returns a JWT.", "risks": [{"title": "token theft", "severity": "high"}]}


class FakeClock:
    """Records every wait instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


def completion(
    content: str | None = None,
    *,
    finish_reason: str = "stop",
    refusal: str | None = None,
    prompt_tokens: int = 120,
    completion_tokens: int = 30,
    cached_tokens: int = 0,
) -> dict[str, Any]:
    """A chat.completion body as OpenAI sends it."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "finish_reason": finish_reason,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens},
        },
    }


def ok(prompt_tokens: int = 120, completion_tokens: int = 30, cached_tokens: int = 0) -> httpx.Response:
    body = completion(
        json.dumps(GOOD),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cached_tokens=cached_tokens,
    )
    return httpx.Response(200, json=body)


def error(status: int, message: str = "nope", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status, headers=headers, json={"error": {"message": message, "type": "x", "code": None}}
    )


def request(agent: str = "backend-python", phase: str = "design") -> ModelRequest[Design]:
    return ModelRequest(
        messages=[
            Message(role="system", content="You design services."),
            Message(role="user", content="JWT auth"),
        ],
        output_model=Design,
        agent=agent,
        phase=phase,
        run_id="run-7",
    )


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def provider(clock: FakeClock) -> AsyncIterator[OpenAIProvider]:
    made = OpenAIProvider(
        model="gpt-4o-mini",
        api_key=API_KEY,
        base_url=BASE_URL,
        retry=RetryPolicy(
            max_attempts=4,
            max_wait_s=60,
            sleep=clock.sleep,
            wall_clock=lambda: WALL_CLOCK,
            rng=random.Random(1),
        ),
        limiter=CallLimiter(4),
        http_client=httpx.AsyncClient(),
    )
    yield made
    await made.aclose()


@pytest.mark.parametrize(
    ("headers", "expected_wait"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": email.utils.formatdate(WALL_CLOCK + 12, usegmt=True)}, 12.0),
    ],
    ids=["seconds", "milliseconds", "http-date"],
)
async def test_429_then_success_waits_what_retry_after_asked(
    api: respx.MockRouter,
    provider: OpenAIProvider,
    clock: FakeClock,
    headers: dict[str, str],
    expected_wait: float,
) -> None:
    route = api.post("/chat/completions").mock(side_effect=[error(429, "slow down", headers), ok()])
    response = await provider.complete(request())
    assert response.output == Design.model_validate(GOOD)
    [waited] = clock.waits
    assert expected_wait - 1e-6 <= waited <= expected_wait + max(expected_wait / 4, 0.5)
    assert route.call_count == 2
    assert response.usage.attempts == 2


async def test_callers_limited_together_retry_apart_never_before_retry_after(
    api: respx.MockRouter, clock: FakeClock
) -> None:
    """Without jitter every agent told `Retry-After: 2` would come back in the same instant."""
    api.post("/chat/completions").mock(side_effect=[error(429, "slow down", {"retry-after": "2"}), ok()] * 8)
    for seed in range(8):
        made = OpenAIProvider(
            model="gpt-4o-mini",
            api_key=API_KEY,
            base_url=BASE_URL,
            retry=RetryPolicy(sleep=clock.sleep, rng=random.Random(seed)),
            http_client=httpx.AsyncClient(),
        )
        await made.complete(request())
        await made.aclose()
    assert len(clock.waits) == 8
    assert all(2.0 <= wait <= 2.5 for wait in clock.waits)
    assert len({round(wait, 3) for wait in clock.waits}) == 8


async def test_500_storm_raises_provider_unavailable_after_the_attempt_cap(
    api: respx.MockRouter, provider: OpenAIProvider, clock: FakeClock
) -> None:
    route = api.post("/chat/completions").mock(return_value=error(500, "overloaded"))
    with pytest.raises(ProviderUnavailable) as info:
        await provider.complete(request())
    assert route.call_count == 4
    assert len(clock.waits) == 3
    assert all(0 < wait <= 30 for wait in clock.waits)
    assert "gave up after 4 attempt(s)" in str(info.value)
    assert "HTTP 500" in str(info.value)


async def test_jitter_never_turns_a_retry_after_that_fits_the_budget_into_giving_up(
    api: respx.MockRouter, provider: OpenAIProvider, clock: FakeClock
) -> None:
    route = api.post("/chat/completions").mock(
        side_effect=[error(429, "later", {"retry-after": "59.9"}), ok()]
    )
    await provider.complete(request())
    assert route.call_count == 2
    assert 59.9 <= clock.waits[0] <= 60.0


async def test_retry_after_beyond_the_wait_budget_gives_up_at_once(
    api: respx.MockRouter, provider: OpenAIProvider, clock: FakeClock
) -> None:
    route = api.post("/chat/completions").mock(return_value=error(429, "later", {"retry-after": "600"}))
    with pytest.raises(RateLimited) as info:
        await provider.complete(request())
    assert route.call_count == 1
    assert clock.waits == []
    assert "asked to wait 600.0 s" in str(info.value)


async def test_timeout_is_retried_then_raised_as_provider_timeout(
    api: respx.MockRouter, provider: OpenAIProvider, clock: FakeClock
) -> None:
    route = api.post("/chat/completions").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(ProviderTimeout) as info:
        await provider.complete(request())
    assert route.call_count == 4
    assert len(clock.waits) == 3
    assert "PHASEGRAPH_TIMEOUT_S" in str(info.value)


async def test_connection_error_is_retried_and_then_succeeds(
    api: respx.MockRouter, provider: OpenAIProvider, clock: FakeClock
) -> None:
    route = api.post("/chat/completions").mock(side_effect=[httpx.ConnectError("refused"), ok()])
    response = await provider.complete(request())
    assert route.call_count == 2
    assert response.usage.attempts == 2
    assert len(clock.waits) == 1


async def test_401_is_not_retried_and_never_shows_the_key(
    api: respx.MockRouter, provider: OpenAIProvider, clock: FakeClock
) -> None:
    route = api.post("/chat/completions").mock(
        return_value=error(401, f"Incorrect API key provided: {API_KEY}")
    )
    with pytest.raises(AuthenticationFailed) as info:
        await provider.complete(request())
    assert route.call_count == 1
    assert clock.waits == []
    assert API_KEY not in str(info.value)
    assert "OPENAI_API_KEY" in str(info.value)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(400, BadRequest), (403, AuthenticationFailed), (404, BadRequest), (422, BadRequest)],
)
async def test_client_errors_are_never_retried(
    api: respx.MockRouter, provider: OpenAIProvider, status: int, expected: type[ProviderError]
) -> None:
    route = api.post("/chat/completions").mock(return_value=error(status))
    with pytest.raises(expected):
        await provider.complete(request())
    assert route.call_count == 1


async def test_refusal_raises_refused_with_the_models_words(
    api: respx.MockRouter, provider: OpenAIProvider
) -> None:
    api.post("/chat/completions").mock(
        return_value=httpx.Response(200, json=completion(None, refusal="I can't help with that."))
    )
    with pytest.raises(Refused) as info:
        await provider.complete(request())
    assert "I can't help with that." in str(info.value)
    assert "backend-python" in str(info.value)


async def test_finish_reason_length_raises_truncated(api: respx.MockRouter, provider: OpenAIProvider) -> None:
    api.post("/chat/completions").mock(
        return_value=httpx.Response(
            200, json=completion('{"api_design": "POST /lo', finish_reason="length", completion_tokens=4096)
        )
    )
    with pytest.raises(Truncated) as info:
        await provider.complete(request())
    assert "4096 tokens" in str(info.value)
    assert info.value.usage is not None


async def test_malformed_json_raises_schema_violation(
    api: respx.MockRouter, provider: OpenAIProvider
) -> None:
    api.post("/chat/completions").mock(
        return_value=httpx.Response(200, json=completion('{"api_design": "POST /login", "risks": [}'))
    )
    with pytest.raises(SchemaViolation) as info:
        await provider.complete(request())
    assert "not valid JSON" in str(info.value)


async def test_schema_violating_json_names_the_field(api: respx.MockRouter, provider: OpenAIProvider) -> None:
    wrong = {"api_design": "POST /login", "risks": [{"title": "x", "severity": "catastrophic"}]}
    api.post("/chat/completions").mock(return_value=httpx.Response(200, json=completion(json.dumps(wrong))))
    with pytest.raises(SchemaViolation) as info:
        await provider.complete(request())
    assert "risks.0.severity" in str(info.value)
    assert "Design" in str(info.value)


async def test_usage_and_cached_tokens_are_summed_per_run_agent_and_phase(
    api: respx.MockRouter, provider: OpenAIProvider
) -> None:
    api.post("/chat/completions").mock(
        side_effect=[
            ok(prompt_tokens=1000, cached_tokens=400, completion_tokens=200),
            ok(prompt_tokens=2000, cached_tokens=1500, completion_tokens=300),
        ]
    )
    ledger = UsageLedger()
    model = metered(provider, ledger)
    await model.complete(request(agent="backend-python", phase="design"))
    await model.complete(request(agent="security-expert", phase="design"))
    total = ledger.total
    assert (total.calls, total.prompt_tokens, total.cached_tokens, total.completion_tokens) == (
        2,
        3000,
        1900,
        500,
    )
    assert total.total_tokens == 3500
    expected_cost = cost_of("gpt-4o-mini-2024-07-18", 1000, 400, 200) + cost_of(
        "gpt-4o-mini", 2000, 1500, 300
    )
    assert total.cost_usd == pytest.approx(expected_cost)
    assert expected_cost == pytest.approx((1100 * 0.15 + 1900 * 0.075 + 500 * 0.60) / 1e6)
    assert ledger.by_agent()["security-expert"].cached_tokens == 1500
    assert ledger.by_phase()["design"].calls == 2


async def test_a_budget_stops_the_second_call(api: respx.MockRouter, provider: OpenAIProvider) -> None:
    route = api.post("/chat/completions").mock(return_value=ok(prompt_tokens=900, completion_tokens=200))
    ledger = UsageLedger()
    model = metered(provider, ledger, UsageLimits(max_tokens=1000))
    first = await model.complete(request(phase="design"))
    with pytest.raises(BudgetExceeded) as info:
        await model.complete(request(phase="build"))
    assert route.call_count == 1
    assert first.output.api_design
    assert [r.phase for r in ledger.records] == ["design"]
    assert "spent 1,100 tokens" in str(info.value)
    assert "phase build" in str(info.value)


async def test_request_is_a_strict_schema_with_who_is_asking_in_headers(
    api: respx.MockRouter, provider: OpenAIProvider
) -> None:
    route = api.post("/chat/completions").mock(return_value=ok())
    await provider.complete(request())
    sent = route.calls.last.request
    body = json.loads(sent.content)
    schema = body["response_format"]["json_schema"]
    assert body["response_format"]["type"] == "json_schema"
    assert schema["strict"] is True
    assert schema["schema"]["additionalProperties"] is False
    assert schema["schema"]["required"] == ["api_design", "risks"]
    assert "temperature" not in body
    assert sent.headers["x-phasegraph-agent"] == "backend-python"
    assert sent.headers["x-phasegraph-phase"] == "design"
    assert sent.headers["x-phasegraph-run"] == "run-7"


async def test_retry_logs_say_who_and_which_attempt_without_the_key(
    api: respx.MockRouter, provider: OpenAIProvider, logs: LogCapture
) -> None:
    api.post("/chat/completions").mock(
        side_effect=[error(503, f"upstream said Bearer {API_KEY}", {"retry-after": "2"}), ok()]
    )
    await provider.complete(request())
    retry = next(e for e in logs.events if e["event"] == "provider.retry")
    call = next(e for e in logs.events if e["event"] == "provider.call")
    assert (retry["agent"], retry["phase"], retry["attempt"]) == ("backend-python", "design", 1)
    assert 2.0 <= retry["wait_s"] <= 2.5
    assert (call["attempts"], call["prompt_tokens"], call["completion_tokens"]) == (2, 120, 30)
    assert API_KEY not in repr(logs)
    assert API_KEY not in repr(provider)


async def test_an_unusable_answer_is_still_recorded_in_the_ledger(
    api: respx.MockRouter, provider: OpenAIProvider
) -> None:
    api.post("/chat/completions").mock(
        return_value=httpx.Response(
            200, json=completion(None, refusal="No.", prompt_tokens=500, completion_tokens=5)
        )
    )
    ledger = UsageLedger()
    with pytest.raises(Refused):
        await metered(provider, ledger).complete(request())
    assert ledger.total.total_tokens == 505


# What the request carries: temperature by capability, prompt_cache_key, Azure deployments


def _sent_body(api: respx.MockRouter) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(api.calls.last.request.content)
    return body


@pytest.mark.parametrize(
    ("model", "temperature", "reasoning_model", "sent"),
    [
        ("gpt-4o-mini", 0.0, None, 0.0),
        ("gpt-4.1", 0.7, None, 0.7),
        ("openai/gpt-4o", 0.2, None, 0.2),
        ("ft:gpt-4o-mini-2024-07-18:acme::abc123", 0.0, None, 0.0),
        ("gpt-5-chat-latest", 0.0, None, 0.0),
        ("o1", 0.0, None, None),
        ("o3-mini", 0.0, None, None),
        ("o4-mini-2025-04-16", 0.0, None, None),
        ("gpt-5", 0.0, None, None),
        ("gpt-5.1", 0.0, None, None),
        ("gpt-5-mini", 1.0, None, None),
        ("openai/o3", 0.0, None, None),
        ("azure/o3-pro", 0.0, None, None),
        ("OpenAI/O3", 0.0, None, None),
        ("llama3.1", 0.0, None, 0.0),
        ("prod-chat", 0.0, None, 0.0),
        ("prod-chat", 0.0, True, None),
        ("o3", 0.0, False, 0.0),
        ("gpt-4o-mini", None, None, None),
        ("llama3.1", None, False, None),
    ],
)
async def test_temperature_is_sent_only_when_set_and_the_model_takes_it(
    api: respx.MockRouter,
    model: str,
    temperature: float | None,
    reasoning_model: bool | None,
    sent: float | None,
) -> None:
    api.post("/chat/completions").mock(return_value=ok())
    made = OpenAIProvider(
        model=model,
        api_key=API_KEY,
        base_url=BASE_URL,
        temperature=temperature,
        reasoning_model=reasoning_model,
        http_client=httpx.AsyncClient(),
    )
    await made.complete(request())
    await made.aclose()
    assert _sent_body(api).get("temperature") == sent


@pytest.mark.parametrize(
    ("env", "sent"),
    [
        ({"PHASEGRAPH_MODEL": "o3"}, None),
        ({"PHASEGRAPH_MODEL": "o3", "PHASEGRAPH_TEMPERATURE": "0"}, None),
        ({"PHASEGRAPH_MODEL": "gpt-4o", "PHASEGRAPH_TEMPERATURE": "0.3"}, 0.3),
        ({"PHASEGRAPH_MODEL": "gpt-4o", "PHASEGRAPH_TEMPERATURE": ""}, None),
        ({"PHASEGRAPH_MODEL": "my-deploy", "PHASEGRAPH_TEMPERATURE": "0"}, 0.0),
        (
            {
                "PHASEGRAPH_MODEL": "my-deploy",
                "PHASEGRAPH_TEMPERATURE": "0",
                "PHASEGRAPH_REASONING_MODEL": "true",
            },
            None,
        ),
    ],
)
async def test_temperature_settings_reach_the_request(
    api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], sent: float | None
) -> None:
    from orchestrator.providers import make_provider
    from orchestrator.settings import load_settings

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    api.post("/chat/completions").mock(return_value=ok())
    made = make_provider(
        load_settings(provider="openai", openai_api_key=API_KEY, openai_base_url=BASE_URL),
        http_client=httpx.AsyncClient(),
    )
    await made.complete(request())
    await made.aclose()
    assert _sent_body(api).get("temperature") == sent


@pytest.mark.parametrize(
    ("base_url", "setting", "sent"),
    [
        ("https://api.openai.com/v1", None, True),
        ("https://api.openai.com/v1", False, False),
        (BASE_URL, None, False),
        (BASE_URL, True, True),
    ],
)
async def test_prompt_cache_key_goes_only_to_servers_that_take_it(
    base_url: str, setting: bool | None, sent: bool
) -> None:
    with respx.mock(base_url=base_url) as api:
        api.post("/chat/completions").mock(return_value=ok())
        made = OpenAIProvider(
            model="gpt-4o-mini",
            api_key=API_KEY,
            base_url=base_url,
            prompt_cache_key=setting,
            http_client=httpx.AsyncClient(),
        )
        await made.complete(request())
        await made.aclose()
        body = _sent_body(api)
    assert ("prompt_cache_key" in body) is sent


async def test_prompt_cache_key_is_one_per_agent_and_phase_whatever_the_run(api: respx.MockRouter) -> None:
    api.post("/chat/completions").mock(return_value=ok())
    made = OpenAIProvider(
        model="gpt-4o-mini",
        api_key=API_KEY,
        base_url=BASE_URL,
        prompt_cache_key=True,
        http_client=httpx.AsyncClient(),
    )
    keys = []
    asked = [("a", "design", "r1"), ("a", "design", "r2"), ("a", "build", "r1"), ("b", "design", "r1")]
    for agent, phase, run in asked:
        one = ModelRequest(
            messages=request().messages, output_model=Design, agent=agent, phase=phase, run_id=run
        )
        await made.complete(one)
        keys.append(_sent_body(api)["prompt_cache_key"])
    await made.aclose()
    assert keys[0] == keys[1]
    assert len(set(keys)) == 3
    assert all(len(k) <= 64 and k.isascii() for k in keys)


AZURE = "https://contoso.openai.azure.com"
AZURE_KEY = "azure-key-0123456789abcdef0123456789"


def _azure_settings(monkeypatch: pytest.MonkeyPatch, **more: str) -> Any:
    from orchestrator.settings import load_settings

    for name in (
        "OPENAI_BASE_URL",
        "PHASEGRAPH_OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "PHASEGRAPH_OPENAI_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", AZURE)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    for name, value in more.items():
        monkeypatch.setenv(name, value)
    return load_settings(provider="openai", model="prod-gpt4o")


async def test_azure_endpoint_asks_the_deployment_with_api_version_and_api_key_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from orchestrator.providers import make_provider

    settings = _azure_settings(monkeypatch, OPENAI_API_VERSION="2024-10-21")
    with respx.mock(base_url=AZURE) as api:
        route = api.post("/openai/deployments/prod-gpt4o/chat/completions").mock(return_value=ok())
        made = make_provider(settings, http_client=httpx.AsyncClient())
        response = await made.complete(request())
        await made.aclose()
    sent = route.calls.last.request
    assert sent.url.params["api-version"] == "2024-10-21"
    assert sent.headers["api-key"] == AZURE_KEY
    assert "authorization" not in sent.headers
    assert json.loads(sent.content)["response_format"]["json_schema"]["strict"] is True
    assert "prompt_cache_key" not in json.loads(sent.content)
    assert response.output == Design.model_validate(GOOD)


async def test_azure_key_never_appears_in_errors_or_logs(
    monkeypatch: pytest.MonkeyPatch, logs: LogCapture
) -> None:
    from orchestrator.providers import make_provider

    settings = _azure_settings(monkeypatch)
    with respx.mock(base_url=AZURE) as api:
        api.post("/openai/deployments/prod-gpt4o/chat/completions").mock(
            side_effect=[
                error(503, f"backend saw api-key {AZURE_KEY}"),
                error(401, f"Access denied: key {AZURE_KEY}"),
            ]
        )
        made = make_provider(
            settings, retry=RetryPolicy(sleep=FakeClock().sleep), http_client=httpx.AsyncClient()
        )
        with pytest.raises(AuthenticationFailed) as info:
            await made.complete(request())
        await made.aclose()
    assert AZURE_KEY not in str(info.value)
    assert "azure openai prod-gpt4o" in str(info.value)
    assert [e["event"] for e in logs.events] == ["provider.retry"]
    assert AZURE_KEY not in repr(logs)
    assert AZURE_KEY not in repr(made)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AZURE_OPENAI_API_KEY": ""}, "set AZURE_OPENAI_API_KEY"),
        ({"OPENAI_BASE_URL": "https://api.openai.com/v1"}, "unset one"),
        ({"AZURE_OPENAI_ENDPOINT": "contoso"}, "setting azure_endpoint"),
        ({"AZURE_OPENAI_ENDPOINT": f"{AZURE}/openai/v1/"}, "set it as OPENAI_BASE_URL"),
    ],
)
def test_azure_misconfiguration_is_one_config_error(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    from orchestrator.errors import ConfigError
    from orchestrator.providers import make_provider

    with pytest.raises(ConfigError, match=message) as info:
        make_provider(_azure_settings(monkeypatch, **env))
    assert AZURE_KEY not in str(info.value)


def test_the_openai_key_is_never_sent_to_azure(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.errors import ConfigError
    from orchestrator.providers import make_provider

    settings = _azure_settings(monkeypatch, AZURE_OPENAI_API_KEY="", OPENAI_API_KEY=API_KEY)
    with pytest.raises(ConfigError, match="AZURE_OPENAI_API_KEY"):
        make_provider(settings)
