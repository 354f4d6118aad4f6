"""`phasegraph agents list | show | lint`: JSON shapes, precedence, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke_cli as run

FIXTURES = Path(__file__).parent / "fixtures"
SEED = FIXTURES / "seed_backend_python.md"
MESSY = FIXTURES / "cards" / "messy"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run in an empty folder with no catalogue settings from the environment."""
    monkeypatch.delenv("PHASEGRAPH_AGENTS_DIRS", raising=False)
    monkeypatch.chdir(tmp_path)


def card(agent_id: str, priority: str = "50", works_with: str = "") -> str:
    collaboration = f"## Collaboration\n\n**Works with:**\n- {works_with}\n\n" if works_with else ""
    return (
        f"# Agent: {agent_id.title()}\n\n**Agent ID:** {agent_id}\n**Priority:** {priority}\n\n"
        f"## Purpose\n\nDoes {agent_id} things.\n\n{collaboration}"
        "## Deliverables\n\n**Phase 5b (Build):**\n- Code\n"
    )


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder / name


def test_show_path_prints_the_seed_card_as_json(capsys: Any, monkeypatch: Any) -> None:
    code, out, _ = run(capsys, monkeypatch, "agents", "show", str(SEED), "--json")
    shown = json.loads(out)
    assert code == 0
    assert {k: shown[k] for k in ("id", "name", "priority", "version", "status", "format", "source")} == {
        "id": "backend-python",
        "name": "Backend Python Developer",
        "priority": 90,
        "version": "1.0.0",
        "status": "active",
        "format": "seed",
        "source": str(SEED),
    }
    assert shown["purpose"].startswith("Expert Python backend developer")
    assert shown["triggers"]["keywords"] == ["python", "django", "fastapi", "flask", "api", "backend"]
    assert shown["triggers"]["file_patterns"] == ["*.py", "requirements.txt", "pyproject.toml", "manage.py"]
    assert [c["id"] for c in shown["collaborators"]] == [
        "database-specialist",
        "security-expert",
        "devops-cicd",
        "qa-automation",
    ]
    assert shown["collaborators"][0] == {
        "id": "database-specialist",
        "kind": "agent",
        "note": "Schema design, query optimization",
    }
    assert list(shown["deliverables"]) == ["2", "5b", "7"]
    assert shown["warnings"] == ["repaired mis-decoded text (mac_roman) in 90 places"]


def test_show_by_id_finds_the_builtin_card(capsys: Any, monkeypatch: Any) -> None:
    _, by_path, _ = run(capsys, monkeypatch, "agents", "show", str(SEED), "--json")
    code, by_id, _ = run(capsys, monkeypatch, "agents", "show", "backend-python", "--json")
    assert code == 0
    assert {**json.loads(by_id), "source": ""} == {**json.loads(by_path), "source": ""}


def test_show_without_json_renders_the_card_for_people(capsys: Any, monkeypatch: Any) -> None:
    code, out, _ = run(capsys, monkeypatch, "agents", "show", "backend-python")
    assert code == 0
    for expected in (
        "Backend Python Developer",
        "Phase 5b (Build)",
        "- Working API endpoints",
        "database-specialist",
        "keywords",
        "python, django, fastapi",
    ):
        assert expected in out


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        (
            "backend-pyton",
            "phasegraph: error: no agent 'backend-pyton' in the catalogue; did you mean 'backend-python'?\n",
        ),
        ("cards/missing.md", "phasegraph: error: no card file cards/missing.md\n"),
    ],
)
def test_show_unknown_is_one_line_and_exit_2(capsys: Any, monkeypatch: Any, arg: str, message: str) -> None:
    code, out, err = run(capsys, monkeypatch, "agents", "show", arg)
    assert (code, out, err) == (2, "", message)


def test_show_a_file_that_is_not_a_card_names_the_file(capsys: Any, monkeypatch: Any) -> None:
    code, _, err = run(capsys, monkeypatch, "agents", "show", str(MESSY / "no_id.md"))
    assert code == 2
    assert err.startswith(f"phasegraph: error: {MESSY / 'no_id.md'}:1: not an agent card")


def test_list_json_is_every_card_sorted_by_id_with_summary_fields(capsys: Any, monkeypatch: Any) -> None:
    code, out, _ = run(capsys, monkeypatch, "agents", "list", "--json")
    cards = json.loads(out)
    assert code == 0
    ids = [c["id"] for c in cards]
    assert ids == sorted(ids)
    assert "backend-python" in ids
    assert all(list(c) == ["id", "name", "priority", "version", "status", "source"] for c in cards)


def test_list_table_shows_ids_and_names(capsys: Any, monkeypatch: Any) -> None:
    code, out, _ = run(capsys, monkeypatch, "agents", "list")
    assert code == 0
    assert "backend-python" in out
    assert "Backend Python Developer" in out


def test_agents_dir_flag_overrides_the_builtin_card(capsys: Any, monkeypatch: Any, tmp_path: Path) -> None:
    write(tmp_path / "mine", "backend-python.md", card("backend-python", priority="99"))
    _, out, _ = run(capsys, monkeypatch, "agents", "list", "--agents-dir", str(tmp_path / "mine"), "--json")
    [seed] = [c for c in json.loads(out) if c["id"] == "backend-python"]
    assert (seed["priority"], seed["source"]) == (99, str(tmp_path / "mine" / "backend-python.md"))


