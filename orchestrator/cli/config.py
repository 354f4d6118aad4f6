"""`phasegraph config`: the settings this process would use, secrets masked.

Settings come from CLI flags, then `PHASEGRAPH_*` environment variables (and
`OPENAI_API_KEY`/`OPENAI_BASE_URL`), then `.env` in the current folder, then the
defaults; `.env.example` documents every one. A bad value fails here the same way
it would fail a run: one line naming the setting, exit 2.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import AliasChoices
from rich import box
from rich.console import Console
from rich.table import Table

from orchestrator.cli import app
from orchestrator.cli._common import JsonOption, print_json, safe_markup
from orchestrator.settings import Settings, load_settings, masked


@app.command("config")
def config_command(as_json: JsonOption = False) -> None:
    """Print the effective settings (flags aside), with secrets masked."""
    data = masked(load_settings())
    if as_json:
        print_json(data)
        return
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("setting", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("environment variables", overflow="fold")
    for name, value in data.items():
        table.add_row(name, safe_markup(_shown(value)), " ".join(env_names(name)))
    Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 160).print(table)


def env_names(field: str) -> list[str]:
    """The environment variables that set `field` (`max_usd` -> `PHASEGRAPH_MAX_USD`)."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [c for c in alias.choices if isinstance(c, str) and c.isupper()]
    prefix = str(Settings.model_config.get("env_prefix", ""))
    return [f"{prefix}{field}".upper()]


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
