"""A turn's file changes: bad items refused one by one, the rest committed once, nothing escapes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from orchestrator.changes import ChangeLimits, commit_turn, conform
from orchestrator.workspace import Workspace, create_workspace
from tests._writing import git, make_git_project, tree_digest

LIMITS = ChangeLimits(max_files=100, max_bytes=2_000_000)
GOOD = {"path": "src/ok.py", "action": "write", "content": "ok = True\n", "deliverable": "Code"}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_git_project(tmp_path / "notes")


@pytest.fixture
def ws(repo: Path) -> Workspace:
    return create_workspace(repo, "r1")


def _write(path: str, content: str = "x = 1\n") -> dict[str, Any]:
    return {"path": path, "action": "write", "content": content, "deliverable": "Code"}


def _commit(ws: Workspace, changes: list[dict[str, Any]], limits: ChangeLimits = LIMITS) -> Any:
    return commit_turn(
        ws, changes, limits, phase="build", agent="backend-python", turn="build/a/0", run_id="r1"
    )


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (_write("../../etc/passwd"), "'..'"),
        (_write("/tmp/x"), "absolute"),
        (_write(".git/config"), ".git/"),
        (_write("vendor/.git/hooks/pre-commit"), ".git/"),
        (_write(".phasegraph/state.sqlite"), ".phasegraph/"),
        (_write("app\\main.py"), "backslash"),
        (_write(""), "empty path"),
        (_write("app/bad\0name.py"), "control characters"),
        (_write("src/binary.py", "a\0b"), "NUL"),
        (_write("src/huge.py", "x" * 2_000_001), "bytes"),
        (_write("app"), "folder"),
        (_write("src/lone.py", "\ud800"), "UTF-8"),
        (_write("n" * 300 + ".py"), "longer than 255"),
        (_write("README.md/inside.py"), "cannot be written"),
    ],
)
def test_a_bad_item_is_refused_and_the_rest_of_the_turn_applies(
    ws: Workspace, repo: Path, bad: dict[str, Any], reason: str
) -> None:
    before = tree_digest(repo)
    done = _commit(ws, [bad, GOOD])
    assert done.records[0]["status"] == "refused"
    assert reason in done.records[0]["reason"]
    assert done.records[1]["status"] == "applied"
    assert git(ws.root, "show", "--name-only", "--format=", done.commit).split() == ["src/ok.py"]
    assert tree_digest(repo) == before
    assert git(repo, "status", "--porcelain") == ""


def test_a_fifty_megabyte_file_is_refused(ws: Workspace) -> None:
    done = _commit(ws, [_write("big.txt", "y" * 50_000_000)])
    assert done.records[0]["status"] == "refused" and done.commit is None
    assert not (ws.path / "big.txt").exists()


def test_ten_thousand_files_past_the_limit_are_refused_item_by_item(ws: Workspace) -> None:
    changes = [_write(f"gen/f{i:05d}.py") for i in range(10_000)]
    done = _commit(ws, changes)
    statuses = [r["status"] for r in done.records]
    assert statuses[:100] == ["applied"] * 100
    assert statuses[100:] == ["refused"] * 9_900
    assert "PHASEGRAPH_MAX_CHANGE_FILES" in done.records[100]["reason"]
    assert len(list((ws.path / "gen").iterdir())) == 100


def test_the_byte_limit_counts_the_whole_turn(ws: Workspace) -> None:
    done = _commit(ws, [_write("a.txt", "a" * 60), _write("b.txt", "b" * 60)], ChangeLimits(10, 100))
    assert [r["status"] for r in done.records] == ["applied", "refused"]


def test_the_same_path_twice_in_one_turn_is_refused_both_times(ws: Workspace) -> None:
    done = _commit(ws, [_write("src/x.py", "one\n"), _write("./src/x.py", "two\n"), GOOD])
    assert [r["status"] for r in done.records] == ["refused", "refused", "applied"]
    assert not (ws.path / "src" / "x.py").exists()


def test_a_symlink_that_leads_outside_is_never_written_through(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, repo / "link")
    git(repo, "add", "link")
    git(repo, "commit", "-q", "-m", "a link")
    ws = create_workspace(repo, "r2")
    done = _commit(ws, [_write("link/evil.py"), GOOD])
    assert done.records[0]["status"] == "refused" and "symbolic link" in done.records[0]["reason"]
    assert list(outside.iterdir()) == []


def test_a_delete_removes_the_file_in_its_commit(ws: Workspace) -> None:
    done = _commit(ws, [{"path": "README.md", "action": "delete", "content": "", "deliverable": "Code"}])
    assert done.records[0]["status"] == "applied"
    assert git(ws.root, "show", "--name-status", "--format=", done.commit).split() == ["D", "README.md"]


def test_a_replayed_turn_finds_its_commit_and_makes_no_second_one(ws: Workspace) -> None:
    first = _commit(ws, [GOOD])
    again = _commit(ws, [GOOD])
    assert again.commit == first.commit
    assert git(ws.root, "rev-list", "--count", f"{ws.base}..{ws.branch}").strip() == "1"


def test_the_commit_names_phase_agent_and_deliverables(ws: Workspace) -> None:
    done = _commit(ws, [GOOD])
    author, subject = git(ws.root, "log", "-1", "--format=%an <%ae>|%s", done.commit).strip().split("|")
    assert author == "backend-python <phasegraph@localhost>"
    assert subject == "build: backend-python — Code"


def test_a_turn_whose_writes_change_nothing_makes_no_commit(ws: Workspace) -> None:
    same = _write("README.md", "# notes\n")
    done = _commit(ws, [same])
    assert done.records[0]["status"] == "applied" and done.commit is None


@pytest.mark.parametrize(
    ("new", "old", "expected"),
    [
        ("a\nb", None, "a\nb\n"),
        ("a\nb\n", None, "a\nb\n"),
        ("", None, ""),
        ("a\nb", b"x\n", "a\nb\n"),
        ("a\nb\n", b"x", "a\nb"),
        ("a\nb\n", b"x\r\ny\r\n", "a\r\nb\r\n"),
        ("a\r\nb", b"x\r\n", "a\r\nb\r\n"),
        ("a\r\nb\r\n", b"x\n", "a\nb\n"),
    ],
)
def test_a_write_keeps_the_files_newline_convention(new: str, old: bytes | None, expected: str) -> None:
    assert conform(new, old) == expected


def test_an_existing_files_mode_is_kept(repo: Path) -> None:
    script = repo / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    git(repo, "add", "run.sh")
    git(repo, "commit", "-q", "-m", "script")
    ws = create_workspace(repo, "r3")
    _commit(ws, [_write("run.sh", "#!/bin/sh\necho bye\n")])
    assert (ws.path / "run.sh").stat().st_mode & 0o111


def test_git_runs_without_the_parents_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator._git import clean_env

    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("PHASEGRAPH_CHECKPOINT_URL", "postgresql://u:pw@db/x")
    env = clean_env("backend-python")
    assert "sk-secret" not in env.values() and not any("pw@" in v for v in env.values())
    assert env["GIT_AUTHOR_NAME"] == env["GIT_COMMITTER_NAME"] == "backend-python"


def test_the_users_hooks_and_global_config_do_not_run_or_apply(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "hook-ran"
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    hook.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[commit]\n\tgpgsign = true\n[user]\n\tname = Someone Else\n")
    monkeypatch.setenv("HOME", str(home))
    ws = create_workspace(repo, "r4")
    done = _commit(ws, [GOOD])
    assert done.commit is not None and not marker.exists()
    assert git(ws.root, "log", "-1", "--format=%an", done.commit).strip() == "backend-python"


def _edit(path: str, *edits: tuple[str, str]) -> dict[str, Any]:
    return {
        "path": path,
        "action": "edit",
        "content": "",
        "edits": [{"search": s, "replace": r} for s, r in edits],
        "deliverable": "Code",
    }


def test_an_edit_replaces_the_text_it_names_and_nothing_else(ws: Workspace) -> None:
    done = _commit(
        ws,
        [
            _edit(
                "app/main.py",
                ("return []", "return ['first']"),
                ("app = FastAPI()", "app = FastAPI(title='notes')"),
            )
        ],
    )
    assert done.records[0]["status"] == "applied"
    text = (ws.path / "app" / "main.py").read_text()
    assert "return ['first']" in text and "FastAPI(title='notes')" in text and text.startswith("from fastapi")
    assert git(ws.root, "show", "--name-only", "--format=", done.commit).split() == ["app/main.py"]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (_edit("app/main.py", ("not in the file", "x")), "is not in the file"),
        (_edit("app/main.py", ("\n", "x")), "occurs"),
        (_edit("app/main.py", ("", "x")), "empty search"),
        (_edit("app/main.py", ("return []", "a\0b")), "NUL"),
        (_edit("app/missing.py", ("a", "b")), "no such file"),
        (_edit("app/main.py"), "without edits"),
        (_edit("../outside.py", ("a", "b")), "'..'"),
        (_edit("app/main.py", ("return []", "x" * 2_000_001)), "bytes"),
    ],
)
def test_a_bad_edit_is_refused_and_the_file_left_alone(
    ws: Workspace, bad: dict[str, Any], reason: str
) -> None:
    before = (ws.path / "app" / "main.py").read_bytes()
    done = _commit(ws, [bad, GOOD])
    assert done.records[0]["status"] == "refused" and reason in done.records[0]["reason"]
    assert done.records[1]["status"] == "applied"
    assert (ws.path / "app" / "main.py").read_bytes() == before


def test_an_edit_keeps_a_crlf_files_line_endings(repo: Path) -> None:
    (repo / "win.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
    git(repo, "add", "win.txt")
    git(repo, "commit", "-q", "-m", "crlf")
    ws = create_workspace(repo, "r5")
    _commit(ws, [_edit("win.txt", ("two\nthree", "2\n3"))])
    assert (ws.path / "win.txt").read_bytes() == b"one\r\n2\r\n3\r\n"


def test_a_replayed_edit_finds_its_commit_and_reports_it_applied(ws: Workspace) -> None:
    change = _edit("app/main.py", ("return []", "return ['x']"))
    first = _commit(ws, [change])
    again = _commit(ws, [change])
    assert again.commit == first.commit and again.records[0]["status"] == "applied"


def test_reopening_an_in_place_workspace_stashes_what_a_killed_turn_left(repo: Path) -> None:
    from orchestrator.workspace import reopen

    ws = create_workspace(repo, "r6", in_place=True)
    (repo / "app" / "main.py").write_text("half a turn\n")
    (repo / "out").mkdir()
    (repo / "out" / "manifest.json").write_text("{}\n")
    reopen(ws)
    assert (repo / "app" / "main.py").read_text().startswith("from fastapi")
    assert "left uncommitted when run r6 stopped" in git(repo, "stash", "list")
    assert (repo / "out" / "manifest.json").is_file()


def test_reopening_a_workspace_drops_what_a_killed_turn_left(ws: Workspace) -> None:
    from orchestrator.workspace import reopen

    (ws.path / "app" / "main.py").write_text("half a turn\n")
    (ws.path / "new.py").write_text("x\n")
    reopen(ws)
    assert (ws.path / "app" / "main.py").read_text().startswith("from fastapi")
    assert not (ws.path / "new.py").exists()
