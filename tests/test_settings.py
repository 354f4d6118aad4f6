"""Settings: flag over environment over default; a bad value names the setting; secrets masked."""

from __future__ import annotations

import pytest

from orchestrator.errors import ConfigError
from orchestrator.settings import load_settings, masked


def test_flag_overrides_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHASEGRAPH_MODEL", "from-env")
    assert load_settings(model="from-flag").model == "from-flag"
    assert load_settings(model=None).model == "from-env"


def test_openai_variables_are_read_under_their_sdk_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    settings = load_settings()
    assert settings.openai_api_key is not None
    assert settings.openai_api_key.get_secret_value() == "sk-test-123"
    assert settings.openai_base_url == "http://127.0.0.1:9/v1"


def test_bad_value_is_one_line_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHASEGRAPH_MAX_CONCURRENCY", "lots")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "max_concurrency" in str(info.value)
    assert "\n" not in str(info.value)


def test_agents_dirs_split_on_path_separator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHASEGRAPH_AGENTS_DIRS", "a:b")
    assert [p.name for p in load_settings().agents_dirs] == ["a", "b"]


def test_masked_hides_the_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    shown = masked(load_settings())
    assert shown["openai_api_key"] == "***"
    assert "sk-secret-value" not in repr(load_settings())


def test_masked_hides_the_azure_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-secret-value")
    shown = masked(load_settings())
    assert shown["azure_api_key"] == "***"
    assert "azure-secret-value" not in repr(load_settings())


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (None, None, None)),
        ({"PHASEGRAPH_TEMPERATURE": "0.2", "PHASEGRAPH_REASONING_MODEL": "true"}, (0.2, True, None)),
        ({"PHASEGRAPH_TEMPERATURE": "", "PHASEGRAPH_PROMPT_CACHE_KEY": "false"}, (None, None, False)),
    ],
)
def test_temperature_is_unset_unless_given(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: tuple[object, ...]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    loaded = load_settings()
    assert (loaded.temperature, loaded.reasoning_model, loaded.prompt_cache_key) == expected


def test_masked_hides_a_password_inside_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHASEGRAPH_CHECKPOINT_URL", "postgresql://app:s3cret@db.internal/runs")
    shown = masked(load_settings())
    assert shown["checkpoint_url"] == "postgresql://app:***@db.internal/runs"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db.internal/runs", "postgresql://app:***@db.internal/runs"),
        ("postgresql://app:p@ss@db/runs", "postgresql://app:***@db/runs"),
        ("postgresql://app:p/ss@db/runs", "postgresql://app:***@db/runs"),
        ("https://TOKEN@example.com/x", "https://***@example.com/x"),
        ("redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("postgresql://db.internal/runs", "postgresql://db.internal/runs"),
        ("sqlite:///runs/state.sqlite", "sqlite:///runs/state.sqlite"),
    ],
)
def test_one_masker_hides_url_credentials_in_settings_and_errors(url: str, shown: str) -> None:
    from pathlib import Path

    from orchestrator.checkpoint import describe
    from orchestrator.settings import hide_url_password

    assert hide_url_password(url) == shown
    assert describe(url, Path("/project")) == shown
    assert masked(load_settings(checkpoint_url=url))["checkpoint_url"] == shown
