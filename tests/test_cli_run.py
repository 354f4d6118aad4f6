"""`phasegraph run | verify | resume | approve | reject | runs | config`: JSON, exit codes, no tracebacks.

Every command runs in-process through `main()` (the console-script entry point, so
errors go through the same one-line mapping users see) on a copy of the example
project with the offline provider. Exit codes are the README's: 0 completed,
1 gate failed, 2 usage or configuration error, 3 provider failure, 4 budget, 5 approval.
"""

from __future__ import annotations

import json
import os
import subprocess
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from orchestrator import Orchestrator
from orchestrator.cli._progress import ProgressDisplay
from orchestrator.providers.replay import Cassette, RecordingProvider
from tests.conftest import ScriptedProvider

TASK = "Add JWT authentication to the FastAPI notes service"
ROOT = Path(__file__).resolve().parent.parent
MANIFEST_KEYS = {"run_id", "status", "task", "pipeline", "phases", "usage", "provider", "model", "message"}


pytestmark = pytest.mark.usefixtures("clean_env")


def failing_cassette(project: Path, path: Path) -> Path:
    """Record a verify run whose primary answers "TBD" for one deliverable, even after the repair."""
    provider = ScriptedProvider(force={"test_execution_report": "TBD"}, handoffs=[])
    Orchestrator(provider=RecordingProvider(provider, Cassette(path))).verify(project)
    return path


# run


def test_run_json_is_the_manifest_and_exits_0(run_cli: Any, project: Path) -> None:
    code, out, _ = run_cli("run", TASK, "--project-dir", str(project), "--provider", "offline", "--json")
    printed = json.loads(out)
    assert code == 0
    assert printed.keys() >= MANIFEST_KEYS
    assert printed["status"] == "completed"
    assert [p["key"] for p in printed["phases"]] == ["design", "build", "verify"]
    on_disk = json.loads((Path(printed["run_dir"]) / "manifest.json").read_text())
    assert on_disk == {k: v for k, v in printed.items() if k != "run_dir"}


def test_run_prints_progress_lines_on_stderr_when_not_a_terminal(run_cli: Any, project: Path) -> None:
    code, out, err = run_cli("run", TASK, "--project-dir", str(project), "--phases", "design")
    assert code == 0 and out == ""
    lines = err.splitlines()
    assert any(line.startswith("▶ design phase 2 Design") for line in lines)
    assert any(line.startswith("● design backend-python") for line in lines)
    assert any(line.startswith("✔ design") for line in lines)
    assert "completed" in lines


def test_run_until_stops_after_the_phase_with_exit_0(run_cli: Any, project: Path) -> None:
    code, out, _ = run_cli("run", TASK, "--project-dir", str(project), "--until", "2", "--json")
    result = json.loads(out)
    assert code == 0
    assert result["status"] == "paused"
    assert [p["status"] for p in result["phases"]] == ["completed", "pending", "pending"]


def test_until_a_phase_the_run_does_not_have_exits_2(run_cli: Any, project: Path) -> None:
    code, _, err = run_cli(
        "run", TASK, "--project-dir", str(project), "--phases", "verify", "--until", "design", "-q"
    )
    assert code == 2
    assert err.strip() == (
        "phasegraph: error: --until design: phase design is not one of this run's phases (verify)"
    )


def test_resume_continues_a_stopped_run_to_completion(run_cli: Any, project: Path) -> None:
    run_cli("run", TASK, "--project-dir", str(project), "--until", "design", "--run-id", "r1", "-q")
    code, out, _ = run_cli("resume", "r1", "--project-dir", str(project), "--json")
    assert code == 0
    assert json.loads(out)["status"] == "completed"


def test_resume_of_an_unknown_run_is_one_line_and_exit_2(run_cli: Any, project: Path) -> None:
    code, out, err = run_cli("resume", "nope", "--project-dir", str(project))
    assert code == 2 and out == ""
    assert err.startswith("phasegraph: error: run 'nope' not found in ")
    assert len(err.strip().splitlines()) == 1


# approval


def test_approval_gates_pause_with_exit_5(run_cli: Any, project: Path) -> None:
    code, out, _ = run_cli("run", TASK, "--project-dir", str(project), "--approval-gates", "--json")
    result = json.loads(out)
    assert code == 5
    assert result["status"] == "paused" and result["error_type"] == "AwaitingApproval"
    assert result["phases"][0]["status"] == "paused"


