"""Any LangChain chat model (`langchain_core` `BaseChatModel`) as a provider.

The model is asked through `with_structured_output(output_model, include_raw=True)`,
so the raw message (with its usage and finish reason) comes back beside the parsed
object. Failures go through the same classification, retry policy and limiter as the
OpenAI provider. A chat model with a `max_retries` field (ChatOpenAI, ChatAnthropic, ...)
is used through a copy built with `max_retries=0`, so a failure is retried in one place
only; the caller's object is never changed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.exceptions import ModelRefusalError
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from orchestrator._log import get_logger
from orchestrator.errors import ProviderError
from orchestrator.providers._answers import parse_output, refused, truncated
from orchestrator.providers._limits import CallLimiter, shared_limiter
from orchestrator.providers._retry import RetryPolicy
from orchestrator.providers._tally import UnansweredTally
from orchestrator.providers.base import Message, ModelRequest, ModelResponse, Provider, T
from orchestrator.settings import ModelPrice
from orchestrator.usage import CallUsage, cost_of, estimate_tokens

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.runnables import Runnable

    from orchestrator.settings import Settings

_log = get_logger("phasegraph.providers")

_TRUNCATED = {"length", "max_tokens", "MAX_TOKENS"}
"""Finish / stop reasons that mean the output token limit cut the answer."""


class LangChainProvider(Provider):
    """Structured output from any `BaseChatModel` that supports `with_structured_output`."""

    name = "langchain"

    def __init__(
        self,
        chat_model: BaseChatModel,
        *,
        model: str | None = None,
        retry: RetryPolicy | None = None,
        limiter: CallLimiter | None = None,
        prices: Mapping[str, ModelPrice] | None = None,
        structured_output_kwargs: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`structured_output_kwargs` go to `with_structured_output` (e.g. `{"method": "json_schema"}`)."""
        self.chat_model = _without_own_retries(chat_model)
        self.model = model or _model_name(chat_model)
        self.retry = retry or RetryPolicy()
        self.limiter = limiter or shared_limiter(_limiter_key(chat_model, self.model), max_concurrency=8)
        self.prices = prices
        self._kwargs = dict(structured_output_kwargs or {})
        self._clock = clock
        self._runnables: dict[type[BaseModel], Runnable[Any, Any]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls, settings: Settings, chat_model: BaseChatModel, *, retry: RetryPolicy | None = None
    ) -> LangChainProvider:
        """Retry, concurrency and prices from `Settings`; the model itself comes configured."""
        model = _model_name(chat_model)
        limiter = shared_limiter(
            _limiter_key(chat_model, model),
            max_concurrency=settings.max_concurrency,
            requests_per_minute=settings.requests_per_minute,
        )
        return cls(
            chat_model,
            model=model,
            retry=retry or RetryPolicy.from_settings(settings),
            limiter=limiter,
            prices=settings.prices,
        )

    async def complete(self, request: ModelRequest[T]) -> ModelResponse[T]:
        """One structured call through the chat model, retried on transient failures."""
        where = f"langchain {self.model} ({request.describe()})"
        fields = {"provider": self.name, "model": self.model, "agent": request.agent, "phase": request.phase}
        runnable = self._structured(request.output_model)
        messages = [_to_langchain(m) for m in request.messages]
        config: Any = {
            "metadata": {"agent": request.agent, "phase": request.phase, "run_id": request.run_id},
            "tags": [tag for tag in (request.agent, request.phase) if tag],
        }

        tally = UnansweredTally(self.model, request.prompt_chars(), self.prices)

        async def attempt(number: int) -> dict[str, Any]:
            async with self.limiter.slot():
                result: dict[str, Any] = await tally.send(runnable.ainvoke(messages, config=config))
                return result

        started = self._clock()
        result, attempts = await tally.retried(
            self.retry,
            attempt,
            where=where,
            log_fields=fields,
            usage_of=lambda answer, n: self._usage(answer.get("raw"), request, self._clock() - started, n),
            raw_of=lambda answer, usage: _json(self._output(answer, request, where, usage)),
        )
        raw_message = result.get("raw")
        usage = tally.settle(self._usage(raw_message, request, self._clock() - started, attempts))
        try:
            output = self._output(result, request, where, usage)
        except ProviderError as exc:
            exc.usage = usage
            _log.warning("provider.unusable_answer", **fields, error=type(exc).__name__)
            raise
        _log.info(
            "provider.call",
            **fields,
            attempts=attempts,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            latency_s=round(usage.latency_s, 3),
        )
        return ModelResponse(output=output, usage=usage, raw=_json(output))

    def _structured(self, output_model: type[BaseModel]) -> Runnable[Any, Any]:
        with self._lock:
            runnable = self._runnables.get(output_model)
            if runnable is None:
                runnable = self.chat_model.with_structured_output(
                    output_model, include_raw=True, **self._kwargs
                )
                self._runnables[output_model] = runnable
            return runnable

    def _output(self, result: Mapping[str, Any], request: ModelRequest[T], where: str, usage: CallUsage) -> T:
        raw = result.get("raw")
        parsed = result.get("parsed")
        error = result.get("parsing_error")
        metadata = raw.response_metadata if isinstance(raw, AIMessage) else {}
        reason = metadata.get("finish_reason") or metadata.get("stop_reason")
        if isinstance(error, ModelRefusalError):
            raise refused(where, str(error))
        if isinstance(raw, AIMessage) and raw.additional_kwargs.get("refusal"):
            raise refused(where, str(raw.additional_kwargs["refusal"]))
        if reason in _TRUNCATED:
            raise truncated(where, usage.completion_tokens)
        if isinstance(parsed, request.output_model) and error is None:
            return parsed
        if isinstance(parsed, Mapping) and error is None:
            return parse_output(json.dumps(parsed), request.output_model, where)
        # LangChain's parser failed: validate the answer ourselves for a precise message.
        return parse_output(_answer_text(raw), request.output_model, where)

    def _usage(self, raw: Any, request: ModelRequest[Any], latency_s: float, attempts: int) -> CallUsage:
        model = self.model
        reported = None
        if isinstance(raw, AIMessage):
            metadata = raw.response_metadata
            model = str(metadata.get("model_name") or metadata.get("model") or model)
            reported = raw.usage_metadata
        if reported is None:
            prompt = estimate_tokens(request.prompt_chars())
            completion, cached, estimated = estimate_tokens(_answer_chars(raw)), 0, True
        else:
            prompt, completion, estimated = reported["input_tokens"], reported["output_tokens"], False
            cached = int(reported.get("input_token_details", {}).get("cache_read", 0) or 0)
        return CallUsage(
            model=model,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cached_tokens=cached,
            latency_s=latency_s,
            attempts=attempts,
            cost_usd=cost_of(model, prompt, cached, completion, self.prices, asked=self.model),
            estimated=estimated,
        )


