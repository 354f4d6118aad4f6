"""Paths the user gives: `--out`, `--junit`, `--project-dir`, a relative `sqlite:///` URL.

An unwritable artifacts folder or a project that is not a directory is one line and exit 2,
found before the first model call; a write that fails mid-run (a full disk, a file in the way)
ends the run cleanly instead of with a traceback; a relative SQLite path belongs to the project.

The sandbox runs tests as root, so permissions alone stop nothing: the unwritable paths here
are ones no user can write (a folder whose parent is a regular file, a path under /proc).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator import Orchestrator
from orchestrator.errors import ConfigError, WriteFailed
from tests.conftest import ScriptedProvider

TASK = "Add JWT authentication to the FastAPI notes service"

pytestmark = pytest.mark.usefixtures("clean_env")


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("not a folder\n")
    return path


def unwritable(kind: str, a_file: Path) -> tuple[Path, str]:
    """A folder no one can create, and the reason the OS gives."""
    if kind == "under a file":
        return a_file / "runs", "cannot write there (Not a directory)"
    if kind == "is a file":
        return a_file, "cannot write there (Not a directory)"
    return Path("/proc/phasegraph-test/runs"), "cannot write there (No such file or directory)"


# --out


@pytest.mark.parametrize("kind", ["under a file", "is a file", "under /proc"])
def test_an_unwritable_out_is_one_line_and_exit_2_before_anything_runs(
    run_cli: Any, project: Path, a_file: Path, kind: str
) -> None:
    out, reason = unwritable(kind, a_file)
    code, stdout, err = run_cli("run", TASK, "--project-dir", str(project), "--out", str(out))
    assert code == 2 and stdout == ""
    assert err == f"phasegraph: error: --out {out}: {reason}\n"
    assert not (project / ".phasegraph").exists()


def test_an_unwritable_out_stops_the_api_before_any_model_call(project: Path, a_file: Path) -> None:
    provider = ScriptedProvider()
    with pytest.raises(
        WriteFailed, match=r"^--out .*notes\.txt/runs: cannot write there \(Not a directory\)$"
    ):
        Orchestrator(provider=provider, out_dir=a_file / "runs").run(TASK, project)
    assert provider.requests == []


def test_an_unwritable_project_without_out_names_the_artifacts_folder(run_cli: Any, project: Path) -> None:
    (project / ".phasegraph").write_text("a file where the folder goes\n")
    code, _, err = run_cli("run", TASK, "--project-dir", str(project))
    assert code == 2
    assert err == (
        f"phasegraph: error: artifacts folder (--out) {project.resolve()}/.phasegraph/runs: "
        "cannot write there (Not a directory)\n"
    )


def test_a_write_that_fails_mid_run_ends_it_with_exit_2_and_no_traceback(
    run_cli: Any, project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    (out / "w1").mkdir(parents=True)
    (out / "w1" / "design").write_text("a file where the phase folder goes\n")
    code, stdout, err = run_cli(
        "run", TASK, "--project-dir", str(project), "--out", str(out), "--run-id", "w1", "--json"
    )
    result = json.loads(stdout)
    assert code == 2
    assert result["status"] == "failed" and result["error_type"] == "WriteFailed"
    assert result["message"].startswith(f"cannot write {out}/w1/design/backend-python/")
    assert result["message"].endswith(": Not a directory")
    assert json.loads((out / "w1" / "manifest.json").read_text())["error_type"] == "WriteFailed"
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "command", [["verify", "--junit"], ["run", TASK, "--record"]], ids=["junit", "record"]
)
@pytest.mark.parametrize("kind", ["under a file", "is a directory"])
def test_an_unwritable_report_or_cassette_file_is_one_line_before_the_run(
    run_cli: Any, project: Path, a_file: Path, tmp_path: Path, command: list[str], kind: str
) -> None:
    path = a_file / "out.xml" if kind == "under a file" else tmp_path
    reason = "Not a directory" if kind == "under a file" else "Is a directory"
    code, _, err = run_cli(*command, str(path), "--project-dir", str(project))
    assert code == 2
    assert err == f"phasegraph: error: {command[-1]} {path}: cannot write there ({reason})\n"
    assert not (project / ".phasegraph").exists()


# --project-dir


@pytest.mark.parametrize(
    "command",
    [
        ["run", TASK],
        ["verify"],
        ["plan", TASK],
        ["route", TASK],
        ["resume", "r1"],
        ["approve", "r1"],
        ["runs", "list"],
        ["runs", "show", "r1"],
        ["agents", "list"],
    ],
    ids=lambda c: " ".join(c[:2]) if c[0] == "runs" else c[0],
)
def test_a_project_dir_that_is_a_file_is_one_line_and_exit_2(
    run_cli: Any, a_file: Path, command: list[str]
) -> None:
    code, out, err = run_cli(*command, "--project-dir", str(a_file))
    assert code == 2 and out == ""
    assert err == f"phasegraph: error: --project-dir {a_file}: not a directory\n"


@pytest.mark.parametrize("method", ["run", "plan", "route"])
def test_the_api_gives_the_same_project_dir_message(a_file: Path, method: str) -> None:
    with pytest.raises(ConfigError) as info:
        getattr(Orchestrator(provider="offline"), method)(TASK, a_file)
    assert str(info.value) == f"--project-dir {a_file}: not a directory"


# sqlite:///relative


def test_a_relative_sqlite_url_is_relative_to_the_project_not_the_cwd(
    run_cli: Any, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    url = "sqlite:///state/runs.sqlite"
    code, _, _ = run_cli(
        "run", TASK, "--project-dir", str(project), "--phases", "design", "--run-id", "s1",
        "--checkpoint-url", url, "-q",
    )  # fmt: skip
    assert code == 0
    assert (project / "state" / "runs.sqlite").is_file()
    assert not (elsewhere / "state").exists()
    monkeypatch.chdir(project.parent)
    code, out, _ = run_cli("runs", "list", "--project-dir", str(project), "--checkpoint-url", url, "--json")
    assert code == 0 and [r["run_id"] for r in json.loads(out)] == ["s1"]


def test_an_absolute_sqlite_url_is_kept(project: Path, tmp_path: Path) -> None:
    db = tmp_path / "abs" / "state.sqlite"
    result = Orchestrator(provider="offline", checkpoint_url=f"sqlite:///{db}").run(
        TASK, project, phases="design"
    )
    assert result.status == "completed" and db.is_file()


@pytest.mark.parametrize("url", ["sqlite:state.sqlite", "sqlite://host/state.sqlite"])
def test_a_malformed_sqlite_url_is_one_line(run_cli: Any, project: Path, url: str) -> None:
    code, _, err = run_cli("run", TASK, "--project-dir", str(project), "--checkpoint-url", url)
    assert code == 2
    assert err.startswith(f"phasegraph: error: checkpoint_url: {url!r}: use sqlite:///relative/path")
    assert len(err.splitlines()) == 1
