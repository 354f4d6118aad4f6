"""`phasegraph route` and `phasegraph plan`: JSON shapes, flags, exit codes, start-up cost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import invoke_cli as run

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run in an empty folder with no catalogue or pipeline settings from the environment."""
    for name in ("PHASEGRAPH_AGENTS_DIRS", "PHASEGRAPH_PIPELINE", "PHASEGRAPH_APPROVAL_GATES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def project(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def agent(agent_id: str, keywords: str, labels: str = "2,5b,7", priority: int = 50) -> str:
    phases = "".join(f"**Phase {label}:**\n- {agent_id} output {label}\n\n" for label in labels.split(","))
    return (
        f"# Agent: {agent_id.title()}\n\n**Agent ID:** {agent_id}\n**Priority:** {priority}\n\n"
        f"## Purpose\n\nDoes things.\n\n## Triggers\n\n**Keywords:** {keywords}\n\n"
        f"## Deliverables\n\n{phases}"
    )


def test_route_json_names_the_primary_with_reasons(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(capsys, monkeypatch, "route", "Add JWT auth to the FastAPI service", "--json")
    data = json.loads(out)
    assert code == 0
    assert list(data) == [
        "phase",
        "primary",
        "collaborators",
        "required_collaborators",
        "chosen_by",
        "note",
        "candidates",
    ]
    assert (data["phase"], data["primary"]) == ("design", "backend-python")
    assert "security-expert" in data["collaborators"]
    top = data["candidates"][0]
    assert list(top) == ["id", "score", "priority", "tier", "reasons", "origin", "default_deliverables"]
    assert top["reasons"][0] == {"trigger": "tech", "pattern": "fastapi", "matched": "FastAPI", "points": 8.0}


@pytest.mark.parametrize(("phase", "key"), [("5b", "build"), ("verify", "verify"), ("8", "document")])
def test_route_phase_accepts_a_key_or_label_inside_or_outside_the_pipeline(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, phase: str, key: str
) -> None:
    code, out, _ = run(capsys, monkeypatch, "route", "Write the README", "--phase", phase, "--json")
    assert (code, json.loads(out)["phase"]) == (0, key)


def test_route_unknown_phase_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run(capsys, monkeypatch, "route", "x", "--phase", "nope")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "unknown phase 'nope'" in err


def test_route_missing_project_dir_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, _, err = run(capsys, monkeypatch, "route", "x", "--project-dir", str(tmp_path / "missing"))
    assert code == 2 and "missing" in err and "Traceback" not in err


def test_route_uses_the_project_dir(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = project(tmp_path / "web", {"src/App.tsx": "import React from 'react'\n", "vite.config.ts": ""})
    code, out, _ = run(capsys, monkeypatch, "route", "Tidy up", "--project-dir", str(root), "--json")
    assert (code, json.loads(out)["primary"]) == (0, "frontend-react")


def test_route_agents_dir_takes_precedence_over_the_builtin_catalogue(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    extra = project(tmp_path / "cards", {"haiku-poet.md": agent("haiku-poet", "`haiku`")})
    code, out, _ = run(capsys, monkeypatch, "route", "Write a haiku", "--agents-dir", str(extra), "--json")
    assert (code, json.loads(out)["primary"]) == (0, "haiku-poet")


def test_route_with_no_agent_exits_1_and_says_why(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run(capsys, monkeypatch, "route", "Write a haiku about the sea", "--json")
    assert code == 1
    assert json.loads(out)["primary"] is None
    assert "no agent matched the task" in err


def test_route_table_shows_scores_and_reasons(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(capsys, monkeypatch, "route", "Create the PostgreSQL schema", "--phase", "build")
    assert code == 0
    assert "primary database-specialist" in out
    assert "+8 tech: postgresql" in out and "+2.5 keyword: schema" in out


def test_plan_json_lists_every_phase_of_the_pipeline(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(capsys, monkeypatch, "plan", "Create the PostgreSQL schema and migrations", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["pipeline"] == "default"
    assert [(p["phase"], p["label"], p["primary"]) for p in data["phases"]] == [
        ("design", "2", "database-specialist"),
        ("build", "5b", "database-specialist"),
        ("verify", "7", "database-specialist"),
    ]
    first = data["phases"][0]
    assert list(first) == [
        "phase",
        "label",
        "primary",
        "collaborators",
        "required_collaborators",
        "deliverables",
        "checks",
        "checks_note",
        "checks_python",
    ]
    assert list(first["deliverables"]) == [first["primary"], *first["collaborators"]]
    assert first["deliverables"]["database-specialist"][0] == "Logical data model"


def test_plan_full_pipeline_gives_every_phase_an_agent(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(
        capsys, monkeypatch, "plan", "Add JWT auth to the FastAPI service", "--pipeline", "full", "--json"
    )
    phases = json.loads(out)["phases"]
    assert code == 0
    assert len(phases) == 11 and all(p["primary"] for p in phases)
    assert {p["phase"]: p["primary"] for p in phases}["document"] == "technical-writer"


def test_plan_reports_a_phase_nobody_serves_and_exits_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = project(
        tmp_path / "p",
        {
            "phases/audit.yaml": "label: 6b\nname: Audit\npurpose: Check licences.\norder: 85\n",
            "phases/pipelines/default.yaml": "phases: [design, audit]\n",
        },
    )
    code, out, err = run(
        capsys, monkeypatch, "plan", "Create the PostgreSQL schema", "--project-dir", str(root), "--json"
    )
    phases = json.loads(out)["phases"]
    assert code == 1
    assert [(p["phase"], p["primary"]) for p in phases] == [
        ("design", "database-specialist"),
        ("audit", None),
    ]
    assert "phase audit (6b): no agent serves this phase" in err


def test_plan_table_shows_gates_and_approval_gates_switch_them_all(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, plain, _ = run(capsys, monkeypatch, "plan", "Build a React dashboard")
    code, gated, _ = run(capsys, monkeypatch, "plan", "Build a React dashboard", "--approval-gates")
    assert code == 0
    assert "approval" not in plain and gated.count("approval") == 3
    assert "frontend-react" in gated and "primary" in gated


def test_plan_is_byte_identical_on_every_run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = {
        run(capsys, monkeypatch, "plan", "Set up GitHub Actions CI and Docker", "--json")[1] for _ in range(3)
    }
    assert len(outputs) == 1


@pytest.mark.slow
def test_route_and_plan_start_without_the_model_stack() -> None:
    """Start-up time itself is measured in benchmarks/bench_startup.py; this checks its cause."""
    code = (
        "import sys\n"
        "from orchestrator.cli import _register; _register()\n"
        "print([m for m in ('langgraph', 'openai', 'langchain_core') if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_plan_is_byte_identical_across_processes_with_different_hash_seeds() -> None:
    outputs = set()
    command = [
        sys.executable, "-c", "from orchestrator.cli import main; main()",
        "plan", "Add JWT auth to the FastAPI service", "--json", "--pipeline", "full",
        "--project-dir", str(ROOT / "examples" / "fastapi-service"),
    ]  # fmt: skip
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, check=True)
        outputs.add(result.stdout)
    assert len(outputs) == 1
