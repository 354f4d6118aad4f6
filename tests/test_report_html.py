"""report.html, the Mermaid block in report.md, and the notebook pictures (no browser here;
tests/test_report_browser.py opens the page in Chromium)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from orchestrator import Orchestrator
from orchestrator._charts import call_rows
from orchestrator._handoff_graph import build_graph, safe_label
from orchestrator.report_html import render_html, render_manifest
from orchestrator.result import RunResult
from orchestrator.usage import CallUsage, Usage
from tests.conftest import ScriptedProvider

TASK = "Add JWT authentication to the FastAPI notes service"
HOSTILE = '<script>window.__pwned = 1</script> <img src="x.png" onerror="window.__pwned = 2"> ![i](http://e.test/i.png)'


def _offline(project: Path, **options: Any) -> RunResult:
    return Orchestrator(provider="offline").run(TASK, project, **options)


def _agent_ids(result: RunResult) -> set[str]:
    return {a.id for p in result.phases for a in p.agents}


def test_every_run_writes_report_html_beside_report_md(project: Path) -> None:
    result = _offline(project)
    run_dir = Path(result.run_dir)
    assert (run_dir / "report.md").is_file()
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert len(page.encode("utf-8")) < 300_000
    for agent in _agent_ids(result):
        assert f">{agent}</text>" in page


@pytest.mark.parametrize(
    "resource",
    [r"<script", r"<link", r"@import", r"url\(", r"<img", r"src=", r"https?://(?!www\.w3\.org/)"],
)
def test_report_html_loads_nothing_from_anywhere(project: Path, resource: str) -> None:
    page = (Path(_offline(project, phases="design").run_dir) / "report.html").read_text(encoding="utf-8")
    assert re.search(resource, page) is None


def test_report_md_has_a_mermaid_block_of_the_handoff_graph(project: Path) -> None:
    result = Orchestrator(provider=ScriptedProvider(handoffs=["database-specialist"])).run(
        TASK, project, phases="design"
    )
    text = (Path(result.run_dir) / "report.md").read_text(encoding="utf-8")
    block = text.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert block.startswith("flowchart LR")
    edge = '-->|"Please cover your part of: database-specialist. · by: model"| design__database-specialist'
    assert edge in block
    for agent in _agent_ids(result):
        assert f'"{agent}"' in block


def test_model_text_in_deliverables_and_briefs_is_escaped(project: Path) -> None:
    provider = ScriptedProvider(force={"authentication_strategy": HOSTILE})
    result = Orchestrator(provider=provider).run(TASK, project, phases="design")
    page = (Path(result.run_dir) / "report.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page


def test_a_hostile_brief_is_escaped_in_the_page_and_cut_to_words_in_the_graph() -> None:
    manifest = _manifest()
    manifest["phases"][0]["agents"][1]["brief"] = HOSTILE
    page = render_manifest(manifest, None)
    assert "<script>" not in page and "<img" not in page and 'onerror="' not in page


@pytest.mark.parametrize(
    ("brief", "label"),
    [
        ('<b onclick="x">Add</b> JWT', "b onclickxAdd/b JWT"),
        ("one two three four five six seven", "one two three four five six …"),
        ('say "hi" & <go>', "say hi go"),
        ("Écris l'API · vite", "Écris l'API · vite"),
    ],
)
def test_graph_labels_keep_only_plain_words(brief: str, label: str) -> None:
    assert safe_label(brief) == label


def _manifest(**extra: Any) -> dict[str, Any]:
    """A small manifest in JSON form: one phase, a primary and one collaborator."""
    agent = {"usage": Usage().model_dump(mode="json"), "deliverables": [], "brief": ""}
    phase = {
        "key": "build",
        "label": "5b",
        "name": "Build",
        "status": "failed",
        "primary": "backend-python",
        "reasons": [],
        "missing": {},
        "message": "",
        "usage": {"prompt_tokens": 50, "completion_tokens": 50, "cost_usd": 0.5},
        "agents": [
            {**agent, "id": "backend-python", "role": "primary", "handed_off_by": None},
            {
                **agent,
                "id": "devops-cicd",
                "role": "collaborator",
                "handed_off_by": "backend-python",
                "brief": "Write the Dockerfile for the service",
                "by": "plan",
            },
        ],
    }
    usage = {"calls": 2, "prompt_tokens": 50, "completion_tokens": 50, "cached_tokens": 0, "cost_usd": 0.5}
    base = {
        "run_id": "r1",
        "status": "failed",
        "task": "t",
        "pipeline": "default",
        "provider": "openai",
        "model": "m",
        "message": "",
        "usage": usage,
        "calls": [],
        "budget": None,
        "phases": [phase],
    }
    return {**base, **extra}


def test_a_handoff_edge_shows_the_brief_and_who_planned_it() -> None:
    graph = build_graph(_manifest())
    assert [e.label for e in graph.edges] == ["Write the Dockerfile for the service · by: plan"]
    assert "by: plan" in render_manifest(_manifest(), None)


def test_workspace_changes_and_checks_are_shown_failures_first() -> None:
    files = [{"path": "app/auth.py", "added": 40, "removed": 2}]
    workspace = {"path": "/w", "branch": "phasegraph/r1", "base": "a1", "head": "b2", "in_place": False}
    manifest = _manifest(workspace={**workspace, "files": files})
    phase = manifest["phases"][0]
    phase["agents"][0]["changes"] = [
        {"path": "app/auth.py", "action": "write", "deliverable": "x", "status": "applied", "reason": ""},
        {
            "path": "../etc/passwd",
            "action": "write",
            "deliverable": "x",
            "status": "refused",
            "reason": "outside",
        },
    ]
    check = {
        "command": "pytest",
        "exit_code": 0,
        "passed": 3,
        "failed": 0,
        "errors": 0,
        "skipped": 0,
        "duration_s": 1.0,
        "isolation": "none",
        "tests": [],
    }
    failing = {
        "id": "tests.test_auth::test_expired_token",
        "name": "test_expired_token",
        "status": "failed",
        "message": "assert 200 == 401",
    }
    phase["checks"] = [
        {**check, "name": "lint", "status": "passed"},
        {**check, "name": "pytest", "status": "failed", "failed": 1, "tests": [failing]},
    ]
    page = render_manifest(manifest, None)
    assert "phasegraph/r1" in page and '<code>app/auth.py</code></td><td class="passed">+40</td>' in page
    assert "1 written, 0 deleted, 1 refused" in page
    assert (
        page.index(">pytest</td>")
        < page.index("tests.test_auth::test_expired_token")
        < page.index(">lint</td>")
    )
    assert "assert 200 == 401" in page


def test_a_manifest_without_workspace_or_checks_has_no_such_sections() -> None:
    page = render_manifest(_manifest(), None)
    assert 'id="workspace"' not in page and "<h3>Checks</h3>" not in page


def test_without_dot_the_graph_gets_a_plain_layout_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("orchestrator._handoff_graph.shutil.which", lambda _: None)
    page = render_manifest(_manifest(), None)
    assert "Graphviz `dot` is not installed: plain layout" in page
    assert 'id="agent-build__devops-cicd"' in page and ">devops-cicd</text>" in page


def _call(agent: str, started: float | None, **fields: Any) -> dict[str, Any]:
    call = {
        "model": "m",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "latency_s": 2.0,
        "started_at": started,
    }
    return {"agent": agent, "phase": "build", "call": {**call, **fields}}


@pytest.mark.parametrize(
    ("fields", "mark"),
    [
        ({"attempts": 3}, "2 retries"),
        ({"attempts": 2}, "1 retry"),
        ({"repair": True}, "repair call"),
        ({"answered": False}, "no answer"),
    ],
)
def test_the_timeline_marks_retries_repairs_and_unanswered_calls(fields: dict[str, Any], mark: str) -> None:
    page = render_manifest(_manifest(calls=[_call("backend-python", 100.0, **fields)]), None)
    timeline = page.split('class="timeline"', 1)[1].split("</svg>", 1)[0]
    assert mark in timeline


def test_calls_are_placed_on_the_run_clock() -> None:
    rows = call_rows(_manifest(calls=[_call("a", 100.0), _call("b", 101.5), _call("a", 104.0)]))
    assert [(r.agent, r.start_s) for r in rows] == [("a", 0.0), ("b", 1.5), ("a", 4.0)]


def test_records_from_before_the_timeline_still_load_and_are_placed_one_after_another() -> None:
    old = {"model": "m", "prompt_tokens": 1, "completion_tokens": 1, "latency_s": 2.0}
    assert CallUsage.model_validate(old).started_at is None
    manifest = _manifest(calls=[{"agent": "a", "phase": "build", "call": old}] * 2)
    assert [r.start_s for r in call_rows(manifest)] == [0.0, 2.0]
    assert "placed one after another" in render_manifest(manifest, None)


def test_spending_bars_are_drawn_against_the_budget() -> None:
    page = render_manifest(_manifest(budget={"max_tokens": 400, "max_usd": None}), None)
    assert "(of 400)" in page
    assert 'style="width: 25.0%"' in page


def test_a_run_with_a_budget_records_it_in_the_manifest(project: Path) -> None:
    result = Orchestrator(provider="offline", max_tokens=10_000_000).run(TASK, project, phases="design")
    manifest = json.loads((Path(result.run_dir) / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["budget"] == {"max_tokens": 10_000_000, "max_usd": None}


def test_every_call_is_in_the_manifest_with_its_start_time(project: Path) -> None:
    result = _offline(project, phases="design")
    assert len(result.calls) == result.usage.calls
    assert all(r.call.started_at is not None and not r.call.repair for r in result.calls)


def test_the_repair_call_is_recorded_as_one(project: Path) -> None:
    provider = ScriptedProvider(force_once={"authentication_strategy": "TBD"})
    result = Orchestrator(provider=provider).run(TASK, project, phases="design")
    assert [r.agent for r in result.calls if r.call.repair] == ["backend-python"]


def test_runs_show_html_writes_the_report(project: Path, run_cli: Any, tmp_path: Path) -> None:
    result = _offline(project, phases="design")
    target = tmp_path / "page.html"
    code, out, _ = run_cli(
        "runs", "show", result.run_id, "--project-dir", str(project), "--html", str(target)
    )
    assert code == 0 and out.strip() == f"report: {target}"
    assert target.read_text(encoding="utf-8") == render_html(Orchestrator().show(result.run_id, project))


def test_runs_show_html_into_a_folder_is_one_line_and_exit_2(project: Path, run_cli: Any) -> None:
    result = _offline(project, phases="design")
    code, _, err = run_cli(
        "runs", "show", result.run_id, "--project-dir", str(project), "--html", str(project)
    )
    assert (
        code == 2
        and err.strip() == f"phasegraph: error: --html {project}: cannot write there (Is a directory)"
    )


def test_orchestrator_report_html_is_the_page_of_the_run(project: Path) -> None:
    orch = Orchestrator(provider="offline")
    result = orch.run(TASK, project, phases="design")
    page = orch.report_html(result.run_id, project)
    assert page.startswith("<!DOCTYPE html>") and result.run_id in page


def test_notebook_pictures_show_graph_and_timeline(project: Path) -> None:
    orch = Orchestrator(provider="offline")
    run = orch.start(TASK, project, phases="design")
    run.next()
    for picture in (run._repr_html_(), run.result._repr_html_() if run.result else ""):
        assert "<svg" in picture and 'class="timeline"' in picture and "<!DOCTYPE" not in picture
    assert "```mermaid" in (run.result._repr_markdown_() if run.result else "")


def test_a_long_task_is_cut_so_the_page_stays_small() -> None:
    task = "Build the service\n" + "spec line with details\n" * 20_000
    page = render_manifest(_manifest(task=task), None)
    assert "<summary>Build the service …</summary>" in page
    assert "manifest.json has the whole task" in page
    assert len(page) < 60_000


def test_a_run_that_has_not_started_still_draws() -> None:
    picture = RunResult(run_id="r0", status="running", task="t", pipeline="default")._repr_html_()
    assert "<svg" in picture and "No model call was recorded." in picture


def test_runs_show_html_draws_against_the_budget_the_run_had(
    project: Path, run_cli: Any, tmp_path: Path
) -> None:
    result = Orchestrator(provider="offline", max_tokens=10_000_000).run(TASK, project, phases="design")
    target = tmp_path / "page.html"
    run_cli("runs", "show", result.run_id, "--project-dir", str(project), "--html", str(target))
    assert "(of 10,000,000)" in target.read_text(encoding="utf-8")


def test_a_manifest_from_before_the_timeline_loads_and_renders() -> None:
    old = {k: v for k, v in _manifest().items() if k not in ("calls", "budget")}
    result = RunResult.model_validate(old)
    assert result.calls == [] and result.budget is None
    assert "No model call was recorded." in render_html(result)
