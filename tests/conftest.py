"""Shared fixtures: example projects, a scripted offline provider, a PostgreSQL URL."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from orchestrator._log import FIELDS
from orchestrator.providers.base import ModelRequest, ModelResponse, Provider, T

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    # CI explores the same examples on every run: a red build is always reproducible.
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "fastapi-service"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No phasegraph or OpenAI settings from the environment, an empty working folder,
    and phasegraph's logging back to its defaults afterwards (a CLI test may change it)."""
    from orchestrator._log import configure_logging

    for name in list(os.environ):
        if name.startswith(("PHASEGRAPH_", "OPENAI_", "AZURE_OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield
    configure_logging()


@dataclass
class LogCapture:
    """The phasegraph log records of one test, at every level."""

    events: list[dict[str, Any]] = field(default_factory=list)
    """Each record's event and fields (`record.phasegraph`), with its `level`."""
    messages: list[str] = field(default_factory=list)
    """Each record's message, as a host's plain logging formatter shows it."""


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    """Every record the `phasegraph` loggers emit during the test, whatever their configured level."""
    captured = LogCapture()

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.events.append({**getattr(record, FIELDS), "level": record.levelname.lower()})
            captured.messages.append(record.getMessage())

    logger = logging.getLogger("phasegraph")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield captured
    logger.removeHandler(handler)
    logger.setLevel(level)


def invoke_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, str, str]:
    """`phasegraph ARGS...` in-process: (exit code, stdout, stderr); a traceback fails the test."""
    from orchestrator.cli import main

    monkeypatch.setattr(sys, "argv", ["phasegraph", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    assert "Traceback" not in err + out
    code = exited.value.code
    return (code if isinstance(code, int) else 0), out, err


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """`run_cli(*args)`: `invoke_cli` with this test's capsys and monkeypatch."""

    def call(*args: str) -> tuple[int, str, str]:
        return invoke_cli(capsys, monkeypatch, *args)

    return call


def without_checks(project: Path) -> Path:
    """`project` with its real checks turned off (`[tool.phasegraph] checks = []`): the example's
    own tests need FastAPI, which the test environment lacks; tests of the checks opt back in."""
    with (project / "pyproject.toml").open("a", encoding="utf-8") as fh:
        fh.write("\n[tool.phasegraph]\nchecks = []\n")
    return project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the example FastAPI project, so runs can write under it (its real checks off)."""
    dest = tmp_path / "project"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(".phasegraph", ".venv"))
    return without_checks(dest)


class ScriptedProvider(Provider):
    """Offline answers with chosen fields overridden, handoffs forced, and every request kept.

    `force` maps a field name to the text it always gets (e.g. "TBD" to starve the
    gate); `force_once` does so for the first answer only; `handoffs` lists the
    collaborators every agent hands off to when its schema allows them.
    """

    __test__ = False

    def __init__(
        self,
        *,
        force: dict[str, str] | None = None,
        force_once: dict[str, str] | None = None,
        handoffs: list[str] | None = None,
    ) -> None:
        from orchestrator.providers import make_provider
        from orchestrator.settings import load_settings

        self.inner = make_provider(load_settings(provider="offline"))
        self.name = "offline"
        self.model = self.inner.model
        self.force = force or {}
        self.force_once = dict(force_once or {})
        self.handoffs = handoffs
        self.requests: list[ModelRequest[Any]] = []

    async def complete(self, request: ModelRequest[T]) -> ModelResponse[T]:
        self.requests.append(request)
        response = await self.inner.complete(request)
        data = response.output.model_dump(mode="json")
        for name, value in self.force.items():
            if name in data:
                data[name] = value
        for name in list(self.force_once):
            if name in data:
                data[name] = self.force_once.pop(name)
        if self.handoffs is not None and "handoffs" in data:
            allowed = _enum_of_to(request.output_model)
            data["handoffs"] = [
                {"to": t, "brief": f"Please cover your part of: {t}.", "deliverables_needed": []}
                for t in self.handoffs
                if t in allowed
            ]
        output = request.output_model.model_validate(data)
        return ModelResponse(output=output, usage=response.usage, raw=json.dumps(data))

    def calls_for(self, agent: str) -> int:
        return sum(1 for r in self.requests if r.agent == agent)


def _enum_of_to(model: type[Any]) -> list[str]:
    schema = model.model_json_schema()
    for definition in schema.get("$defs", {}).values():
        to = definition.get("properties", {}).get("to")
        if to:
            return list(to.get("enum") or [to.get("const")])
    return []


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The local PostgreSQL, or a skip that says why."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            pass
    except OSError:
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    yield PG_URL


@pytest.fixture
def rabbitmq() -> str:
    """The local RabbitMQ's broker URL, or a skip that says why."""
    from benchmarks._workers import RABBITMQ_URL, listening

    if not listening(5672):
        pytest.skip("RabbitMQ is not running on 127.0.0.1:5672")
    return RABBITMQ_URL


@pytest.fixture
def redis() -> str:
    """The local Redis's broker URL (a database of its own), or a skip that says why."""
    from benchmarks._workers import listening, redis_url

    if not listening(6379):
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    return redis_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def checkpoint_url(request: pytest.FixtureRequest, project: Path) -> str:
    """The same test on the project's SQLite file (named explicitly) and on the local PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{project / '.phasegraph' / 'state.sqlite'}"
    url: str = request.getfixturevalue("pg_url")
    return url


FITTING_TOKENS = (1000, 200)
"""Prompt and completion tokens of every `fitting_completion`."""


def fitting_completion(
    request: Any,
    *,
    content: str | None = None,
    finish: str = "stop",
    refusal: str | None = None,
    cached: int | None = None,
) -> Any:
    """An OpenAI chat.completion (`FITTING_TOKENS`) for a respx route; its content defaults to JSON
    that fits the request's schema."""
    import httpx

    from benchmarks.fake_openai import SchemaFaker

    sent = json.loads(request.content)
    if content is None and refusal is None:
        schema = sent["response_format"]["json_schema"]["schema"]
        content = json.dumps(SchemaFaker(schema, array_items=2).generate())
    prompt, completion = FITTING_TOKENS
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cached is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 0,
            "model": sent["model"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": finish,
                    "message": {"role": "assistant", "content": content, "refusal": refusal},
                }
            ],
            "usage": usage,
        },
    )
