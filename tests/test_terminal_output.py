"""What the CLI prints is terminal-safe: control characters are shown as escapes, markup is literal.

A model's brief, a stored task, a card or a path in an error message can carry ESC
sequences (clear the screen, retitle the window), C1 controls, bidi overrides or rich
markup. None of them may act on the terminal: each is printed as a visible escape
(`\\x1b`), and `[red]` prints as `[red]`.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import typer
from rich.console import Console

from orchestrator import Orchestrator
from orchestrator._terminal import json_terminal_safe, terminal_safe
from orchestrator.cli import run as cli_run
from orchestrator.cli._progress import ProgressDisplay
from orchestrator.events import Event
from orchestrator.providers.base import ModelRequest, ModelResponse, T
from orchestrator.result import RunResult
from tests.conftest import ScriptedProvider

HOSTILE = "\x1b[2J\x1b]0;pwned\x07[red]red[/red] :bug: "
"""Clear the screen, set the window title, rich markup and an emoji code."""
SHOWN = "\\x1b[2J\\x1b]0;pwned\\x07[red]red[/red] :bug: "
"""How HOSTILE must appear on the screen."""
TASK = "Add JWT authentication to the FastAPI notes service"

pytestmark = pytest.mark.usefixtures("clean_env")


class HostileBriefs(ScriptedProvider):
    """Offline answers whose every handoff brief starts with HOSTILE."""

    __test__ = False

    async def complete(self, request: ModelRequest[T]) -> ModelResponse[T]:
        response = await super().complete(request)
        data = json.loads(response.raw)
        for handoff in data.get("handoffs") or []:
            handoff["brief"] = HOSTILE + handoff["brief"]
        output = request.output_model.model_validate(data)
        return ModelResponse(output=output, usage=response.usage, raw=json.dumps(data))


# The helper


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text, ünïcödé ✓ 漢字", "plain text, ünïcödé ✓ 漢字"),
        ("tab\tand\nnewline", "tab\tand\nnewline"),
        ("\x1b[2J\x1b]0;pwned\x07", "\\x1b[2J\\x1b]0;pwned\\x07"),
        ("over\rwrite", "over\\rwrite"),
        ("nul\x00 del\x7f csi\x9b", "nul\\x00 del\\x7f csi\\x9b"),
        ("bidi \u202eevil\u202c", "bidi \\u202eevil\\u202c"),
        ("argv \udcff", "argv \\udcff"),
    ],
)
def test_terminal_safe_shows_controls_as_escapes(text: str, shown: str) -> None:
    assert terminal_safe(text) == shown


def test_terminal_safe_on_one_line_escapes_newlines_too() -> None:
    assert terminal_safe("one\ntwo\r\n", one_line=True) == "one\\ntwo\\r\\n"


def test_json_output_escapes_controls_and_keeps_the_value() -> None:
    value = {"task": "a\x1b[2J b\x9b c\u202e d\udcff"}
    dumped = json_terminal_safe(json.dumps(value, ensure_ascii=False))
    assert not any(ch in dumped for ch in "\x1b\x9b\u202e\udcff")
    assert json.loads(dumped) == value


# The progress display


def events_with_hostile_text() -> list[Event]:
    return [
        Event(kind="run_started", run_id="r1", message=HOSTILE + "the task"),
        Event(kind="phase_started", run_id="r1", phase="design", message="phase 2 Design"),
        Event(kind="agent_selected", run_id="r1", phase="design", agent="backend-python", message=HOSTILE),
        Event(kind="handoff", run_id="r1", phase="design", agent="backend-python", message=HOSTILE),
        Event(kind="gate_failed", run_id="r1", phase="design", message=HOSTILE + "\nsecond line"),
        Event(kind="run_finished", run_id="r1", message="failed: " + HOSTILE),
    ]


def test_plain_progress_lines_contain_no_escape_byte_and_literal_markup() -> None:
    screen = StringIO()
    display = ProgressDisplay(Console(file=screen, width=200, color_system=None), live=False)
    for event in events_with_hostile_text():
        display(event)
    text = screen.getvalue()
    assert "\x1b" not in text and "\x07" not in text
    assert text.count(SHOWN) == 5
    assert "[red]red[/red] :bug:" in text


def test_live_progress_never_passes_a_hostile_sequence_through() -> None:
    screen = StringIO()
    display = ProgressDisplay(Console(file=screen, force_terminal=True, width=200, color_system=None))
    try:
        for event in events_with_hostile_text():
            display(event)
    finally:
        display.close()
    text = screen.getvalue()
    assert "\x1b[2J" not in text and "\x1b]0;" not in text and "\x07" not in text
    assert "\\x1b[2J" in text


def test_a_long_task_shows_its_first_line_only() -> None:
    screen = StringIO()
    display = ProgressDisplay(Console(file=screen, width=400, color_system=None), live=False)
    display(Event(kind="run_started", run_id="r1", message="Add JWT auth\n" + "details " * 25_000))
    assert screen.getvalue() == "phasegraph Add JWT auth …\n"


def test_a_models_brief_reaches_the_screen_escaped(project: Path) -> None:
    screen = StringIO()
    display = ProgressDisplay(Console(file=screen, width=300, color_system=None), live=False)
    provider = HostileBriefs(handoffs=["database-specialist", "security-expert"])
    Orchestrator(provider=provider).run(TASK, project, phases="design", on_event=display)
    text = screen.getvalue()
    assert "\x1b" not in text
    assert f"backend-python -> database-specialist: {SHOWN}" in text


# The finish lines, errors and tables


def test_finish_lines_contain_no_escape_byte(capsys: pytest.CaptureFixture[str]) -> None:
    result = RunResult(
        run_id="r1",
        status="failed",
        task=HOSTILE,
        pipeline="default",
        message=HOSTILE,
        error_type="Refused",
        run_dir=f"/t/{HOSTILE}",
    )
    with pytest.raises(typer.Exit):
        cli_run._finish(result, as_json=False)
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err
    assert err.splitlines()[:2] == [f"failed {SHOWN.rstrip()}", f"artifacts: /t/{SHOWN}"]


def test_an_error_line_shows_a_hostile_path_escaped(run_cli: Any, project: Path) -> None:
    code, _, err = run_cli("run", "--task-file", f"spec{HOSTILE}.md", "--project-dir", str(project))
    assert code == 2
    assert err == f"phasegraph: error: --task-file spec{SHOWN}.md: no such file\n"


def test_runs_list_prints_a_stored_hostile_task_escaped(
    run_cli: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task stored before tasks were checked (or written to the database by anything else)."""
    monkeypatch.setattr("orchestrator.run.check_task", lambda task, source="task": task)
    Orchestrator(provider="offline").run(HOSTILE + "old task", project, phases="design", run_id="old1")
    code, out, _ = run_cli("runs", "list", "--project-dir", str(project))
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[2J\\x1b]0;pwned\\x07[red]red[/red]" in out
    code, out, _ = run_cli("runs", "show", "old1", "--project-dir", str(project))
    assert code == 0
    assert "\x1b" not in out and f"**Task:** {SHOWN}old task" in out
    code, out, _ = run_cli("runs", "list", "--project-dir", str(project), "--json")
    assert "\x1b" not in out and json.loads(out)[0]["task"] == HOSTILE + "old task"
