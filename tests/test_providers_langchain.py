"""Any LangChain chat model: structured output, usage from usage_metadata, one retry policy."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest
from langchain_core.exceptions import ModelRateLimitError, ModelRefusalError
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel, Field, SecretStr, model_validator

from orchestrator.errors import AuthenticationFailed, ConfigError, Refused, SchemaViolation, Truncated
from orchestrator.providers import Message, ModelRequest, make_provider
from orchestrator.providers._limits import CallLimiter
from orchestrator.providers._retry import RetryPolicy
from orchestrator.providers.langchain import LangChainProvider
from orchestrator.settings import load_settings


class Review(BaseModel):
    verdict: str
    issues: list[str]


class ScriptedChatModel(BaseChatModel):
    """Plays back a script of answers (AIMessage) and failures (exceptions), one per call."""

    script: list[Any]
    model_name: str = "gpt-4o-mini"
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Any:
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if isinstance(step, BaseException):
            raise step
        return ChatResult(generations=[ChatGeneration(message=step)])


def tool_answer(args: dict[str, Any], **metadata: Any) -> AIMessage:
    return AIMessage(
        content="",
        tool_calls=[{"name": "Review", "args": args, "id": "call-1"}],
        usage_metadata={
            "input_tokens": 300,
            "output_tokens": 40,
            "total_tokens": 340,
            "input_token_details": {"cache_read": 120},
        },
        response_metadata={"model_name": "gpt-4o-mini-2024-07-18", **metadata},
    )


GOOD = {"verdict": "ship it", "issues": ["add rate limiting"]}


class FakeClock:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


def provider(chat: ScriptedChatModel, clock: FakeClock | None = None) -> LangChainProvider:
    sleep = (clock or FakeClock()).sleep
    return LangChainProvider(
        chat, retry=RetryPolicy(max_attempts=3, sleep=sleep, rng=random.Random(0)), limiter=CallLimiter(2)
    )


def ask() -> ModelRequest[Review]:
    return ModelRequest(
        messages=[Message(role="system", content="Review."), Message(role="user", content="the diff")],
        output_model=Review,
        agent="reviewer",
        phase="verify",
    )


async def test_structured_answer_and_usage_come_from_the_chat_model() -> None:
    response = await provider(ScriptedChatModel(script=[tool_answer(GOOD)])).complete(ask())
    assert response.output == Review.model_validate(GOOD)
    usage = response.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens) == (300, 40, 120)
    assert usage.model == "gpt-4o-mini-2024-07-18"
    assert usage.cost_usd > 0
    assert not usage.estimated


async def test_rate_limit_from_the_chat_model_is_retried_by_the_one_policy() -> None:
    clock = FakeClock()
    chat = ScriptedChatModel(script=[ModelRateLimitError("429 slow down"), tool_answer(GOOD)])
    response = await provider(chat, clock).complete(ask())
    assert chat.calls == 2
    assert len(clock.waits) == 1
    assert response.usage.attempts == 2


async def test_authentication_error_from_the_chat_model_is_not_retried() -> None:
    from langchain_core.exceptions import ModelAuthenticationError

    chat = ScriptedChatModel(script=[ModelAuthenticationError("bad key")])
    with pytest.raises(AuthenticationFailed):
        await provider(chat).complete(ask())
    assert chat.calls == 1


async def test_answer_missing_a_field_is_a_schema_violation_naming_it() -> None:
    chat = ScriptedChatModel(script=[tool_answer({"verdict": "ship it"})])
    with pytest.raises(SchemaViolation, match="issues"):
        await provider(chat).complete(ask())


async def test_refusal_from_the_chat_model_is_refused() -> None:
    chat = ScriptedChatModel(script=[ModelRefusalError("Model refused: policy")])
    with pytest.raises(Refused, match="policy"):
        await provider(chat).complete(ask())


async def test_length_finish_reason_is_truncated() -> None:
    chat = ScriptedChatModel(script=[tool_answer(GOOD, finish_reason="length")])
    with pytest.raises(Truncated):
        await provider(chat).complete(ask())


def test_make_provider_wraps_the_given_chat_model() -> None:
    chat = ScriptedChatModel(script=[tool_answer(GOOD)])
    made = make_provider(load_settings(provider="langchain"), chat_model=chat)
    assert isinstance(made, LangChainProvider)
    assert (made.name, made.model) == ("langchain", "gpt-4o-mini")


def test_langchain_without_a_chat_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="chat_model"):
        make_provider(load_settings(provider="langchain"))


async def test_a_tool_call_answer_without_usage_metadata_estimates_its_completion_tokens() -> None:
    answer = tool_answer(GOOD)
    answer.usage_metadata = None
    response = await provider(ScriptedChatModel(script=[answer])).complete(ask())
    usage = response.usage
    assert usage.estimated
    written = len("Review") + len(json.dumps(GOOD))
    assert usage.completion_tokens == math.ceil(written / 4) > 0


class _SDKClient:
    """Stands for an SDK client (openai.AsyncOpenAI): built once, with its own retry count."""

    def __init__(self, max_retries: int) -> None:
        self.max_retries = max_retries


class RetryingChatModel(ScriptedChatModel):
    """Like ChatOpenAI: a `max_retries` field, and a client built from it when the model is made."""

    max_retries: int | None = None
    api_key: SecretStr = SecretStr("sk-from-the-user")
    client: Any = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _build_client(self) -> RetryingChatModel:
        if not self.client:
            self.client = _SDKClient(2 if self.max_retries is None else self.max_retries)
        return self


@pytest.mark.parametrize("own", [None, 5])
async def test_the_chat_models_own_retries_are_off_on_a_copy_and_the_callers_model_is_untouched(
    own: int | None,
) -> None:
    chat = RetryingChatModel(script=[tool_answer(GOOD)], model_name="gpt-4.1-mini", max_retries=own)
    callers_client = chat.client
    made = provider(chat)
    used = made.chat_model
    assert isinstance(used, RetryingChatModel)
    assert (used.max_retries, used.client.max_retries) == (0, 0)
    assert (used.model_name, used.api_key) == ("gpt-4.1-mini", chat.api_key)
    assert (chat.max_retries, chat.client) == (own, callers_client)
    await made.complete(ask())
    assert (used.calls, chat.calls) == (1, 0)


def test_a_chat_model_without_own_retries_is_used_as_given() -> None:
    chat = ScriptedChatModel(script=[tool_answer(GOOD)])
    assert provider(chat).chat_model is chat
    quiet = RetryingChatModel(script=[tool_answer(GOOD)], max_retries=0)
    assert provider(quiet).chat_model is quiet