def test_environment_dirs_are_read_and_flags_come_first(
    capsys: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    write(tmp_path / "env", "x.md", card("x", priority="1"))
    write(tmp_path / "env", "y.md", card("y", priority="1"))
    write(tmp_path / "flag", "x.md", card("x", priority="2"))
    monkeypatch.setenv("PHASEGRAPH_AGENTS_DIRS", str(tmp_path / "env"))
    _, out, _ = run(capsys, monkeypatch, "agents", "list", "--agents-dir", str(tmp_path / "flag"), "--json")
    priorities = {c["id"]: c["priority"] for c in json.loads(out) if c["id"] in ("x", "y")}
    assert priorities == {"x": 2, "y": 1}


def test_project_agents_folder_is_found_automatically(capsys: Any, monkeypatch: Any, tmp_path: Path) -> None:
    write(tmp_path / "agents", "local-agent.md", card("local-agent"))
    write(tmp_path / "agents", "README.md", "# About these agents\n")
    code, out, _ = run(capsys, monkeypatch, "agents", "list", "--json")
    assert code == 0
    assert "local-agent" in [c["id"] for c in json.loads(out)]


def test_missing_agents_dir_is_one_line_and_exit_2(capsys: Any, monkeypatch: Any, tmp_path: Path) -> None:
    code, _, err = run(capsys, monkeypatch, "agents", "list", "--agents-dir", str(tmp_path / "nope"))
    assert code == 2
    assert err == f"phasegraph: error: agents directory {tmp_path / 'nope'} does not exist\n"


def test_lint_of_the_builtin_catalogue_passes(capsys: Any, monkeypatch: Any) -> None:
    code, out, err = run(capsys, monkeypatch, "agents", "lint")
    assert code == 0
    assert ": error:" not in out
    assert "0 error(s)" in err


def test_lint_prints_path_line_problems_and_exits_1_on_errors(
    capsys: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    bad = tmp_path / "bad"
    write(bad, "a1.md", card("dup"))
    write(bad, "a2.md", card("dup"))
    write(bad, "noid.md", "# Notes\n\nJust notes.\n")
    write(bad, "prio.md", card("prio", priority="urgent", works_with="**ghost-agent** - help"))
    code, out, _ = run(capsys, monkeypatch, "agents", "lint", "--agents-dir", str(bad))
    assert code == 1
    lines = [line for line in out.splitlines() if line.startswith(str(bad))]
    assert lines[:3] == [
        f"{bad / 'a2.md'}:3: error: duplicate agent id 'dup': already defined in {bad / 'a1.md'}:3; "
        "this card is ignored",
        f"{bad / 'noid.md'}:1: error: not an agent card: no agent id "
        "(add `**Agent ID:** your-id` or front matter `name: your-id`)",
        f"{bad / 'prio.md'}:4: error: priority 'urgent' is not a whole number",
    ]
    assert lines[3].startswith(
        f"{bad / 'prio.md'}:13: warning: collaborator 'ghost-agent' is not in the catalogue"
    )
    assert len(lines) == 4


def test_lint_warnings_alone_exit_0(capsys: Any, monkeypatch: Any, tmp_path: Path) -> None:
    write(tmp_path / "w", "a.md", card("a", works_with="**ghost-agent** - help"))
    code, out, _ = run(capsys, monkeypatch, "agents", "lint", "--agents-dir", str(tmp_path / "w"))
    assert code == 0
    assert f"{tmp_path / 'w' / 'a.md'}:13: warning: collaborator 'ghost-agent'" in out


def test_lint_json_lists_problems(capsys: Any, monkeypatch: Any, tmp_path: Path) -> None:
    write(tmp_path / "w", "a.md", card("a", priority="high"))
    code, out, _ = run(capsys, monkeypatch, "agents", "lint", "--agents-dir", str(tmp_path / "w"), "--json")
    assert code == 1
    assert {
        "path": str(tmp_path / "w" / "a.md"),
        "line": 4,
        "severity": "error",
        "message": "priority 'high' is not a whole number",
    } in json.loads(out)


@pytest.mark.slow
def test_the_console_script_never_prints_a_traceback(tmp_path: Path) -> None:
    binary = tmp_path / "binary.md"
    binary.write_bytes(bytes(range(256)) * 8)
    exe = ROOT / ".venv" / "bin" / "phasegraph"
    command = (
        [str(exe)] if exe.exists() else [sys.executable, "-c", "from orchestrator.cli import main; main()"]
    )
    for args in (
        ["agents", "show", str(binary)],
        ["agents", "show", "no-such-agent", "--json"],
        ["agents", "lint", "--agents-dir", str(tmp_path)],
    ):
        done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert "Traceback" not in done.stdout + done.stderr
        assert done.returncode in (0, 1, 2)


def test_lint_with_a_pipeline_reports_agents_no_phase_can_reach(
    capsys: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    docs_only = card("docs-only").replace("Phase 5b (Build)", "Phase 8 (Document)")
    path = write(tmp_path / "w", "docs-only.md", docs_only)
    code, out, _ = run(
        capsys, monkeypatch, "agents", "lint", "--agents-dir", str(tmp_path / "w"), "--pipeline", "default"
    )
    assert code == 0
    assert f"{path}:3: warning: no deliverables for any pipeline phase" in out
