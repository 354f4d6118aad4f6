"""OpenAI, or any OpenAI-compatible server, through `openai.AsyncOpenAI` and structured outputs.

The SDK's own retries are off (`max_retries=0`): phasegraph's one retry policy
decides, so a 429 is waited out once, with the server's `Retry-After`, and counted.
Each request carries a strict JSON schema built from the output model, so the answer
can only be that model; what still goes wrong (a refusal, `finish_reason=length`,
text that is not JSON, JSON that does not validate) becomes its own typed error.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import openai
from pydantic import SecretStr

from orchestrator._log import get_logger
from orchestrator.errors import ConfigError, ProviderError, SchemaViolation
from orchestrator.providers._answers import parse_output, refused, truncated
from orchestrator.providers._limits import CallLimiter, shared_limiter
from orchestrator.providers._retry import RetryPolicy
from orchestrator.providers._schema import response_format
from orchestrator.providers._tally import UnansweredTally
from orchestrator.providers.base import ModelRequest, ModelResponse, Provider, T
from orchestrator.settings import ModelPrice
from orchestrator.usage import CallUsage, cost_of

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletion

    from orchestrator.settings import Settings

_log = get_logger("orchestrator.providers")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
LOCAL_DUMMY_KEY = "not-needed-for-a-local-server"
"""Sent to local OpenAI-compatible servers (vLLM, Ollama, ...) when no key is configured."""

_NO_TEMPERATURE = re.compile(r"^(o\d|gpt-5)")
"""Reasoning models reject `temperature`; it is left out for them."""


class OpenAIProvider(Provider):
    """Chat completions with a strict JSON schema; one `AsyncOpenAI` client per event loop."""

    name = "openai"

    def __init__(
        self,
        *,
        model: str,
        api_key: SecretStr | str,
        base_url: str | None = None,
        organization: str | None = None,
        temperature: float | None = 0.0,
        timeout_s: float = 60.0,
        retry: RetryPolicy | None = None,
        limiter: CallLimiter | None = None,
        prices: Mapping[str, ModelPrice] | None = None,
        http_client: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`http_client` (an `httpx.AsyncClient`, or the SDK's own httpx2 one) replaces the
        SDK's default client, for proxies and for tests that intercept HTTP with respx;
        `clock` measures latency."""
        self.model = model
        self._api_key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        self.base_url = base_url or DEFAULT_BASE_URL
        self._organization = organization
        self.temperature = temperature
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self.limiter = limiter or shared_limiter(f"openai:{self.base_url}", max_concurrency=8)
        self.prices = prices
        self._http_client = http_client
        self._clock = clock
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI] = (
            weakref.WeakKeyDictionary()
        )
        self._clients_lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        retry: RetryPolicy | None = None,
        http_client: Any = None,
    ) -> OpenAIProvider:
        """Configured from `Settings`; a missing key is a `ConfigError` unless the server is local."""
        base_url = settings.openai_base_url or DEFAULT_BASE_URL
        key = settings.openai_api_key
        if key is None or not key.get_secret_value().strip():
            if not is_local_url(base_url):
                raise ConfigError(
                    "the openai provider needs an API key: set OPENAI_API_KEY (or "
                    "PHASEGRAPH_OPENAI_API_KEY), or point OPENAI_BASE_URL at a local OpenAI-compatible server"
                )
            key = SecretStr(LOCAL_DUMMY_KEY)
        limiter = shared_limiter(
            f"openai:{base_url}",
            max_concurrency=settings.max_concurrency,
            requests_per_minute=settings.requests_per_minute,
        )
        return cls(
            model=settings.model,
            api_key=key,
            base_url=base_url,
            organization=settings.openai_organization,
            temperature=settings.temperature,
            timeout_s=settings.timeout_s,
            retry=retry or RetryPolicy.from_settings(settings),
            limiter=limiter,
            prices=settings.prices,
            http_client=http_client,
        )

    async def complete(self, request: ModelRequest[T]) -> ModelResponse[T]:
        """One structured-output call, retried on transient failures by the retry policy."""
        where = f"openai {self.model} ({request.describe()})"
        fields = {"provider": self.name, "model": self.model, "agent": request.agent, "phase": request.phase}
        if request.run_id:
            fields["run_id"] = request.run_id
        arguments: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "response_format": response_format(request.output_model),
            "extra_headers": _headers(request),
            "timeout": self.timeout_s,
        }
        if self.temperature is not None and not _NO_TEMPERATURE.match(self.model):
            arguments["temperature"] = self.temperature
        client = self._client()

        async def attempt(number: int) -> ChatCompletion:
            async with self.limiter.slot():
                answer: ChatCompletion = await client.chat.completions.create(**arguments)
                return answer

        started = self._clock()
        tally = UnansweredTally(self.model, sum(len(m.content) for m in request.messages), self.prices)
        try:
            completion, attempts = await self.retry.call(
                attempt, where=where, secrets=self._secrets(), log_fields=fields, on_failure=tally
            )
        except ProviderError as exc:
            tally.charge(exc)
            raise
        usage = tally.settle(self._usage(completion, request, self._clock() - started, attempts))
        try:
            output, raw = self._answer(completion, request, where, usage)
        except ProviderError as exc:
            exc.usage = usage
            _log.warning("provider.unusable_answer", **fields, error=type(exc).__name__, **_tokens(usage))
            raise
        _log.info("provider.call", **fields, **_tokens(usage))
        return ModelResponse(output=output, usage=usage, raw=raw)

    async def aclose(self) -> None:
        """Close the client of the running loop (and forget the others)."""
        with self._clients_lock:
            clients = dict(self._clients)
            self._clients.clear()
        current = asyncio.get_running_loop()
        for loop, client in clients.items():
            if loop is current:
                await client.close()

    def _answer(
        self, completion: ChatCompletion, request: ModelRequest[T], where: str, usage: CallUsage
    ) -> tuple[T, str]:
        if not completion.choices:
            raise SchemaViolation(f"{where}: the server answered without any choice")
        choice = completion.choices[0]
        message = choice.message
        if message.refusal:
            raise refused(where, message.refusal)
        if choice.finish_reason == "length":
            raise truncated(where, usage.completion_tokens)
        if choice.finish_reason == "content_filter":
            raise refused(where, "the content filter stopped the answer (finish_reason=content_filter)")
        raw = message.content or ""
        return parse_output(raw, request.output_model, where), raw

    def _usage(
        self, completion: ChatCompletion, request: ModelRequest[Any], latency_s: float, attempts: int
    ) -> CallUsage:
        model = completion.model or self.model
        reported = completion.usage
        if reported is None:
            answer = completion.choices[0].message.content or "" if completion.choices else ""
            prompt = math.ceil(sum(len(m.content) for m in request.messages) / 4)
            completion_tokens, cached, estimated = math.ceil(len(answer) / 4), 0, True
        else:
            prompt, completion_tokens, estimated = reported.prompt_tokens, reported.completion_tokens, False
            details = reported.prompt_tokens_details
            cached = (details.cached_tokens or 0) if details is not None else 0
        return CallUsage(
            model=model,
            prompt_tokens=prompt,
            completion_tokens=completion_tokens,
            cached_tokens=cached,
            latency_s=latency_s,
            attempts=attempts,
            cost_usd=cost_of(model, prompt, cached, completion_tokens, self.prices, asked=self.model),
            estimated=estimated,
        )

    def _client(self) -> openai.AsyncOpenAI:
        """The client for the running event loop: an httpx pool must not cross loops."""
        loop = asyncio.get_running_loop()
        with self._clients_lock:
            client = self._clients.get(loop)
            if client is None:
                client = openai.AsyncOpenAI(
                    api_key=self._api_key.get_secret_value(),
                    base_url=self.base_url,
                    organization=self._organization,
                    timeout=self.timeout_s,
                    max_retries=0,
                    http_client=self._http_client,
                )
                self._clients[loop] = client
            return client

    def _secrets(self) -> tuple[str, ...]:
        return (self._api_key.get_secret_value(),)


def is_local_url(url: str) -> bool:
    """True for loopback, private-network and `.local` hosts: servers that need no real key."""
    host = (urlsplit(url).hostname or "").lower()
    if host in ("localhost", "host.docker.internal") or host.endswith((".localhost", ".local")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_unspecified


def _headers(request: ModelRequest[Any]) -> dict[str, str]:
    """Who is asking, for OpenAI-compatible servers that log or route by it (ASCII-safe)."""
    values = {
        "X-Phasegraph-Agent": request.agent,
        "X-Phasegraph-Phase": request.phase,
        "X-Phasegraph-Run": request.run_id,
    }
    return {name: quote(value, safe=" -_.:/@+") for name, value in values.items() if value}


def _tokens(usage: CallUsage) -> dict[str, Any]:
    return {
        "attempts": usage.attempts,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cached_tokens": usage.cached_tokens,
        "latency_s": round(usage.latency_s, 3),
        "cost_usd": round(usage.cost_usd, 6),
    }
