"""The CLI on the user's cards: where each card came from, --no-builtin-agents, and `agents show`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.bench_routing_eval import EVAL_DIR

GEN1 = str(EVAL_DIR / "gen1_seed")
GO_TASK = "Add a Gin HTTP handler to our Go microservice"


def test_route_json_says_where_each_card_came_from(run_cli: Any, tmp_path: Path) -> None:
    code, out, _ = run_cli("route", GO_TASK, "--project-dir", str(tmp_path), "--agents-dir", GEN1, "--json")
    data = json.loads(out)
    origins = {c["id"]: c["origin"] for c in data["candidates"]}
    assert code == 0 and data["primary"] == "backend-go" and data["chosen_by"] == "evidence"
    assert origins["backend-go"] == "user" and origins["backend-python"] == "builtin"


def test_route_text_has_a_from_column_and_the_fallback_note(run_cli: Any, tmp_path: Path) -> None:
    code, out, _ = run_cli("route", "Tidy the app", "--project-dir", str(tmp_path), "--agents-dir", GEN1)
    assert code == 0
    assert "from" in out and "builtin" in out
    assert "below the floor of 3" in out


@pytest.mark.parametrize("how", ["flag", "setting"])
def test_no_builtin_agents_plans_on_the_users_cards_alone(
    run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    args = ["plan", GO_TASK, "--project-dir", str(tmp_path), "--agents-dir", GEN1, "--json"]
    if how == "flag":
        args.append("--no-builtin-agents")
    else:
        monkeypatch.setenv("PHASEGRAPH_NO_BUILTIN_AGENTS", "1")
    code, out, _ = run_cli(*args)
    phases = json.loads(out)["phases"]
    assert code == 0
    assert [(p["primary"], p["collaborators"]) for p in phases] == [("backend-go", [])] * 3


def test_no_builtin_agents_with_no_user_cards_leaves_every_phase_unserved(
    run_cli: Any, tmp_path: Path
) -> None:
    code, _, err = run_cli("plan", GO_TASK, "--project-dir", str(tmp_path), "--no-builtin-agents")
    assert code == 1 and "no agent serves this phase" in err


def test_agents_show_tells_the_cards_own_deliverables_from_the_phases(run_cli: Any, tmp_path: Path) -> None:
    code, out, _ = run_cli("agents", "show", str(EVAL_DIR / "gen2_toon" / "release-manager.md"), "--json")
    served = json.loads(out)["serves"]
    assert code == 0
    assert served == [
        {
            "phase": "share",
            "label": "9",
            "deliverables": ["Release notes", "Version tag and changelog entry"],
            "source": "card",
        }
    ]
    code, out, _ = run_cli("agents", "show", str(EVAL_DIR / "gen1_seed" / "backend-go.md"), "--json")
    sources = {s["phase"]: (s["source"], s["deliverables"]) for s in json.loads(out)["serves"]}
    assert sources["build"] == ("phase", ["Implementation notes"])
    assert "share" not in sources


def test_agents_show_text_names_the_role_of_a_card_without_deliverables(run_cli: Any) -> None:
    code, out, _ = run_cli("agents", "show", str(EVAL_DIR / "gen1_seed" / "slack-notifier.md"))
    assert code == 0
    assert "lists no deliverables; role: notify" in out
    assert "9 share: the phase's defaults: Release notes" in out


def test_plan_text_marks_the_required_collaborators(run_cli: Any) -> None:
    task = "Add JWT auth to the FastAPI notes service with a PostgreSQL migration and a security threat model"
    project = str(Path(__file__).resolve().parent.parent / "examples" / "fastapi-service")
    code, out, _ = run_cli("plan", task, "--project-dir", project)
    assert code == 0
    assert out.count("collaborator (required)") == 6