def test_approve_continues_to_the_next_gate(run_cli: Any, project: Path) -> None:
    run_cli("run", TASK, "--project-dir", str(project), "--approval-gates", "--run-id", "a1", "-q")
    code, out, _ = run_cli("approve", "a1", "--project-dir", str(project), "--feedback", "RS256", "--json")
    result = json.loads(out)
    assert code == 5
    assert [p["status"] for p in result["phases"]] == ["completed", "paused", "pending"]


def test_reject_reruns_the_phase_which_waits_again(run_cli: Any, project: Path) -> None:
    run_cli("run", TASK, "--project-dir", str(project), "--approval-gates", "--run-id", "a2", "-q")
    code, out, _ = run_cli("reject", "a2", "--project-dir", str(project), "--reason", "Sessions.", "--json")
    result = json.loads(out)
    assert code == 5
    assert [p["status"] for p in result["phases"]] == ["paused", "pending", "pending"]
    assert (Path(result["run_dir"]) / "design.rejected-1").is_dir()


def test_reject_without_a_reason_is_a_usage_error(run_cli: Any, project: Path) -> None:
    code, _, err = run_cli("reject", "a3", "--project-dir", str(project))
    assert code == 2
    assert "--reason" in err


def test_approve_when_nothing_waits_exits_2(run_cli: Any, project: Path) -> None:
    run_cli("run", TASK, "--project-dir", str(project), "--phases", "design", "--run-id", "d1", "-q")
    code, _, err = run_cli("approve", "d1", "--project-dir", str(project))
    assert code == 2
    assert err.strip() == "phasegraph: error: run d1 is not waiting for approval"


# failures and their exit codes


def test_gate_failure_exits_1(run_cli: Any, project: Path, tmp_path: Path) -> None:
    cassette = failing_cassette(project, tmp_path / "fail.jsonl")
    code, out, _ = run_cli(
        "verify", "--project-dir", str(project), "--provider", "replay", "--cassette", str(cassette), "--json"
    )
    result = json.loads(out)
    assert code == 1
    assert result["error_type"] == "GateFailed"
    assert result["phases"][0]["missing"] == {"qa-automation": ["Test execution report"]}


