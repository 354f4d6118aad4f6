"""Logging: library code only fetches `phasegraph.*` loggers; the CLI or `configure_logging` sets it up."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from orchestrator import configure_logging
from orchestrator._log import FIELDS, NAMESPACE, get_logger
from orchestrator.errors import ConfigError
from tests.conftest import LogCapture

ROOT = Path(__file__).resolve().parent.parent

_IMPORT_EVERYTHING = """
import importlib, logging, pkgutil, sys
import structlog
root = logging.getLogger()
before = (structlog.get_config(), structlog.is_configured(), root.level, list(root.handlers))
import orchestrator
for module in pkgutil.walk_packages(orchestrator.__path__, "orchestrator."):
    importlib.import_module(module.name)
after = (structlog.get_config(), structlog.is_configured(), root.level, list(root.handlers))
print(before == after, sorted(n for n in logging.root.manager.loggerDict if n.startswith("orchestrator")))
"""


@pytest.fixture
def unconfigured() -> Iterator[logging.Logger]:
    """The `phasegraph` logger as a host that never called `configure_logging` has it."""
    logger = logging.getLogger(NAMESPACE)
    saved = (list(logger.handlers), logger.level, logger.propagate)
    for handler in saved[0]:
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True
    yield logger
    for handler in saved[0]:
        logger.addHandler(handler)
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


@pytest.mark.slow
def test_importing_every_module_leaves_structlog_and_the_root_logger_untouched() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_EVERYTHING], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip() == "True []"


@pytest.mark.slow
def test_unconfigured_warnings_go_to_stderr_and_never_stdout() -> None:
    code = "from orchestrator.usage import cost_of\ncost_of('model-nobody-prices', 10, 0, 10)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout == ""
    assert done.stderr.startswith("usage.unpriced_model model=model-nobody-prices hint=")


def test_a_host_logging_setup_receives_the_records_with_their_fields(
    unconfigured: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        get_logger("phasegraph.test").info("agent_selected", agent="backend-python", phase="design")
    [record] = [r for r in caplog.records if r.name == "phasegraph.test"]
    assert record.getMessage() == "agent_selected agent=backend-python phase=design"
    assert getattr(record, FIELDS) == {
        "event": "agent_selected",
        "agent": "backend-python",
        "phase": "design",
    }


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("plain", "key=plain"),
        ("two words", 'key="two words"'),
        ('say "hi"', 'key="say \\"hi\\""'),
        ("a=b", 'key="a=b"'),
        ("", 'key=""'),
        ("line\nbreak\x1b[31m", "key=line\\nbreak\\x1b[31m"),
        (3, "key=3"),
    ],
    ids=["plain", "space", "quote", "equals", "empty", "control", "number"],
)
def test_a_record_message_is_the_event_and_its_fields_as_key_values(
    value: object, shown: str, logs: LogCapture
) -> None:
    get_logger("phasegraph.test").warning("something", key=value)
    assert logs.messages == [f"something {shown}"]


def test_records_below_the_hosts_level_are_not_emitted(
    unconfigured: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        get_logger("phasegraph.test").info("quiet", detail="x")
    assert not [r for r in caplog.records if r.name == "phasegraph.test"]


def test_configure_logging_prints_json_lines_to_stderr_and_nothing_else(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    before = (structlog.get_config(), root.level, list(root.handlers))
    try:
        configure_logging(level="info", fmt="json")
        get_logger("phasegraph.test").info("agent_selected", agent="backend-python")
        get_logger("phasegraph.test").debug("too_detailed")
    finally:
        configure_logging()
    out, err = capsys.readouterr()
    assert out == ""
    [line] = err.splitlines()
    record = json.loads(line)
    assert (record["event"], record["agent"], record["level"]) == ("agent_selected", "backend-python", "info")
    assert record["timestamp"].endswith("Z")
    assert (structlog.get_config(), root.level, list(root.handlers)) == before


def test_configure_logging_again_replaces_its_handler(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        configure_logging(level="info", fmt="json")
        configure_logging(level="info", fmt="json")
        get_logger("phasegraph.test").info("once")
    finally:
        configure_logging()
    assert len(capsys.readouterr().err.splitlines()) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"level": "loud"}, "log level 'loud'"), ({"fmt": "xml"}, "log format 'xml'")],
    ids=["level", "format"],
)
def test_configure_logging_names_a_bad_value(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        configure_logging(**kwargs)  # type: ignore[arg-type]


def test_loggers_outside_the_namespace_are_refused() -> None:
    with pytest.raises(ValueError, match="outside the 'phasegraph' namespace"):
        get_logger("orchestrator.usage")


def test_cli_json_output_stays_clean_with_info_logs(
    clean_env: None, project: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHASEGRAPH_LOG_LEVEL", "info")
    monkeypatch.setenv("PHASEGRAPH_LOG_FORMAT", "json")
    args = ("run", "Add JWT auth", "--project-dir", str(project), "--phases", "design", "--json")
    code, out, err = run_cli(*args)
    assert code == 0, err
    assert json.loads(out)["status"] == "completed"
    assert "agent_selected" in [json.loads(line)["event"] for line in err.splitlines()]
