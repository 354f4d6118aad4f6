"""OpenAI, or any OpenAI-compatible server, through `openai.AsyncOpenAI` and structured outputs.

The SDK's own retries are off (`max_retries=0`): phasegraph's one retry policy
decides, so a 429 is waited out once, with the server's `Retry-After`, and counted.
Each request carries a strict JSON schema built from the output model, so the answer
can only be that model; what still goes wrong (a refusal, `finish_reason=length`,
text that is not JSON, JSON that does not validate) becomes its own typed error.
A classic Azure OpenAI resource (deployments and `api-version`) is asked through the
SDK's `AsyncAzureOpenAI`, the model name being the deployment name.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import ipaddress
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import openai
from pydantic import SecretStr

from orchestrator._log import get_logger
from orchestrator.errors import ConfigError, ProviderError, SchemaViolation
from orchestrator.providers._answers import parse_output, refused, truncated
from orchestrator.providers._capabilities import temperature_to_send
from orchestrator.providers._limits import CallLimiter, shared_limiter
from orchestrator.providers._retry import RetryPolicy
from orchestrator.providers._schema import response_format
from orchestrator.providers._tally import UnansweredTally
from orchestrator.providers.base import ModelRequest, ModelResponse, Provider, T
from orchestrator.runtime import current_runtime
from orchestrator.settings import ModelPrice
from orchestrator.usage import CallUsage, cost_of, estimate_tokens

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletion

    from orchestrator.settings import Settings

_log = get_logger("phasegraph.providers")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
LOCAL_DUMMY_KEY = "not-needed-for-a-local-server"
"""Sent to local OpenAI-compatible servers (vLLM, Ollama, ...) when no key is configured."""

PROMPT_CACHE_KEY_HOSTS = frozenset({"api.openai.com"})
"""Servers known to accept `prompt_cache_key`; others get it only with PHASEGRAPH_PROMPT_CACHE_KEY=true."""


class OpenAIProvider(Provider):
    """Chat completions with a strict JSON schema; one `AsyncOpenAI` client per event loop and endpoint."""

    name = "openai"

    def __init__(
        self,
        *,
        model: str,
        api_key: SecretStr | str,
        base_url: str | None = None,
        organization: str | None = None,
        temperature: float | None = None,
        reasoning_model: bool | None = None,
        prompt_cache_key: bool | None = None,
        azure_endpoint: str | None = None,
        azure_api_version: str | None = None,
        timeout_s: float = 60.0,
        retry: RetryPolicy | None = None,
        limiter: CallLimiter | None = None,
        prices: Mapping[str, ModelPrice] | None = None,
        http_client: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`temperature` is sent only when set and the model takes it (`reasoning_model`
        overrides the capabilities table); `prompt_cache_key` (None: only to api.openai.com)
        sends one cache key per agent and phase. With `azure_endpoint` the requests go to that
        Azure OpenAI resource's deployment `model`, with `azure_api_version`.
        `http_client` (an `httpx.AsyncClient`, or the SDK's own httpx2 one) replaces the
        SDK's default client, for proxies and for tests that intercept HTTP with respx;
        `clock` measures latency."""
        self.model = model
        self._api_key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        self.azure_endpoint = azure_endpoint.rstrip("/") if azure_endpoint else None
        self.azure_api_version = azure_api_version
        self.base_url = self.azure_endpoint or base_url or DEFAULT_BASE_URL
        self._organization = organization
        self.temperature = temperature
        self.reasoning_model = reasoning_model
        self._temperature = temperature_to_send(model, temperature, reasoning_model)
        if temperature is not None and self._temperature is None:
            _log.info("provider.temperature_left_out", model=model, reason="the model rejects temperature")
        if prompt_cache_key is None:
            prompt_cache_key = (urlsplit(self.base_url).hostname or "").lower() in PROMPT_CACHE_KEY_HOSTS
        self.prompt_cache_key = prompt_cache_key
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
        """Configured from `Settings`; a missing key is a `ConfigError` unless the server is local.

        An Azure endpoint in the settings makes this an Azure OpenAI provider (see `_azure_from_settings`).
        """
        if settings.azure_endpoint:
            return cls._azure_from_settings(settings, retry=retry, http_client=http_client)
        base_url = settings.openai_base_url or DEFAULT_BASE_URL
        key = settings.openai_api_key
        if key is None or not key.get_secret_value().strip():
            if not is_local_url(base_url):
                raise ConfigError(
                    "the openai provider needs an API key: set OPENAI_API_KEY (or "
                    "PHASEGRAPH_OPENAI_API_KEY), or point OPENAI_BASE_URL at a local OpenAI-compatible server"
                )
            key = SecretStr(LOCAL_DUMMY_KEY)
        return cls._configured(settings, key, base_url=base_url, retry=retry, http_client=http_client)

    @classmethod
    def _azure_from_settings(
        cls, settings: Settings, *, retry: RetryPolicy | None, http_client: Any
    ) -> OpenAIProvider:
        """A classic Azure OpenAI resource: its own key (never the OpenAI one), deployment = model."""
        endpoint = str(settings.azure_endpoint).strip()
        if urlsplit(endpoint).scheme not in ("https", "http") or not urlsplit(endpoint).hostname:
            raise ConfigError(
                f"setting azure_endpoint: {endpoint!r} is not a URL; set AZURE_OPENAI_ENDPOINT "
                "(or PHASEGRAPH_AZURE_ENDPOINT) to your resource, e.g. https://NAME.openai.azure.com"
            )
        if urlsplit(endpoint).path.rstrip("/").endswith("/v1"):
            raise ConfigError(
                f"setting azure_endpoint: {endpoint} is Azure's v1 endpoint, which is OpenAI-compatible: "
                "set it as OPENAI_BASE_URL with the Azure key as OPENAI_API_KEY instead"
            )
        if settings.openai_base_url:
            raise ConfigError(
                "both an Azure endpoint (AZURE_OPENAI_ENDPOINT / PHASEGRAPH_AZURE_ENDPOINT) and "
                "OPENAI_BASE_URL are set: unset one (Azure's v1 endpoint goes in OPENAI_BASE_URL alone)"
            )
        key = settings.azure_api_key
        if key is None or not key.get_secret_value().strip():
            raise ConfigError(
                "the Azure OpenAI endpoint needs its key: "
                "set AZURE_OPENAI_API_KEY (or PHASEGRAPH_AZURE_API_KEY)"
            )
        return cls._configured(
            settings,
            key,
            azure_endpoint=endpoint,
            azure_api_version=settings.azure_api_version,
            retry=retry,
            http_client=http_client,
        )

    @classmethod
    def _configured(
        cls,
        settings: Settings,
        key: SecretStr,
        *,
        base_url: str | None = None,
        azure_endpoint: str | None = None,
        azure_api_version: str | None = None,
        retry: RetryPolicy | None,
        http_client: Any,
    ) -> OpenAIProvider:
        limiter = shared_limiter(
            f"openai:{azure_endpoint or base_url}",
            max_concurrency=settings.max_concurrency,
            requests_per_minute=settings.requests_per_minute,
        )
        return cls(
            model=settings.model,
            api_key=key,
            base_url=base_url,
            organization=settings.openai_organization,
            temperature=settings.temperature,
            reasoning_model=settings.reasoning_model,
            prompt_cache_key=settings.prompt_cache_key,
            azure_endpoint=azure_endpoint,
            azure_api_version=azure_api_version,
            timeout_s=settings.timeout_s,
            retry=retry or RetryPolicy.from_settings(settings),
            limiter=limiter,
            prices=settings.prices,
            http_client=http_client,
        )

    async def complete(self, request: ModelRequest[T]) -> ModelResponse[T]:
        """One structured-output call, retried on transient failures by the retry policy."""
        kind = "azure openai" if self.azure_endpoint else "openai"
        where = f"{kind} {self.model} ({request.describe()})"
        fields = {"provider": self.name, "model": self.model, "agent": request.agent, "phase": request.phase}
        if request.run_id:
            fields["run_id"] = request.run_id
        arguments = self.arguments(request)
        client = await self._client()

        tally = UnansweredTally(self.model, request.prompt_chars(), self.prices)

        async def attempt(number: int) -> ChatCompletion:
            async with self.limiter.slot():
                answer: ChatCompletion = await tally.send(client.chat.completions.create(**arguments))
                return answer

        started = self._clock()
        completion, attempts = await tally.retried(
            self.retry,
            attempt,
            where=where,
            log_fields=fields,
            usage_of=lambda answer, n: self._usage(answer, request, self._clock() - started, n),
            raw_of=lambda answer, usage: self._answer(answer, request, where, usage)[1],
            secrets=self._secrets(),
        )
        usage = tally.settle(self._usage(completion, request, self._clock() - started, attempts))
        try:
            output, raw = self._answer(completion, request, where, usage)
        except ProviderError as exc:
            exc.usage = usage
            _log.warning("provider.unusable_answer", **fields, error=type(exc).__name__, **_tokens(usage))
            raise
        _log.info("provider.call", **fields, **_tokens(usage))
        return ModelResponse(output=output, usage=usage, raw=raw)

    def arguments(self, request: ModelRequest[Any]) -> dict[str, Any]:
        """The keyword arguments of `chat.completions.create` for `request` (what the server sees)."""
        arguments: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "response_format": response_format(request.output_model),
            "extra_headers": _headers(request),
            "timeout": self.timeout_s,
        }
        if self._temperature is not None:
            arguments["temperature"] = self._temperature
        if self.prompt_cache_key:
            arguments["prompt_cache_key"] = cache_key(request)
        return arguments

    async def aclose(self) -> None:
        """Close the client made on the caller's `http_client` for the running loop (and forget the
        others); the runtime's shared clients stay open for the next runs (see `orchestrator.runtime`)."""
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
            prompt = estimate_tokens(request.prompt_chars())
            completion_tokens, cached, estimated = estimate_tokens(len(answer)), 0, True
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

    async def _client(self) -> openai.AsyncOpenAI:
        """The client for the running event loop (an httpx pool must not cross loops).

        Without an `http_client` of the caller's, it is the runtime's: every provider with the
        same endpoint, credentials and timeout shares it, from one run to the next.
        """
        if self._http_client is None:
            return await current_runtime().client(self._client_key(), self._new_client)
        loop = asyncio.get_running_loop()
        with self._clients_lock:
            client = self._clients.get(loop)
            if client is None:
                client = self._clients[loop] = self._new_client()
            return client

    def _client_key(self) -> tuple[Hashable, ...]:
        secret = hashlib.sha256(self._api_key.get_secret_value().encode()).hexdigest()
        return ("openai", self.base_url, self.azure_api_version, secret, self._organization, self.timeout_s)

    def _new_client(self) -> openai.AsyncOpenAI:
        http_client = self._http_client
        if http_client is None:  # the SDK's default client, on the runtime's one TLS context
            tls = current_runtime().once(("tls context",), _tls_context)
            http_client = openai.DefaultAsyncHttpxClient(timeout=self.timeout_s, verify=tls)
        common: dict[str, Any] = {
            "api_key": self._api_key.get_secret_value(),
            "organization": self._organization,
            "timeout": self.timeout_s,
            "max_retries": 0,
            "http_client": http_client,
        }
        if self.azure_endpoint:
            return openai.AsyncAzureOpenAI(
                azure_endpoint=self.azure_endpoint, api_version=self.azure_api_version, **common
            )
        return openai.AsyncOpenAI(base_url=self.base_url, **common)

    def _secrets(self) -> tuple[str, ...]:
        return (self._api_key.get_secret_value(),)


def _tls_context() -> ssl.SSLContext:
    """The TLS context the SDK's HTTP library builds for a default client (trust store, `SSL_CERT_FILE`).

    Reading the certificates takes ~25 ms per client; one context serves every client of a
    runtime, on any loop or thread.
    """
    library = next(c for c in openai.DefaultAsyncHttpxClient.__mro__ if c.__name__ == "AsyncClient")
    context: ssl.SSLContext = importlib.import_module(library.__module__.split(".")[0]).create_ssl_context()
    return context


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


def cache_key(request: ModelRequest[Any]) -> str:
    """One `prompt_cache_key` per agent and phase: the calls whose prompts start alike (same
    schema, same system prompt; a turn and its repair, and the same turn in later runs).

    It leaves out the run, so that a run repeated (CI) is routed to the cache its last
    run filled. A digest keeps it short and free of whatever characters ids contain.
    """
    digest = hashlib.sha256(f"{request.agent}\x00{request.phase}".encode()).hexdigest()
    return f"phasegraph-{digest[:32]}"


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
