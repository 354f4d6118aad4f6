"""Progress events: what a run reports while it works.

Nodes emit them through LangGraph's custom stream; the runner hands each one to
the caller's callbacks, to the CLI's progress display and to the `phasegraph.run`
logger (one record with run_id, phase and agent).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

EventKind = Literal[
    "run_started",
    "phase_started",
    "agent_selected",
    "agent_started",
    "handoff",
    "deliverable_written",
    "files_committed",
    "repair_requested",
    "check_finished",
    "fix_round",
    "gate_passed",
    "gate_failed",
    "awaiting_approval",
    "phase_finished",
    "usage",
    "run_finished",
]


class Event(BaseModel):
    """One thing that happened in a run."""

    kind: EventKind
    run_id: str
    phase: str | None = None
    agent: str | None = None
    message: str = ""
    """One human-readable line."""
    data: dict[str, Any] = Field(default_factory=dict)
    """Details: routing reasons, deliverable path, usage so far, ..."""


EventHandler = Callable[[Event], None]
