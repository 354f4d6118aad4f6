"""The task: TASK or `--task-file` (stdin with `-`), checked once for every way into a run.

An empty task, control characters (NUL breaks PostgreSQL, ESC reaches terminals) and
undecodable bytes are a `ConfigError` before anything is stored or any model is called;
the CLI reports them in one line with exit 2, naming the task file and the position.
"""

from __future__ import annotations

import io
import json
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from orchestrator import Orchestrator
from orchestrator.errors import ConfigError
from orchestrator.run import RunOptions, check_task

TASK = "Add JWT authentication to the FastAPI notes service"

pytestmark = pytest.mark.usefixtures("clean_env")


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("phasegraph: error: ")
    return lines[0].removeprefix("phasegraph: error: ")


# The one check


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ("", "task: empty (or only whitespace)"),
        (" \n\t\r\n", "task: empty (or only whitespace)"),
        ("Add\x00 auth", "task: control character U+0000 at line 1, column 4 (character 4)"),
        ("Add auth\nthen \x1b[2J", "task: control character U+001B at line 2, column 6 (character 15)"),
        ("bell\x07", "task: control character U+0007 at line 1, column 5 (character 5)"),
        ("del\x7f", "task: control character U+007F at line 1, column 4"),
        ("csi\x9b2J", "task: control character U+009B at line 1, column 4"),
        ("argv\udcff", "task: byte 0xFF that is not UTF-8 at line 1, column 5"),
        ("lone\ud800", "task: lone surrogate U+D800 at line 1, column 5"),
    ],
)
def test_a_task_that_is_not_plain_text_is_a_config_error_naming_the_position(task: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        RunOptions(task=task)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("task", ["a", "tabs\tand\r\nnewlines\n", "ünïcödé ✓ 漢字 🚀", "x" * 200_000])
def test_plain_text_tasks_are_accepted_unchanged(task: str) -> None:
    assert RunOptions(task=task).task == task


def test_a_task_that_is_not_a_string_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="task: expected text, got NoneType"):
        check_task(None)


# Through the Python API: every entry point refuses before anything runs


API_CALLS: dict[str, Callable[[Orchestrator, str, Path], Any]] = {
    "run": lambda o, task, p: o.run(task, p),
    "start": lambda o, task, p: o.start(task, p),
    "verify": lambda o, task, p: o.verify(p, task=task),
    "events": lambda o, task, p: list(o.events(task, p)),
}


@pytest.mark.parametrize("call", list(API_CALLS.values()), ids=list(API_CALLS))
@pytest.mark.parametrize("task", ["", "   \n", "Add\x00 auth"], ids=["empty", "whitespace", "nul"])
def test_api_refuses_a_bad_task_before_anything_is_stored(
    project: Path, call: Callable[[Orchestrator, str, Path], Any], task: str
) -> None:
    orchestrator = Orchestrator(provider="offline")
    with pytest.raises(ConfigError, match=r"^task: "):
        call(orchestrator, task, project)
    assert not (project / ".phasegraph").exists()


@pytest.mark.parametrize("task", ["", "Add\x00 auth"], ids=["empty", "nul"])
async def test_async_api_refuses_a_bad_task(project: Path, task: str) -> None:
    orchestrator = Orchestrator(provider="offline")
    with pytest.raises(ConfigError, match=r"^task: "):
        await orchestrator.arun(task, project)
    with pytest.raises(ConfigError, match=r"^task: "):
        async for _ in orchestrator.astream(task, project):
            pass
    assert not (project / ".phasegraph").exists()


def test_nul_in_a_task_on_postgresql_is_a_config_error_and_nothing_is_stored(
    project: Path, pg_url: str
) -> None:
    orchestrator = Orchestrator(provider="offline", checkpoint_url=pg_url)
    run_id = f"nul-{secrets.token_hex(4)}"
    with pytest.raises(ConfigError, match=r"^task: control character U\+0000 at line 1, column 4"):
        orchestrator.run("Add\x00 JWT auth", project, run_id=run_id)
    with psycopg.connect(pg_url) as conn:
        (table,) = conn.execute("SELECT to_regclass('checkpoints')::text").fetchone() or (None,)
        if table is not None:
            query = "SELECT count(*) FROM checkpoints WHERE thread_id = %s"
            assert conn.execute(query, (run_id,)).fetchone() == (0,)


