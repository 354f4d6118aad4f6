"""make_provider: the setting picks the provider; a choice that cannot work is a ConfigError."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from orchestrator.errors import ConfigError
from orchestrator.providers import OfflineProvider, make_provider
from orchestrator.providers._redact import redact
from orchestrator.providers._schema import response_format, strict_json_schema
from orchestrator.providers.openai import LOCAL_DUMMY_KEY, OpenAIProvider, is_local_url
from orchestrator.providers.replay import RecordingProvider
from orchestrator.settings import load_settings


@pytest.fixture(autouse=True)
def no_ambient_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENAI_API_KEY",
        "PHASEGRAPH_OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "PHASEGRAPH_OPENAI_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def test_offline_is_the_default() -> None:
    assert isinstance(make_provider(load_settings()), OfflineProvider)


def test_openai_without_a_key_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        make_provider(load_settings(provider="openai"))


@pytest.mark.parametrize(
    "base_url",
    ["http://localhost:11434/v1", "http://127.0.0.1:8000/v1", "http://10.0.0.7/v1", "http://gpu.local/v1"],
)
def test_openai_on_a_local_server_needs_no_key(base_url: str) -> None:
    provider = make_provider(load_settings(provider="openai", openai_base_url=base_url))
    assert isinstance(provider, OpenAIProvider)
    assert provider.base_url == base_url


def test_openai_on_a_remote_server_without_key_is_refused() -> None:
    assert not is_local_url("https://api.openai.com/v1")
    with pytest.raises(ConfigError):
        make_provider(load_settings(provider="openai", openai_base_url="https://gateway.example.com/v1"))


def test_openai_settings_reach_the_provider() -> None:
    settings = load_settings(
        provider="openai",
        openai_api_key="sk-abcdef123456",
        model="gpt-4.1-mini",
        temperature=0.3,
        timeout_s=9,
    )
    provider = make_provider(settings)
    assert isinstance(provider, OpenAIProvider)
    assert (provider.model, provider.temperature, provider.timeout_s) == ("gpt-4.1-mini", 0.3, 9)
    assert provider.retry.max_attempts == settings.max_attempts
    assert "sk-abcdef123456" not in repr(provider)
    assert LOCAL_DUMMY_KEY not in repr(provider)


def test_record_to_wraps_the_chosen_provider(tmp_path: Path) -> None:
    provider = make_provider(load_settings(), record_to=tmp_path / "c.jsonl")
    assert isinstance(provider, RecordingProvider)
    assert provider.name == "offline"


@pytest.mark.slow
def test_importing_the_providers_package_does_not_load_the_network_stack() -> None:
    import subprocess

    code = (
        "import sys, orchestrator.providers\n"
        "print(sorted({'openai', 'langchain_core'}.intersection(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("Incorrect API key provided: sk-proj-abc123def456", "sk-proj-abc123def456"),
        ("Authorization: Bearer eyJhbGciOi.payload", "eyJhbGciOi.payload"),
        ('{"api_key": "k-9f8e7d6c"}', "k-9f8e7d6c"),
        ("OPENAI_API_KEY=k-short", "k-short"),
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("my key is hunter2-longer-secret", "hunter2-longer-secret"),
    ],
)
def test_redact_hides_keys_and_tokens(text: str, hidden: str) -> None:
    assert hidden not in redact(text, secrets=["hunter2-longer-secret"])


def test_redacting_json_text_keeps_it_json() -> None:
    text = json.dumps({"prompt": 'headers: {"Authorization": "Bearer abc.def", "api_key": "xyz"}'})
    shown = json.loads(redact(text))
    assert "abc.def" not in shown["prompt"]
    assert "xyz" not in shown["prompt"]


class Finding(BaseModel):
    severity: str = Field(default="low", description="How bad")
    notes: list[str] = Field(default_factory=list, min_length=1)


class Verify(BaseModel):
    test_results: str = Field(min_length=1, title="Test results (pytest)")
    findings: list[Finding]


def test_strict_schema_closes_objects_and_moves_constraints_into_descriptions() -> None:
    schema = strict_json_schema(Verify)
    finding = schema["$defs"]["Finding"]
    assert finding["additionalProperties"] is False
    assert finding["required"] == ["severity", "notes"]
    assert "default" not in finding["properties"]["severity"]
    assert schema["properties"]["test_results"]["description"] == "Test results (pytest); non-empty."
    assert schema["properties"]["findings"]["items"] == {"$ref": "#/$defs/Finding"}


def test_response_format_names_the_schema_safely() -> None:
    named = type("Design output (v2)", (BaseModel,), {"__annotations__": {"x": int}})
    assert response_format(named)["json_schema"]["name"] == "Design_output__v2_"


def test_a_free_form_mapping_cannot_be_a_strict_output() -> None:
    class Loose(BaseModel):
        extras: dict[str, str]

    with pytest.raises(TypeError, match=r"Loose\.extras"):
        strict_json_schema(Loose)
