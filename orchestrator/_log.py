"""structlog, configured once: JSON lines when not a TTY, pretty on a TTY."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from orchestrator._terminal import terminal_safe

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_configured = False


def configure_logging(fmt: str = "auto", level: str = "warning", force: bool = False) -> None:
    """Configure structlog for the process (idempotent unless `force`)."""
    global _configured
    if _configured and not force:
        return
    pretty = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: Any = structlog.dev.ConsoleRenderer() if pretty else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *([_terminal_safe_values] if pretty else []),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.WARNING)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    _configured = True


def get_logger(name: str) -> Any:
    """A structlog logger bound to `name`."""
    configure_logging()
    return structlog.get_logger(name)


def _terminal_safe_values(logger: Any, method: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
    """Escape control characters in text values: the console renderer prints them raw (JSON escapes them)."""
    return {k: terminal_safe(v, one_line=True) if isinstance(v, str) else v for k, v in event.items()}