# Through the CLI: one line, exit 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no task: give TASK, or --task-file FILE ('-' reads stdin)"),
        ([TASK, "--task-file", "task.md"], "give the task as TASK or with --task-file, not both"),
        ([""], "task: empty (or only whitespace); describe the change you want"),
        (["  \n "], "task: empty (or only whitespace); describe the change you want"),
        (["clear \x1b[2J"], "task: control character U+001B at line 1, column 7 (character 7)"),
        (["\udcff"], "task: byte 0xFF that is not UTF-8 at line 1, column 1 (character 1)"),
    ],
)
def test_run_with_a_missing_or_bad_task_is_one_line_and_exit_2(
    run_cli: Any, project: Path, args: list[str], message: str
) -> None:
    code, out, err = run_cli("run", *args, "--project-dir", str(project), "--provider", "offline")
    assert code == 2 and out == ""
    assert one_error_line(err).startswith(message)
    assert not (project / ".phasegraph").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "--task-file {f}: no such file"),
        ("dir", "--task-file {f}: is a directory"),
        (b"Add \xff auth", "--task-file {f}: not UTF-8 (byte 0xFF at offset 4); save it as UTF-8"),
        (b"\xef\xbb\xbf \r\n\n", "--task-file {f}: empty (or only whitespace)"),
        (b"Add auth\nline two \x00", "--task-file {f}: control character U+0000 at line 2, column 10"),
    ],
    ids=["missing", "directory", "not-utf8", "blank", "nul"],
)
def test_a_task_file_that_cannot_be_a_task_is_one_line_naming_the_file(
    run_cli: Any, project: Path, tmp_path: Path, content: bytes | str | None, message: str
) -> None:
    path = tmp_path / "task.md"
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    code, _, err = run_cli("run", "--task-file", str(path), "--project-dir", str(project))
    assert code == 2
    assert one_error_line(err).startswith(message.format(f=path))


def test_a_200_kb_task_file_runs_the_whole_pipeline(run_cli: Any, project: Path, tmp_path: Path) -> None:
    paragraph = "Add JWT authentication to the FastAPI notes service; keep the tests green. "
    task = (paragraph * (200_000 // len(paragraph) + 1))[:200_000].strip()
    path = tmp_path / "spec.md"
    path.write_text(task + "\n", encoding="utf-8")
    code, out, _ = run_cli("run", "--task-file", str(path), "--project-dir", str(project), "--json")
    result = json.loads(out)
    assert code == 0 and result["status"] == "completed"
    assert [p["key"] for p in result["phases"]] == ["design", "build", "verify"]
    assert result["task"] == task and len(task.encode()) >= 199_000


def test_task_file_dash_reads_stdin_as_utf8_without_bom_or_crlf(
    run_cli: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = "\ufeffAdd JWT auth — café\r\nKeep RS256.\r\n".encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    code, out, _ = run_cli(
        "run", "--task-file", "-", "--project-dir", str(project), "--phases", "design", "--json"
    )
    assert code == 0
    assert json.loads(out)["task"] == "Add JWT auth — café\nKeep RS256."


def test_verify_reads_its_task_from_a_file(run_cli: Any, project: Path, tmp_path: Path) -> None:
    path = tmp_path / "verify.md"
    path.write_text("Verify the JWT login flow.\n", encoding="utf-8")
    code, out, _ = run_cli("verify", "--task-file", str(path), "--project-dir", str(project), "--json")
    assert code == 0
    assert json.loads(out)["task"] == "Verify the JWT login flow."


def test_verify_with_both_task_and_task_file_is_one_line_and_exit_2(
    run_cli: Any, project: Path, tmp_path: Path
) -> None:
    code, _, err = run_cli("verify", "--task", "x", "--task-file", "t.md", "--project-dir", str(project))
    assert code == 2
    assert one_error_line(err) == "give the task as --task or with --task-file, not both"


def test_plan_reads_its_task_from_a_file(run_cli: Any, project: Path, tmp_path: Path) -> None:
    path = tmp_path / "task.md"
    path.write_text(TASK, encoding="utf-8")
    from_file = run_cli("plan", "--task-file", str(path), "--project-dir", str(project), "--json")
    from_argument = run_cli("plan", TASK, "--project-dir", str(project), "--json")
    assert from_file == from_argument
    assert from_file[0] == 0
