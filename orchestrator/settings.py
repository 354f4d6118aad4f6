"""Every setting in one place: CLI flag, then environment, then `.env`, then default.

Environment variables are `PHASEGRAPH_<NAME>`; the OpenAI and Azure ones also answer to
the names the openai SDK uses (`OPENAI_API_KEY`, `OPENAI_BASE_URL`, `OPENAI_ORG_ID`,
`AZURE_OPENAI_ENDPOINT`, `AZURE_OPENAI_API_KEY`, `OPENAI_API_VERSION`).
`.env.example` documents each one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from orchestrator.errors import ConfigError

ProviderName = Literal["offline", "openai", "replay", "langchain"]


class ModelPrice(BaseModel):
    """USD per million tokens for one model."""

    input: float
    cached_input: float
    output: float


class Settings(BaseSettings):
    """The effective configuration of one process (see `.env.example`)."""

    model_config = SettingsConfigDict(
        env_prefix="PHASEGRAPH_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # Provider
    provider: ProviderName = "offline"
    model: str = "gpt-4o-mini"
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    """Unset (the default): not sent, the model's own default applies."""
    reasoning_model: bool | None = None
    """True: the model rejects `temperature` (a reasoning model behind a name the capabilities
    table cannot read, such as an Azure deployment); False: it takes it; unset: the table decides."""
    prompt_cache_key: bool | None = None
    """Send `prompt_cache_key` (one per agent and phase): unset sends it to api.openai.com only."""
    timeout_s: float = Field(600.0, gt=0)
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("PHASEGRAPH_OPENAI_API_KEY", "OPENAI_API_KEY", "openai_api_key")
    )
    openai_base_url: str | None = Field(
        None,
        validation_alias=AliasChoices("PHASEGRAPH_OPENAI_BASE_URL", "OPENAI_BASE_URL", "openai_base_url"),
    )
    openai_organization: str | None = Field(
        None,
        validation_alias=AliasChoices(
            "PHASEGRAPH_OPENAI_ORGANIZATION", "OPENAI_ORG_ID", "OPENAI_ORGANIZATION", "openai_organization"
        ),
    )
    azure_endpoint: str | None = Field(
        None,
        validation_alias=AliasChoices("PHASEGRAPH_AZURE_ENDPOINT", "AZURE_OPENAI_ENDPOINT", "azure_endpoint"),
    )
    """A classic Azure OpenAI resource (`https://NAME.openai.azure.com`): provider openai then
    asks its deployments, the model name being the deployment name."""
    azure_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("PHASEGRAPH_AZURE_API_KEY", "AZURE_OPENAI_API_KEY", "azure_api_key"),
    )
    azure_api_version: str = Field(
        "2024-10-21",
        min_length=1,
        validation_alias=AliasChoices(
            "PHASEGRAPH_AZURE_API_VERSION", "OPENAI_API_VERSION", "azure_api_version"
        ),
    )
    cassette: Path | None = None

    # Retries and limits
    max_attempts: int = Field(6, ge=1)
    max_retry_wait_s: float = Field(120.0, ge=0)
    max_concurrency: int = Field(8, ge=1)
    requests_per_minute: int | None = Field(None, ge=1)
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    price_in: float | None = Field(None, ge=0)
    price_out: float | None = Field(None, ge=0)

    # Budgets
    max_usd: float | None = Field(None, gt=0)
    max_tokens: int | None = Field(None, gt=0)

    # Catalogue and pipeline
    agents_dirs: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    no_builtin_agents: bool = False
    """Run on the user's cards alone: `--no-builtin-agents`, `PHASEGRAPH_NO_BUILTIN_AGENTS=1`."""
    pipeline: str = "default"
    approval_gates: bool = False
    max_handoff_depth: int = Field(2, ge=0)
    max_steps: int = Field(200, ge=1)
    context_chars: int = Field(12_000, ge=500)
    project_file_chars: int = Field(16_000, ge=0)
    max_change_files: int = Field(100, ge=1)
    """Files one agent turn may write or delete; the items past it are refused."""
    max_change_bytes: int = Field(2_000_000, ge=1)
    """Bytes one agent turn may write in all; the items past it are refused."""

    # Persistence and output
    checkpoint_url: str | None = None
    broker_url: str | None = None
    """RabbitMQ (`amqp://`) or Redis (`redis://`) URL that queued runs go through (`phasegraph submit`)."""
    out_dir: Path | None = None

    # Logging
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "warning"

    @model_validator(mode="after")
    def _price_the_model(self) -> Settings:
        """`--price-in`/`--price-out` price `model` (cached input at the full input price)."""
        if (self.price_in is None) != (self.price_out is None):
            raise ValueError("price_in and price_out go together (USD per million input and output tokens)")
        if self.price_in is not None and self.price_out is not None:
            price = ModelPrice(input=self.price_in, cached_input=self.price_in, output=self.price_out)
            self.prices = {**self.prices, self.model: price}
        return self

    @field_validator("temperature", "reasoning_model", "prompt_cache_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """`PHASEGRAPH_TEMPERATURE=` (empty) unsets the setting instead of failing."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("agents_dirs", mode="before")
    @classmethod
    def _split_dirs(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [p for chunk in value.split(os.pathsep) for p in chunk.split(",")]
            return [Path(p.strip()) for p in parts if p.strip()]
        return value


SECRET_FIELDS = frozenset({"openai_api_key", "azure_api_key"})


def load_settings(**overrides: Any) -> Settings:
    """Build settings with CLI-flag overrides on top; a bad value is a `ConfigError`.

    Overrides whose value is None are ignored, so a flag that was not given never
    hides the environment.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        if not field:  # a rule across settings: its message names them
            raise ConfigError(f"settings: {first['msg'].removeprefix('Value error, ')}") from None
        raise ConfigError(f"setting {field}: {first['msg']} (got {first.get('input')!r})") from None


_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<userinfo>\S*)@", re.IGNORECASE)
"""A URL's credentials: up to the last `@` of the word, so a password holding `@` or `/` is all hidden."""


def hide_url_password(value: str) -> str:
    """Any URL in `value` with its password hidden: `postgresql://app:s3cret@db/x` ->
    `postgresql://app:***@db/x`. Credentials without a password may be a token
    (`https://TOKEN@host`) and are hidden whole. The one masker for settings and errors."""

    def hide(found: re.Match[str]) -> str:
        user, has_password, _ = found.group("userinfo").partition(":")
        shown = f"{user}:***" if has_password else "***"
        return f"{found.group('scheme')}{shown}@"

    return _URL_USERINFO.sub(hide, value)


def masked(settings: Settings) -> dict[str, Any]:
    """The settings as plain data with every secret, and any password inside a URL, replaced by `***`."""
    data = settings.model_dump(mode="json")
    for name in SECRET_FIELDS:
        if data.get(name):
            data[name] = "***"
    return {k: hide_url_password(v) if isinstance(v, str) else v for k, v in data.items()}