def _json(output: BaseModel) -> str:
    """The answer as the journal and cassettes keep it (field aliases are the schema's names)."""
    return output.model_dump_json(by_alias=True)


def _to_langchain(message: Message) -> AnyMessage:
    if message.role == "system":
        return SystemMessage(content=message.content)
    if message.role == "assistant":
        return AIMessage(content=message.content)
    return HumanMessage(content=message.content)


def _answer_text(raw: Any) -> str:
    """The JSON the model produced: the first tool call's arguments, else the text."""
    if not isinstance(raw, AIMessage):
        return ""
    if raw.tool_calls:
        return json.dumps(raw.tool_calls[0]["args"])
    if raw.invalid_tool_calls:
        return str(raw.invalid_tool_calls[0].get("args") or "")
    return raw.text


def _answer_chars(raw: Any) -> int:
    """Characters the model wrote: its text and every tool call (structured output is usually one)."""
    if not isinstance(raw, AIMessage):
        return 0
    calls = [(c["name"], json.dumps(c["args"], ensure_ascii=False)) for c in raw.tool_calls]
    calls += [(c.get("name") or "", str(c.get("args") or "")) for c in raw.invalid_tool_calls]
    return len(raw.text) + sum(len(name) + len(args) for name, args in calls)


def _without_own_retries(chat_model: BaseChatModel) -> BaseChatModel:
    """`chat_model`, or a copy of it with `max_retries=0` when it has its own retries.

    The copy is built through the constructor from the fields the caller set, so that
    SDK clients the model derives from its settings (ChatOpenAI's openai client) are
    built again with the new value; those clients themselves are not passed on. A model
    that cannot be rebuilt that way is used as given, with a warning.
    """
    fields = type(chat_model).model_fields
    if "max_retries" not in fields or getattr(chat_model, "max_retries", None) == 0:
        return chat_model
    given: dict[str, Any] = {}
    for name in chat_model.model_fields_set & fields.keys():
        value = getattr(chat_model, name)
        if _retries_on_its_own(value):
            continue
        alias = fields[name].alias
        given[alias if isinstance(alias, str) else name] = value
    alias = fields["max_retries"].alias
    given[alias if isinstance(alias, str) else "max_retries"] = 0
    try:
        return type(chat_model)(**given)
    except Exception as exc:  # a constructor that does not take its own fields back
        _log.warning(
            "provider.own_retries_kept",
            chat_model=type(chat_model).__qualname__,
            error=type(exc).__name__,
            advice="rebuilding it with max_retries=0 failed; pass max_retries=0 yourself",
        )
        return chat_model


def _retries_on_its_own(value: Any) -> bool:
    """An SDK client (or one of its resources) that carries its own retry count."""
    owner = getattr(value, "_client", value)
    return isinstance(getattr(owner, "max_retries", None), int) and not isinstance(value, int)


def _limiter_key(chat_model: BaseChatModel, model: str) -> str:
    return f"langchain:{type(chat_model).__qualname__}:{model}"


def _model_name(chat_model: BaseChatModel) -> str:
    for attribute in ("model_name", "model", "model_id"):
        value = getattr(chat_model, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(chat_model).__name__
