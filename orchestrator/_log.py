"""Logging: library code only fetches `phasegraph.*` loggers; the CLI or `configure_logging()` sets output up.

Every logger is a standard-library `logging` logger under the `phasegraph` namespace,
called with an event name and fields (`log.info("provider.call", model=..., attempts=2)`).
A record's message is the event and its fields as `key=value` pairs, and the record
carries them as a dict in `record.phasegraph`, so a host's own logging set-up shows them
however it formats records. Importing phasegraph configures nothing: a host that set up
no logging sees phasegraph's warnings on stderr (Python's last-resort handler) and never
anything on stdout.

`configure_logging()` (the CLI calls it, and `Orchestrator` does when given `log_level`
or `log_format`) gives the `phasegraph` logger a stderr handler of its own that renders
each record with structlog: JSON lines when stderr is not a terminal, pretty when it is.
It touches neither the root logger nor structlog's global configuration.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, MutableMapping
from typing import Any, Literal

from orchestrator._terminal import terminal_safe
from orchestrator.errors import ConfigError

NAMESPACE = "phasegraph"
"""The parent of every phasegraph logger."""

FIELDS = "phasegraph"
"""The `LogRecord` attribute holding a phasegraph event as a dict: `event` and its fields."""

LogFormat = Literal["auto", "json", "console"]
LogLevel = Literal["debug", "info", "warning", "error"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class Logger:
    """A `phasegraph.*` logger taking an event name and fields, structlog-style."""

    __slots__ = ("_logger",)

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    @property
    def name(self) -> str:
        return self._logger.name

    def debug(self, event: str, **fields: Any) -> None:
        self._log(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, event, fields)

    def _log(self, level: int, event: str, fields: dict[str, Any]) -> None:
        if self._logger.isEnabledFor(level):  # nothing is built for a level nobody listens to
            record = {"event": event, **fields}
            self._logger.log(level, _key_values(record), extra={FIELDS: record}, stacklevel=3)


def get_logger(name: str) -> Logger:
    """The logger `name`, which must be `phasegraph` or under it (`phasegraph.run`)."""
    if name != NAMESPACE and not name.startswith(NAMESPACE + "."):
        raise ValueError(f"logger {name!r} is outside the {NAMESPACE!r} namespace")
    return Logger(logging.getLogger(name))


def configure_logging(*, level: LogLevel = "warning", fmt: LogFormat = "auto") -> None:
    """Print phasegraph's log records at `level` and above to stderr, one line each.

    `fmt` is `json` (JSON lines), `console` (pretty) or `auto` (pretty when stderr is a
    terminal). Only the `phasegraph` logger changes: it gets this one handler (a second
    call replaces it) and stops passing records up to the root logger's handlers.
    """
    if level not in _LEVELS:
        raise ConfigError(f"log level {level!r}: expected one of {', '.join(_LEVELS)}")
    if fmt not in ("auto", "json", "console"):
        raise ConfigError(f"log format {fmt!r}: expected auto, json or console")
    logger = logging.getLogger(NAMESPACE)
    for handler in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
        logger.removeHandler(handler)
    pretty = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    handler = _StderrHandler()
    handler.setFormatter(_Rendered(pretty))
    logger.addHandler(handler)
    logger.setLevel(_LEVELS[level])
    logger.propagate = False


def divert_logging(write: Callable[[logging.LogRecord, str], None]) -> Callable[[], None]:
    """Send phasegraph's records to `write(record, "event key=value ...")` instead of the stderr
    handler `configure_logging` set up (a progress display prints them among its own lines);
    returns the function that puts the stderr handler back."""
    logger = logging.getLogger(NAMESPACE)
    stderr = [h for h in logger.handlers if isinstance(h, _StderrHandler)]
    for handler in stderr:
        logger.removeHandler(handler)
    diverted = _Diverted(write)
    logger.addHandler(diverted)

    def restore() -> None:
        logger.removeHandler(diverted)
        for handler in stderr:
            logger.addHandler(handler)

    return restore


class _Diverted(logging.Handler):
    """Hands each record, as its key=value message, to a function."""

    def __init__(self, write: Callable[[logging.LogRecord, str], None]) -> None:
        super().__init__()
        self._write = write

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._write(record, record.getMessage())
        except Exception:
            self.handleError(record)


class _StderrHandler(logging.Handler):
    """Writes to whatever `sys.stderr` is at the time (tests and notebooks replace it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


class _Rendered(logging.Formatter):
    """A record as structlog renders an event: with its level and an ISO timestamp, JSON or pretty."""

    def __init__(self, pretty: bool) -> None:
        super().__init__()
        self._pretty = pretty
        self._processors: list[Callable[..., Any]] | None = None

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, FIELDS, None)
        event: Any = dict(fields) if isinstance(fields, dict) else {"event": record.getMessage()}
        method = record.levelname.lower()
        for processor in self._chain():
            event = processor(None, method, event)
        return str(event)

    def _chain(self) -> list[Callable[..., Any]]:
        """Built on the first record: structlog is imported only by a process that logs."""
        if self._processors is None:
            import structlog

            renderer: Any = (
                structlog.dev.ConsoleRenderer() if self._pretty else structlog.processors.JSONRenderer()
            )
            self._processors = [
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                *([_terminal_safe_values] if self._pretty else []),
                renderer,
            ]
        return self._processors


def _key_values(record: dict[str, Any]) -> str:
    """`provider.call model=gpt-4o attempts=2`: the message a plain logging formatter shows."""
    parts = [_text(record["event"])]
    for key, value in record.items():
        if key != "event":
            parts.append(f"{key}={_text(value)}")
    return " ".join(parts)


def _text(value: Any) -> str:
    text = terminal_safe(str(value), one_line=True)
    if not text or any(c in text for c in ' "='):
        return '"' + text.replace('"', '\\"') + '"'
    return text


def _terminal_safe_values(logger: Any, method: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
    """Escape control characters in text values: the console renderer prints them raw (JSON escapes them)."""
    return {k: terminal_safe(v, one_line=True) if isinstance(v, str) else v for k, v in event.items()}
