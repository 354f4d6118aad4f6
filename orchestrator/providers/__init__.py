"""Model providers behind one interface, chosen by `Settings.provider`.

`make_provider(settings)` returns the configured provider: `offline` (the default;
no network), `openai` (and any OpenAI-compatible server), `replay` (answers from a
cassette) or `langchain` (any chat model you pass in). `record_to=` appends every
call to a cassette; `metered(...)` adds a budget and a usage ledger. The network
providers are imported only when chosen, so importing this package stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError
from orchestrator.providers.base import Message, ModelRequest, ModelResponse, Provider
from orchestrator.providers.metered import MeteredProvider, metered
from orchestrator.providers.offline import OfflineProvider

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from orchestrator.providers._retry import RetryPolicy
    from orchestrator.providers.langchain import LangChainProvider
    from orchestrator.providers.openai import OpenAIProvider
    from orchestrator.providers.replay import Cassette, RecordingProvider, ReplayProvider
    from orchestrator.settings import Settings

__all__ = [
    "Cassette",
    "LangChainProvider",
    "Message",
    "MeteredProvider",
    "ModelRequest",
    "ModelResponse",
    "OfflineProvider",
    "OpenAIProvider",
    "Provider",
    "RecordingProvider",
    "ReplayProvider",
    "RetryPolicy",
    "make_provider",
    "metered",
]

_LAZY = {
    "Cassette": "orchestrator.providers.replay",
    "LangChainProvider": "orchestrator.providers.langchain",
    "OpenAIProvider": "orchestrator.providers.openai",
    "RecordingProvider": "orchestrator.providers.replay",
    "ReplayProvider": "orchestrator.providers.replay",
    "RetryPolicy": "orchestrator.providers._retry",
}
"""Exported names whose modules load the network stack: imported on first use."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'orchestrator.providers' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def make_provider(
    settings: Settings,
    *,
    chat_model: BaseChatModel | None = None,
    record_to: Path | str | None = None,
    retry: RetryPolicy | None = None,
    http_client: Any = None,
) -> Provider:
    """The provider `settings.provider` names, optionally recording to a cassette.

    `retry` replaces the policy built from settings (tests pass a fake clock);
    `http_client` is handed to the openai SDK (proxies, respx in tests).
    A choice that cannot work (no key, no cassette, no chat model) is a `ConfigError`.
    """
    provider: Provider
    if settings.provider == "offline":
        provider = OfflineProvider()
    elif settings.provider == "openai":
        from orchestrator.providers.openai import OpenAIProvider

        provider = OpenAIProvider.from_settings(settings, retry=retry, http_client=http_client)
    elif settings.provider == "replay":
        if settings.cassette is None:
            raise ConfigError("provider replay needs a cassette: set PHASEGRAPH_CASSETTE to a recorded file")
        from orchestrator.providers.replay import ReplayProvider

        provider = ReplayProvider(settings.cassette)
    elif settings.provider == "langchain":
        if chat_model is None:
            raise ConfigError(
                "provider langchain needs a chat model: pass chat_model= (a langchain_core BaseChatModel) "
                "from Python; it cannot be chosen from the environment alone"
            )
        from orchestrator.providers.langchain import LangChainProvider

        provider = LangChainProvider.from_settings(settings, chat_model, retry=retry)
    else:  # pragma: no cover - Settings validates the name
        raise ConfigError(f"setting provider: unknown provider {settings.provider!r}")
    if record_to is not None:
        from orchestrator.providers.replay import Cassette, RecordingProvider

        keys = (settings.openai_api_key, settings.azure_api_key)
        secrets = [key.get_secret_value() for key in keys if key is not None]
        provider = RecordingProvider(provider, Cassette(record_to, secrets=secrets))
    return provider
