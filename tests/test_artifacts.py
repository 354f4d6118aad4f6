"""Artifacts stay inside the run folder, are written atomically, and read back as written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.artifacts import atomic_write, read_deliverable, safe_join, write_deliverable
from orchestrator.errors import UnsafePath


@pytest.mark.parametrize(
    "parts",
    [("..", "x.md"), ("design/../../x.md",), ("/etc/passwd",), ("design", ".hidden"), ("a\\..\\b",)],
    ids=["dotdot", "nested-dotdot", "absolute", "dotfile", "backslashes"],
)
def test_paths_that_would_leave_the_run_folder_are_refused(tmp_path: Path, parts: tuple[str, ...]) -> None:
    with pytest.raises(UnsafePath):
        safe_join(tmp_path, *parts)


def test_a_symlink_inside_the_run_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    os.symlink(outside, run_dir / "design")
    with pytest.raises(UnsafePath, match="symlink"):
        write_deliverable(run_dir, "design", "backend-python", "API architecture", "text", run_id="r")
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize(
    ("agent", "name"),
    [("../../evil", "../../../etc/passwd"), ("backend-python", "/abs/olute"), ("a/b", "C:\\windows")],
)
def test_hostile_agent_and_deliverable_names_are_slugged_into_the_run_folder(
    tmp_path: Path, agent: str, name: str
) -> None:
    rel = write_deliverable(tmp_path, "design", agent, name, "some real content", run_id="r")
    written = (tmp_path / rel).resolve()
    assert tmp_path.resolve() in written.parents
    assert read_deliverable(written) == "some real content"


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "file.md"
    atomic_write(target, "one")
    atomic_write(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["file.md"]
