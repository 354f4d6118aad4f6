"""The CLI's progress display: a live rich view on a terminal, plain lines everywhere else.

On a terminal each phase gets a spinner row (the agents working on it right now,
deliverables so far) under a run row (calls, tokens, cost so far), and notable events
(agent chosen and why, handoffs, repairs, gate results) scroll above it. When the
output is a pipe or a CI log, the same events are printed as one plain line each, and
each gate's line ends with the tokens and dollars spent so far. While the display runs,
phasegraph's own log records are printed as plain lines through it (`divert_logs`), so
no JSON log line lands in the middle of the progress.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from orchestrator._log import divert_logging
from orchestrator.cli._common import safe_markup
from orchestrator.events import Event

_MARKS = {
    "run_started": "[bold]phasegraph[/bold]",
    "phase_started": "[bold cyan]▶[/bold cyan]",
    "agent_selected": "[green]●[/green]",
    "handoff": "[magenta]→[/magenta]",
    "deliverable_written": "  [dim]✓[/dim]",
    "files_committed": "  [green]±[/green]",
    "repair_requested": "[yellow]![/yellow]",
    "check_finished": "[blue]⚙[/blue]",
    "fix_round": "[yellow]↻[/yellow]",
    "gate_passed": "[green]✔[/green]",
    "gate_failed": "[red]✘[/red]",
    "awaiting_approval": "[yellow]⏸[/yellow]",
    "run_finished": "[bold]■[/bold]",
}
_HEADLINE = 120
"""Characters of the task the run_started line shows: a task can be a 200 KB spec."""
_LIVE_QUIET = frozenset({"deliverable_written", "phase_started", "run_started", "run_finished"})
"""Kinds the live view shows in its rows instead of as scrolling lines."""


_SPENT_AFTER = frozenset({"gate_passed", "gate_failed", "awaiting_approval", "run_finished"})
"""Kinds whose plain line ends with the spending so far."""


@dataclass
class _PhaseRow:
    task: TaskID
    agents: list[str] = field(default_factory=list)
    active: list[str] = field(default_factory=list)
    """Agents with a model call in flight (started, not answered yet)."""
    deliverables: int = 0


class ProgressDisplay:
    """An event handler that renders a run's progress on stderr; call `close()` when done.

    With `divert_logs`, phasegraph's log records are printed through the display as plain
    lines until `close()`, instead of by the logging handler (JSON when stderr is not a terminal).
    """

    def __init__(
        self, console: Console | None = None, *, live: bool | None = None, divert_logs: bool = False
    ) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self.live = self.console.is_terminal if live is None else live
        self._progress: Progress | None = None
        self._run_row: TaskID | None = None
        self._phases: dict[str, _PhaseRow] = {}
        self._spent = ""
        self._restore_logs = divert_logging(self._log_line) if divert_logs else None

    def __call__(self, event: Event) -> None:
        if event.kind == "usage":
            self._spent = _spent(event.data.get("total") or {})
        if self.live:
            self._live(event)
        if event.kind in _MARKS and not (self.live and event.kind in _LIVE_QUIET):
            self._line(event)

    def close(self) -> None:
        """Stop the live view (idempotent), leaving its last frame on screen; give logging back."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self._restore_logs is not None:
            self._restore_logs()
            self._restore_logs = None

    def _line(self, event: Event) -> None:
        where = f"[dim]{safe_markup(event.phase)}[/dim] " if event.phase else ""
        who = f"[bold]{safe_markup(event.agent)}[/bold] " if event.agent and event.kind != "handoff" else ""
        message = _headline(event.message) if event.kind == "run_started" else event.message
        text = f"{_MARKS[event.kind]} {where}{who}{safe_markup(message, one_line=True)}"
        if not self.live and event.kind in _SPENT_AFTER and self._spent:
            text += f" [dim]({safe_markup(self._spent)} so far)[/dim]"
        self._print(text)

    def _log_line(self, record: logging.LogRecord, text: str) -> None:
        colour = "red" if record.levelno >= logging.ERROR else "yellow"
        self._print(f"[{colour}]{record.levelname.lower()}[/{colour}] {safe_markup(text, one_line=True)}")

    def _print(self, text: str) -> None:
        target = self._progress.console if self._progress is not None else self.console
        target.print(text, markup=True, emoji=False, highlight=False, soft_wrap=True)

    def _live(self, event: Event) -> None:
        progress = self._started(event)
        phase = self._phases.get(event.phase or "")
        if event.kind == "phase_started" and event.phase:
            task = progress.add_task(safe_markup(event.message or event.phase), total=None, detail="routing")
            self._phases[event.phase] = _PhaseRow(task)
        elif phase is None:
            pass
        elif event.kind in ("agent_selected", "agent_started", "repair_requested") and event.agent:
            if event.agent not in phase.agents:
                phase.agents.append(event.agent)
            if event.kind != "agent_selected" and event.agent not in phase.active:
                phase.active.append(event.agent)
            self._detail(phase, "working")
        elif event.kind == "usage" and event.agent in phase.active:
            phase.active.remove(event.agent)
            self._detail(phase, "working")
        elif event.kind == "deliverable_written":
            phase.deliverables += 1
            self._detail(phase, "working")
        elif event.kind == "gate_passed":
            progress.update(phase.task, total=1, completed=1)
            self._detail(phase, "done")
        elif event.kind == "gate_failed":
            progress.update(
                phase.task, total=1, completed=1, description=f"[red]{safe_markup(event.phase or '')}"
            )
            self._detail(phase, "gate failed")
        elif event.kind == "awaiting_approval":
            self._detail(phase, "waiting for approval")
        if event.kind == "usage" and self._run_row is not None:
            progress.update(self._run_row, detail=self._spent)
        if event.kind == "run_finished" and self._run_row is not None:
            progress.update(self._run_row, total=1, completed=1)
            self.close()

    def _started(self, event: Event) -> Progress:
        if self._progress is None:
            self._progress = Progress(
                SpinnerColumn(finished_text="[green]✔[/green]"),
                TextColumn("{task.description}"),
                TextColumn("[dim]{task.fields[detail]}[/dim]"),
                TimeElapsedColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.start()
            self._run_row = self._progress.add_task(
                f"[bold]run {safe_markup(event.run_id)}[/bold]", total=None, detail="starting"
            )
        return self._progress

    def _detail(self, phase: _PhaseRow, state: str) -> None:
        assert self._progress is not None
        done = f"{phase.deliverables} deliverables"
        if state == "working" and phase.active:
            detail = f"working: {', '.join(phase.active)} · {done}"
        else:
            agents = phase.agents[0] if phase.agents else "-"
            if len(phase.agents) > 1:
                agents += f" +{len(phase.agents) - 1}"
            detail = f"{agents} · {done} · {state}"
        self._progress.update(phase.task, detail=safe_markup(detail))


def _spent(total: dict[str, Any]) -> str:
    """`4 calls · 1200 + 300 tokens · $0.0012`: a usage event's running total."""
    return (
        f"{total.get('calls', 0)} calls · {total.get('prompt_tokens', 0)} + "
        f"{total.get('completion_tokens', 0)} tokens · ${total.get('cost_usd', 0.0):.4f}"
    )


def _headline(task: str) -> str:
    """The task's first line, at most `_HEADLINE` characters, with `…` when there is more."""
    text = task.strip()
    first = text.split("\n", 1)[0][:_HEADLINE]
    return first if first == text else first.rstrip() + " …"
