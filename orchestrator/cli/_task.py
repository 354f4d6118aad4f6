"""The task a command works on: the TASK argument, or `--task-file FILE` (`-` reads stdin).

A long task (a spec, an issue with logs) does not fit a command line (Linux caps one
argument at 128 KiB), so it can come from a file or a pipe. The file is UTF-8; a
byte-order mark is dropped, line endings become `\\n`, and surrounding blank space
(the file's final newline) is not part of the task.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from orchestrator.errors import ConfigError

TaskFileOption = Annotated[
    str | None,
    typer.Option(
        "--task-file",
        metavar="FILE",
        help="Read the task from this UTF-8 file instead of TASK ('-' reads stdin).",
    ),
]


def task_text(task: str | None, task_file: str | None, *, flag: str = "TASK", default: str = "") -> str:
    """The task from `flag` or `--task-file` (never both), else `default`, else a ConfigError."""
    if task is not None and task_file is not None:
        raise ConfigError(f"give the task as {flag} or with --task-file, not both")
    if task_file is not None:
        return read_task_file(task_file)
    if task is not None:
        return task
    if default:
        return default
    raise ConfigError(f"no task: give {flag}, or --task-file FILE ('-' reads stdin)")


def read_task_file(name: str) -> str:
    """The text of `name` (or stdin for `-`) as a task; every failure names the file."""
    from orchestrator.run import check_task

    where = "--task-file -" if name == "-" else f"--task-file {name}"
    try:
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{where}: is a directory") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{where}: not UTF-8 (byte 0x{data[exc.start]:02X} at offset {exc.start}); save it as UTF-8"
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    return check_task(text, where)
