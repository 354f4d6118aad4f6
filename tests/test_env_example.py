""".env.example stays in sync with `Settings`: every field listed, every value valid, defaults true."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import AliasChoices

from orchestrator.settings import Settings

EXAMPLE = Path(__file__).resolve().parent.parent / ".env.example"
_LINE = re.compile(r"^# (?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


def example_lines() -> dict[str, str]:
    """Variable -> value of every commented-out assignment in .env.example."""
    found: dict[str, str] = {}
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = _LINE.match(line)
        if match:
            found[match["name"]] = match["value"]
    return found


def env_names(field: str) -> set[str]:
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return {c for c in alias.choices if isinstance(c, str) and c.isupper()}
    return {f"PHASEGRAPH_{field.upper()}"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("PHASEGRAPH_", "OPENAI_", "AZURE_OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_documented_in_env_example(field: str) -> None:
    assert env_names(field) & example_lines().keys(), f"{field} is missing from .env.example"


def test_env_example_names_no_variable_that_is_not_a_setting() -> None:
    known = set().union(*(env_names(f) for f in Settings.model_fields))
    assert set(example_lines()) <= known


def test_every_example_value_is_a_valid_setting(tmp_path: Path) -> None:
    dotenv = tmp_path / "uncommented.env"
    dotenv.write_text("".join(f"{k}={v}\n" for k, v in example_lines().items()), encoding="utf-8")
    loaded = Settings(_env_file=dotenv)
    assert loaded.agents_dirs and loaded.prices and loaded.max_usd is not None


WITH_DEFAULT = sorted(
    f
    for f, info in Settings.model_fields.items()
    if info.get_default(call_default_factory=True) not in (None, {}, [])
)
"""Settings whose example line shows the default (the others show an example value)."""


@pytest.mark.parametrize("field", WITH_DEFAULT)
def test_the_value_shown_for_a_setting_with_a_default_is_that_default(field: str, tmp_path: Path) -> None:
    (name,) = env_names(field) & example_lines().keys()
    dotenv = tmp_path / "one.env"
    dotenv.write_text(f"{name}={example_lines()[name]}\n", encoding="utf-8")
    default = Settings.model_fields[field].get_default(call_default_factory=True)
    assert getattr(Settings(_env_file=dotenv), field) == default


def test_env_example_holds_no_secret() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert not re.search(r"sk-[A-Za-z0-9_-]{12,}", text)
    assert not re.search(r"://[^/\s:@]+:[^@\s]+@", text), "no password in an example URL"