def test_provider_failure_exits_3(run_cli: Any, project: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code, out, _ = run_cli(
        "run", TASK, "--project-dir", str(project), "--provider", "replay", "--cassette", str(empty), "--json"
    )
    result = json.loads(out)
    assert code == 3
    assert result["status"] == "failed" and result["error_type"] == "ReplayMiss"


def test_budget_exceeded_exits_4(run_cli: Any, project: Path) -> None:
    code, out, _ = run_cli("run", TASK, "--project-dir", str(project), "--max-tokens", "1", "--json")
    result = json.loads(out)
    assert code == 4
    assert result["status"] == "budget_exceeded"
    assert result["usage"]["calls"] == 1


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["run", TASK, "--provider", "nope"], {}, "setting provider: Input should be"),
        (["run", TASK], {"PHASEGRAPH_MAX_ATTEMPTS": "0"}, "setting max_attempts:"),
        (["run", TASK, "--pipeline", "nope"], {}, "unknown pipeline 'nope'"),
        (["run", TASK, "--run-id", "../x"], {}, "--run-id '../x'"),
        (["run", TASK, "--provider", "replay"], {}, "provider replay needs a cassette"),
        (["verify", "--from", "r", "--from-artifacts", "."], {}, "either --from RUN_ID or --from-artifacts"),
    ],
)
def test_usage_and_config_errors_are_one_line_with_exit_2(
    run_cli: Any,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, _, err = run_cli(*args, "--project-dir", str(project))
    assert code == 2
    assert err.startswith("phasegraph: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


# verify and runs


def test_verify_writes_junit_and_runs_only_the_verify_phase(
    run_cli: Any, project: Path, tmp_path: Path
) -> None:
    junit = tmp_path / "reports" / "verify.xml"
    code, out, _ = run_cli("verify", "--project-dir", str(project), "--junit", str(junit), "--json")
    result = json.loads(out)
    assert code == 0
    assert [p["key"] for p in result["phases"]] == ["verify"]
    assert junit.read_text().startswith('<?xml version="1.0" encoding="utf-8"?>')


def test_verify_from_an_earlier_run(run_cli: Any, project: Path) -> None:
    run_cli("run", TASK, "--project-dir", str(project), "--phases", "design,build", "--run-id", "b1", "-q")
    code, out, _ = run_cli("verify", "--project-dir", str(project), "--from", "b1", "--json")
    assert code == 0
    assert json.loads(out)["status"] == "completed"


def test_runs_list_and_show_as_json(run_cli: Any, project: Path) -> None:
    run_cli("run", TASK, "--project-dir", str(project), "--phases", "design", "--run-id", "l1", "-q")
    code, out, _ = run_cli("runs", "list", "--project-dir", str(project), "--json")
    rows = {r["run_id"]: r for r in json.loads(out)}
    assert code == 0
    assert (rows["l1"]["status"], rows["l1"]["phases"], rows["l1"]["task"]) == ("completed", ["design"], TASK)
    assert {"pipeline", "updated"} <= rows["l1"].keys()
    code, out, _ = run_cli("runs", "show", "l1", "--project-dir", str(project), "--json")
    assert code == 0 and json.loads(out).keys() >= MANIFEST_KEYS


# config


def test_config_json_shows_every_setting_with_secrets_masked(run_cli: Any, monkeypatch: Any) -> None:
    from orchestrator.settings import Settings

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-very-secret-0123456789")
    monkeypatch.setenv("PHASEGRAPH_CHECKPOINT_URL", "postgresql://app:pg-secret@db:5432/runs")
    monkeypatch.setenv("PHASEGRAPH_MAX_USD", "0.5")
    code, out, _ = run_cli("config", "--json")
    shown = json.loads(out)
    assert code == 0
    assert set(shown) == set(Settings.model_fields)
    assert shown["openai_api_key"] == "***"
    assert shown["checkpoint_url"] == "postgresql://app:***@db:5432/runs"
    assert shown["max_usd"] == 0.5
    assert "very-secret" not in out and "pg-secret" not in out


def test_config_reads_dotenv_in_the_current_folder(run_cli: Any, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PHASEGRAPH_MODEL=gpt-4.1-mini\n")
    code, out, _ = run_cli("config", "--json")
    assert code == 0 and json.loads(out)["model"] == "gpt-4.1-mini"


def test_config_table_names_each_environment_variable(run_cli: Any) -> None:
    code, out, _ = run_cli("config")
    assert code == 0
    assert "PHASEGRAPH_MAX_USD" in out
    assert "OPENAI_API_KEY" in out


def test_config_bad_value_names_the_setting_with_exit_2(run_cli: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("PHASEGRAPH_TEMPERATURE", "hot")
    code, _, err = run_cli("config")
    assert code == 2
    assert err.startswith("phasegraph: error: setting temperature:")


# progress and logs


def test_live_progress_on_a_terminal_shows_each_phase_done(project: Path) -> None:
    screen = StringIO()
    display = ProgressDisplay(Console(file=screen, force_terminal=True, width=120, color_system=None))
    try:
        Orchestrator(provider="offline").run(TASK, project, on_event=display)
    finally:
        display.close()
    text = screen.getvalue()
    for phase in ("phase 2 Design", "phase 5b Build", "phase 7 Verify"):
        assert phase in text
    assert "deliverables · done" in text
    assert "calls ·" in text


@pytest.mark.slow
def test_event_log_is_json_lines_with_run_id_phase_and_agent(project: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHASEGRAPH_")}
    env["PHASEGRAPH_LOG_LEVEL"] = "info"
    done = subprocess.run(
        [
            ROOT / ".venv" / "bin" / "phasegraph",
            "run",
            TASK,
            "--project-dir",
            project,
            "--phases",
            "design",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines()]
    events = [r for r in records if r.get("logger") is None and "run_id" in r]
    assert {r["event"] for r in events} >= {"run_started", "phase_started", "agent_selected", "run_finished"}
    for record in events:
        assert {"run_id", "phase", "agent", "timestamp", "level"} <= record.keys()
    assert {r["run_id"] for r in events} == {events[0]["run_id"]}
    assert any(r["event"] == "agent_selected" and r["agent"] == "backend-python" for r in events)
