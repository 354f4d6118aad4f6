"""The CLI's progress view: active agents and spending so far, and no log line in JSON among it."""

from __future__ import annotations

import logging
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console

from orchestrator import Orchestrator
from orchestrator._log import configure_logging, get_logger
from orchestrator.cli._progress import ProgressDisplay
from orchestrator.events import Event

TASK = "Add JWT authentication to the FastAPI notes service"


def _usage(agent: str, calls: int) -> Event:
    total = {
        "calls": calls,
        "prompt_tokens": 100 * calls,
        "completion_tokens": 10 * calls,
        "cost_usd": 0.01 * calls,
    }
    return Event(kind="usage", run_id="r1", phase="design", agent=agent, data={"total": total})


def test_plain_gate_lines_end_with_the_spending_so_far(project: Path) -> None:
    screen = StringIO()
    display = ProgressDisplay(Console(file=screen, width=300, color_system=None), live=False)
    result = Orchestrator(provider="offline").run(TASK, project, phases="design", on_event=display)
    display.close()
    gate = next(line for line in screen.getvalue().splitlines() if line.startswith("✔ design"))
    u = result.usage
    assert gate.endswith(
        f"({u.calls} calls · {u.prompt_tokens} + {u.completion_tokens} tokens · $0.0000 so far)"
    )


def test_the_live_view_names_the_agents_whose_call_is_in_flight() -> None:
    screen = StringIO()
    display = ProgressDisplay(Console(file=screen, force_terminal=True, width=200, color_system=None))
    display(Event(kind="run_started", run_id="r1", message="t"))
    display(Event(kind="phase_started", run_id="r1", phase="design", message="phase 2 Design"))
    for agent in ("backend-python", "qa-automation", "database-specialist"):
        display(Event(kind="agent_started", run_id="r1", phase="design", agent=agent))
    display(_usage("qa-automation", 3))
    display.close()
    last = screen.getvalue().rsplit("phase 2 Design", 1)[1].splitlines()[0]
    assert "working: backend-python, database-specialist · 0 deliverables" in last
    assert "3 calls · 300 + 30 tokens · $0.0300" in screen.getvalue()


def test_log_records_are_plain_lines_in_the_progress_then_go_back_to_the_handler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(level="warning", fmt="json")
    screen = StringIO()
    display = ProgressDisplay(
        Console(file=screen, width=300, color_system=None), live=False, divert_logs=True
    )
    log = get_logger("phasegraph.usage")
    try:
        log.warning("usage.unpriced_model", model="fake-model")
    finally:
        display.close()
    assert screen.getvalue() == "warning usage.unpriced_model model=fake-model\n"
    assert capsys.readouterr().err == ""
    log.warning("usage.unpriced_model", model="other")
    assert '"event": "usage.unpriced_model"' in capsys.readouterr().err
    assert not any(type(h).__name__ == "_Diverted" for h in logging.getLogger("phasegraph").handlers)
