"""The workspace: a run writes code on its own branch, never in the user's tree, until `apply`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import ConfigError, WorkspaceError
from orchestrator.providers.base import Provider
from orchestrator.result import RunResult
from orchestrator.run import Runner, RunOptions
from orchestrator.settings import load_settings
from orchestrator.workspace import create_workspace
from tests._writing import (
    TASK,
    code_for,
    git,
    make_git_project,
    make_plain_project,
    tree_digest,
    writing_provider,
)


def _run(project: Path, provider: Provider, **options: Any) -> RunResult:
    import asyncio

    runner = Runner(load_settings(provider="offline"), provider=provider)
    return asyncio.run(runner.start(RunOptions(task=TASK, project_dir=project, **options)))


def _build_agents(result: RunResult) -> list[str]:
    return [a.id for a in result.phase("build").agents]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_git_project(tmp_path / "notes")


def test_build_writes_one_commit_per_agent_turn_on_the_run_branch(repo: Path) -> None:
    result = _run(repo, writing_provider(), phases="design,build")
    assert result.status == "completed", result.message
    ws = result.workspace
    assert ws is not None and ws.branch == f"phasegraph/{result.run_id}"
    log = git(repo, "log", "--format=%an|%s", f"{ws.base}..{ws.branch}").splitlines()
    agents = _build_agents(result)
    assert sorted(line.split("|")[0] for line in log) == sorted(agents)
    assert all(line.split("|")[1].startswith("build: ") for line in log)
    for agent in agents:
        assert git(repo, "show", f"{ws.branch}:src/{agent}.py") == code_for(agent)
    assert ws.head == git(repo, "rev-parse", ws.branch).strip()


def test_the_users_tree_is_untouched_until_apply(repo: Path, run_cli: Any) -> None:
    before = tree_digest(repo)
    result = _run(repo, writing_provider(), phases="design,build")
    assert tree_digest(repo) == before
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    code, _, err = run_cli("apply", result.run_id, "--project-dir", str(repo))
    assert code == 0, err
    for agent in _build_agents(result):
        assert (repo / "src" / f"{agent}.py").read_text() == code_for(agent)
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "log", "-1", "--format=%an").strip() in _build_agents(result)


def test_apply_twice_has_nothing_to_apply(repo: Path, run_cli: Any) -> None:
    result = _run(repo, writing_provider(), phases="design,build")
    assert run_cli("apply", result.run_id, "--project-dir", str(repo))[0] == 0
    code, _, err = run_cli("apply", result.run_id, "--project-dir", str(repo))
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "nothing to apply" in err


def test_apply_refuses_local_changes_to_the_same_files_and_changes_nothing(repo: Path, run_cli: Any) -> None:
    agent_file = "app/main.py"
    extra = {"backend-python": [{"path": agent_file, "action": "write", "content": "print('new')\n"}]}
    result = _run(repo, writing_provider(extra), phases="design,build")
    assert any(c.path == agent_file for a in result.phase("build").agents for c in a.changes)
    (repo / agent_file).write_text("# my own edit\n")
    before = tree_digest(repo)
    code, _, err = run_cli("apply", result.run_id, "--project-dir", str(repo))
    assert code == 2
    line = err.strip()
    assert "\n" not in line and agent_file in line and "stash" in line
    assert tree_digest(repo) == before


def test_diff_prints_the_runs_unified_diff(repo: Path, run_cli: Any) -> None:
    result = _run(repo, writing_provider(), phases="design,build")
    code, out, _ = run_cli("diff", result.run_id, "--project-dir", str(repo))
    assert code == 0
    for agent in _build_agents(result):
        assert f"+++ b/src/{agent}.py" in out


def test_diff_and_apply_of_a_run_that_wrote_nothing_exit_1(repo: Path, run_cli: Any) -> None:
    result = _run(repo, writing_provider(), phases="verify")
    assert result.workspace is None
    for command in ("diff", "apply"):
        code, _, err = run_cli(command, result.run_id, "--project-dir", str(repo))
        assert code == 1 and len(err.strip().splitlines()) == 1


def test_apply_of_an_unknown_run_is_a_usage_error(repo: Path, run_cli: Any) -> None:
    code, _, err = run_cli("apply", "no-such-run", "--project-dir", str(repo))
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_a_run_without_a_writing_phase_makes_no_workspace(repo: Path) -> None:
    result = _run(repo, writing_provider(), phases="design")
    assert result.workspace is None
    assert not (repo / ".phasegraph" / "workspaces").exists()
    assert "refs/heads/phasegraph/" not in git(repo, "show-ref")


def test_later_phases_read_the_workspace(repo: Path) -> None:
    provider = writing_provider()
    seen: list[str] = []
    inner = provider.custom_output

    def spy(request: Any) -> Any:
        if request.phase == "verify":
            seen.append("\n".join(m.content for m in request.messages))
        return inner(request) if callable(inner) else None

    provider.custom_output = spy
    result = _run(repo, provider)
    assert result.status == "completed", result.message
    assert not (repo / "src").exists()
    assert any('<data kind="project-file" name="src/backend-python.py">' in prompt for prompt in seen)


def test_a_dirty_tree_is_refused_naming_the_files(repo: Path) -> None:
    (repo / "app" / "main.py").write_text("changed\n")
    (repo / "notes.txt").write_text("new\n")
    with pytest.raises(WorkspaceError) as refused:
        _run(repo, writing_provider(), phases="design,build")
    message = str(refused.value)
    assert "app/main.py" in message and "notes.txt" in message and "--include-uncommitted" in message
    assert not (repo / ".phasegraph" / "workspaces").exists() or not any(
        (repo / ".phasegraph" / "workspaces").iterdir()
    )


def test_a_dirty_tree_exits_2_on_the_command_line(repo: Path, run_cli: Any) -> None:
    (repo / "README.md").write_text("dirty\n")
    code, _, err = run_cli("run", TASK, "--project-dir", str(repo), "--provider", "offline", "-q")
    assert code == 2
    assert "README.md" in err and len(err.strip().splitlines()) == 1


def test_include_uncommitted_carries_the_changes_over_as_the_base(repo: Path) -> None:
    (repo / "README.md").write_text("# notes, edited\n")
    (repo / "todo.txt").write_text("write auth\n")
    before = tree_digest(repo)
    result = _run(repo, writing_provider(), phases="design,build", include_uncommitted=True)
    ws = result.workspace
    assert ws is not None
    assert git(repo, "show", f"{ws.base}:README.md") == "# notes, edited\n"
    assert git(repo, "show", f"{ws.base}:todo.txt") == "write auth\n"
    assert git(repo, "log", "-1", "--format=%s", ws.base).strip().endswith("carried over")
    assert tree_digest(repo) == before


def test_phasegraph_folder_never_shows_in_git_status(repo: Path) -> None:
    _run(repo, writing_provider(), phases="design,build")
    assert (repo / ".phasegraph" / ".gitignore").read_text().strip().endswith("*")
    assert git(repo, "status", "--porcelain", "--ignored=no", "--untracked-files=all") == ""


def test_in_place_writes_on_a_new_branch_of_the_project(repo: Path) -> None:
    result = _run(repo, writing_provider(), phases="design,build", in_place=True)
    ws = result.workspace
    assert ws is not None and ws.in_place and Path(ws.path) == repo.resolve()
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == ws.branch
    assert (repo / "src" / "backend-python.py").read_text() == code_for("backend-python")
    assert git(repo, "rev-parse", "main").strip() == ws.base


def test_a_project_that_is_not_a_git_repository_is_copied_and_patched_home(
    tmp_path: Path, run_cli: Any
) -> None:
    project = make_plain_project(tmp_path / "plain")
    (project / ".gitignore").write_text("secrets.txt\n")
    (project / "secrets.txt").write_text("do not copy\n")
    out = project / "out"
    before = tree_digest(project)
    result = _run(project, writing_provider(), phases="design,build")
    ws = result.workspace
    assert ws is not None and not (project / ".git").exists()
    copied = Path(ws.path)
    assert (copied / "app" / "main.py").is_file() and not (copied / "secrets.txt").exists()
    assert tree_digest(project) == before
    code, _, err = run_cli("apply", result.run_id, "--project-dir", str(project))
    assert code == 0, err
    assert (project / "src" / "backend-python.py").read_text() == code_for("backend-python")
    assert run_cli("apply", result.run_id, "--project-dir", str(project))[0] == 1
    assert not out.exists()


def test_a_copy_leaves_out_the_runs_own_artifacts_folder(tmp_path: Path) -> None:
    project = make_plain_project(tmp_path / "plain")
    (project / "out" / "old").mkdir(parents=True)
    (project / "out" / "old" / "report.md").write_text("an earlier run\n")
    ws = create_workspace(project, "r1", leave_out=(project / "out",))
    assert not (ws.path / "out").exists()
    assert (ws.path / "pyproject.toml").is_file()


def test_offline_runs_write_no_code_and_the_report_says_why(repo: Path) -> None:
    from orchestrator.providers.offline import OfflineProvider

    result = _run(repo, OfflineProvider(), phases="design,build")
    ws = result.workspace
    assert ws is not None and ws.head == ws.base
    assert all(a.changes == [] for a in result.phase("build").agents)
    report = (Path(result.run_dir) / "report.md").read_text()
    assert "No code was written because the provider is offline" in report


def test_manifest_records_the_workspace_and_each_change(repo: Path) -> None:
    extra = {"backend-python": [{"path": "../escape.py", "action": "write", "content": "x = 1\n"}]}
    result = _run(repo, writing_provider(extra), phases="design,build")
    manifest = json.loads((Path(result.run_dir) / "manifest.json").read_text())
    assert set(manifest["workspace"]) >= {"path", "branch", "base", "head", "in_place"}
    build = next(p for p in manifest["phases"] if p["key"] == "build")
    primary = next(a for a in build["agents"] if a["id"] == "backend-python")
    by_path = {c["path"]: c for c in primary["changes"]}
    assert by_path["src/backend-python.py"]["status"] == "applied"
    assert by_path["../escape.py"]["status"] == "refused" and by_path["../escape.py"]["reason"]
    assert set(by_path["../escape.py"]) >= {"path", "action", "deliverable", "status", "reason"}


def test_the_deliverable_lists_its_files_with_a_diff_stat_and_its_refusals(repo: Path) -> None:
    extra = {"backend-python": [{"path": ".git/config", "action": "write", "content": "[core]\n"}]}
    result = _run(repo, writing_provider(extra), phases="design,build")
    agent = next(a for a in result.phase("build").agents if a.id == "backend-python")
    first = agent.deliverables[0]
    text = (Path(result.run_dir) / first.path).read_text()
    assert "## Files changed" in text and "`src/backend-python.py` +5 -0" in text
    assert "### Refused changes" in text and "`.git/config`" in text
    report = (Path(result.run_dir) / "report.md").read_text()
    assert f"phasegraph/{result.run_id}" in report and "src/backend-python.py" in report


def test_a_dot_file_written_as_dot_slash_is_in_the_deliverables_diff_stat(repo: Path) -> None:
    extra = {"backend-python": [{"path": "./.github/ci.yml", "action": "write", "content": "on: push\n"}]}
    result = _run(repo, writing_provider(extra), phases="design,build")
    agent = next(a for a in result.phase("build").agents if a.id == "backend-python")
    text = (Path(result.run_dir) / agent.deliverables[0].path).read_text()
    assert "`.github/ci.yml` +1 -0" in text


def test_a_writing_agent_sees_the_files_named_in_the_task(repo: Path) -> None:
    provider = writing_provider()
    prompts: list[str] = []
    inner = provider.custom_output

    def spy(request: Any) -> Any:
        if request.phase == "build":
            prompts.append(request.messages[-1].content)
        return inner(request) if callable(inner) else None

    provider.custom_output = spy
    (repo / "docs").mkdir()
    (repo / "docs" / "auth-notes.txt").write_text("tokens expire after 15 minutes\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "notes")
    import asyncio

    runner = Runner(load_settings(provider="offline"), provider=provider)
    task = "Add JWT authentication as described in docs/auth-notes.txt"
    asyncio.run(runner.start(RunOptions(task=task, project_dir=repo, phases="build")))
    assert prompts and all("tokens expire after 15 minutes" in p for p in prompts)


def test_a_run_against_the_fake_openai_server_leaves_the_users_tree_byte_identical(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from benchmarks.fake_openai import FakeOpenAI, FaultConfig
    from orchestrator.providers import make_provider

    before = tree_digest(repo)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with FakeOpenAI(FaultConfig(array_items=2, seed=3)) as server:
        settings = load_settings(provider="openai", model="fake-model", openai_base_url=server.base_url)
        runner = Runner(settings, provider=make_provider(settings))
        result = asyncio.run(runner.start(RunOptions(task=TASK, project_dir=repo)))
    assert result.status == "completed", result.message
    assert result.workspace is not None
    assert any(a.changes for a in result.phase("build").agents)
    assert tree_digest(repo) == before
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""


def test_the_notebook_step_of_a_writing_phase_shows_its_diff_collapsed(repo: Path) -> None:
    from orchestrator import Orchestrator

    run = Orchestrator(provider=writing_provider()).start(TASK, project_dir=repo, phases="design,build")
    design = run.next()
    build = run.next()
    assert "<details>" not in design._repr_markdown_()
    shown = build._repr_markdown_()
    wrote = sum(1 for a in build.agents if a.commit)
    assert f"<details><summary>Code written: {wrote} file(s)</summary>" in shown
    assert "+++ b/src/backend-python.py" in shown and shown.rstrip().endswith("</details>")


def test_a_stepped_run_can_write_in_place(repo: Path) -> None:
    from orchestrator import Orchestrator

    orch = Orchestrator(provider=writing_provider())
    run = orch.start(TASK, project_dir=repo, phases="design,build", in_place=True)
    run.next()
    run.next()
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == f"phasegraph/{run.run_id}"
    assert (repo / "src" / "backend-python.py").read_text() == code_for("backend-python")


def test_a_rejected_writing_phase_runs_again_from_where_it_started(repo: Path) -> None:
    from orchestrator import Orchestrator

    orch = Orchestrator(provider=writing_provider())
    first = orch.run(TASK, repo, phases="build", approval_gates=True)
    assert first.status == "paused" and first.workspace is not None
    rejected_tip = first.workspace.head
    again = orch.reject(first.run_id, repo, reason="Use opaque session tokens.")
    ws = again.workspace
    assert ws is not None and ws.head != rejected_tip
    authors = git(repo, "log", "--format=%an", f"{ws.base}..{ws.branch}").split()
    assert sorted(authors) == sorted(a.id for a in again.phase("build").agents)
    kept = git(repo, "for-each-ref", "--format=%(objectname)", f"refs/phasegraph/{first.run_id}/")
    assert kept.split() == [rejected_tip]


def test_apply_refuses_commits_that_conflict_with_the_branch_and_changes_nothing(
    repo: Path, run_cli: Any
) -> None:
    extra = {"backend-python": [{"path": "README.md", "action": "write", "content": "# by the run\n"}]}
    result = _run(repo, writing_provider(extra), phases="design,build")
    (repo / "README.md").write_text("# by the user\n")
    git(repo, "commit", "-q", "-am", "my readme")
    head = git(repo, "rev-parse", "HEAD")
    code, _, err = run_cli("apply", result.run_id, "--project-dir", str(repo))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"git merge phasegraph/{result.run_id}" in err
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == ""


def test_apply_leaves_unrelated_local_changes_alone(repo: Path, run_cli: Any) -> None:
    result = _run(repo, writing_provider(), phases="design,build")
    (repo / "README.md").write_text("# notes, my edit in progress\n")
    assert run_cli("apply", result.run_id, "--project-dir", str(repo))[0] == 0
    assert (repo / "README.md").read_text() == "# notes, my edit in progress\n"
    assert (repo / "src" / "backend-python.py").is_file()


def test_apply_to_a_plain_project_refuses_a_file_changed_since(tmp_path: Path, run_cli: Any) -> None:
    project = make_plain_project(tmp_path / "plain")
    extra = {"backend-python": [{"path": "README.md", "action": "write", "content": "# by the run\n"}]}
    result = _run(project, writing_provider(extra), phases="design,build")
    (project / "README.md").write_text("# edited meanwhile\n")
    before = tree_digest(project)
    code, _, err = run_cli("apply", result.run_id, "--project-dir", str(project))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "phasegraph diff" in err
    assert tree_digest(project) == before


def test_each_writing_turn_reports_its_commit_as_an_event(repo: Path) -> None:
    from orchestrator import Event, Orchestrator

    events: list[Event] = []
    result = Orchestrator(provider=writing_provider()).run(TASK, repo, phases="build", on_event=events.append)
    committed = {e.agent: e.data["commit"] for e in events if e.kind == "files_committed"}
    assert committed == {a.id: a.commit for a in result.phase("build").agents}


def test_a_refused_path_cannot_break_the_deliverables_markdown(repo: Path) -> None:
    bad = "src/x`\n# injected heading.py"
    extra = {"backend-python": [{"path": bad, "action": "write", "content": "x = 1\n"}]}
    result = _run(repo, writing_provider(extra), phases="build")
    agent = next(a for a in result.phase("build").agents if a.id == "backend-python")
    text = (Path(result.run_dir) / agent.deliverables[0].path).read_text()
    assert "\n# injected heading" not in text and "src/x'\\n# injected heading.py" in text


def test_a_project_git_does_not_track_is_copied_and_its_repository_left_alone(
    tmp_path: Path, run_cli: Any
) -> None:
    outer = make_git_project(tmp_path / "outer", {".gitignore": "scratch/\n", "README.md": "# outer\n"})
    project = make_plain_project(outer / "scratch" / "notes")
    refs = git(outer, "show-ref")
    result = _run(project, writing_provider(), phases="design,build")
    ws = result.workspace
    assert ws is not None and ws.head != ws.base
    assert git(outer, "show-ref") == refs and git(outer, "worktree", "list").count("\n") == 1
    code, _, err = run_cli("apply", result.run_id, "--project-dir", str(project))
    assert code == 0, err
    assert (project / "src" / "backend-python.py").read_text() == code_for("backend-python")
    assert git(outer, "status", "--porcelain") == ""


def test_a_file_shown_only_in_part_is_not_rewritten_whole(repo: Path) -> None:
    big = "".join(f"LINE_{i} = {i}\n" for i in range(2_000))
    (repo / "app" / "big.py").write_text(big)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a big module")
    provider = writing_provider(
        {"backend-python": [{"path": "app/big.py", "action": "write", "content": "x\n"}]}
    )
    prompts: list[str] = []
    inner = provider.custom_output

    def spy(request: Any) -> Any:
        if request.phase == "build" and request.agent == "backend-python":
            prompts.append(request.messages[-1].content)
        return inner(request) if callable(inner) else None

    provider.custom_output = spy
    import asyncio

    runner = Runner(load_settings(provider="offline"), provider=provider)
    task = "Add JWT authentication; the settings live in app/big.py"
    result = asyncio.run(runner.start(RunOptions(task=task, project_dir=repo, phases="build")))
    assert "only its start is shown" in prompts[0]
    agent = next(a for a in result.phase("build").agents if a.id == "backend-python")
    refused = next(c for c in agent.changes if c.path == "app/big.py")
    assert refused.status == "refused" and "only the start" in refused.reason
    ws = result.workspace
    assert ws is not None and (Path(ws.path) / "app" / "big.py").read_text() == big


def test_in_place_with_uncommitted_changes_commits_them_first_on_the_new_branch(repo: Path) -> None:
    (repo / "README.md").write_text("# notes, edited in the checkout\n")
    result = _run(repo, writing_provider(), phases="design,build", in_place=True, include_uncommitted=True)
    ws = result.workspace
    assert ws is not None and ws.in_place
    assert git(repo, "show", f"{ws.base}:README.md") == "# notes, edited in the checkout\n"
    assert git(repo, "rev-parse", "main").strip() != ws.base
    assert git(repo, "status", "--porcelain") == ""


def test_a_resumed_run_keeps_writing_on_the_same_branch(repo: Path) -> None:
    import asyncio

    runner = Runner(load_settings(provider="offline"), provider=writing_provider())
    first = asyncio.run(runner.start(RunOptions(task=TASK, project_dir=repo, until="design")))
    assert first.workspace is not None and first.workspace.head == first.workspace.base
    done = asyncio.run(runner.resume(first.run_id, repo))
    assert done.status == "completed", done.message
    assert done.workspace is not None and done.workspace.branch == first.workspace.branch
    authors = git(repo, "log", "--format=%an", f"{done.workspace.base}..{done.workspace.branch}").split()
    assert sorted(authors) == sorted(a.id for a in done.phase("build").agents)


def test_a_file_shown_only_in_part_can_still_be_edited(repo: Path) -> None:
    big = "".join(f"LINE_{i} = {i}\n" for i in range(2_000))
    (repo / "app" / "big.py").write_text(big)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a big module")
    edit = {"path": "app/big.py", "action": "edit", "content": "", "edits": [
        {"search": "LINE_1999 = 1999\n", "replace": "LINE_1999 = 1999\nJWT_ALGORITHM = 'HS256'\n"}
    ]}  # fmt: skip
    import asyncio

    runner = Runner(load_settings(provider="offline"), provider=writing_provider({"backend-python": [edit]}))
    task = "Add JWT authentication; the settings live in app/big.py"
    result = asyncio.run(runner.start(RunOptions(task=task, project_dir=repo, phases="build")))
    ws = result.workspace
    assert ws is not None
    assert (Path(ws.path) / "app" / "big.py").read_text() == big + "JWT_ALGORITHM = 'HS256'\n"
    assert (repo / "app" / "big.py").read_text() == big


def test_include_uncommitted_carries_a_rename_over_whole(repo: Path) -> None:
    git(repo, "mv", "README.md", "NOTES.md")
    result = _run(repo, writing_provider(), phases="design,build", include_uncommitted=True)
    ws = result.workspace
    assert ws is not None
    names = git(repo, "ls-tree", "--name-only", ws.base).split()
    assert "NOTES.md" in names and "README.md" not in names


def test_resuming_a_run_whose_workspace_is_gone_is_one_line_and_exit_2(repo: Path, run_cli: Any) -> None:
    import asyncio
    import shutil

    runner = Runner(load_settings(provider="offline"), provider=writing_provider())
    first = asyncio.run(runner.start(RunOptions(task=TASK, project_dir=repo, until="design")))
    assert first.workspace is not None
    shutil.rmtree(first.workspace.path)
    code, _, err = run_cli("resume", first.run_id, "--project-dir", str(repo), "-q")
    assert code == 2 and "is gone" in err and len(err.strip().splitlines()) == 1


def test_a_start_killed_before_its_first_checkpoint_starts_again_under_its_id(repo: Path) -> None:
    """A worker killed after making the workspace and LangGraph's empty first checkpoint: the
    re-delivered start makes the workspace again and runs (its id was never really taken)."""
    import asyncio

    from langchain_core.runnables import RunnableConfig
    from langgraph.checkpoint.base import empty_checkpoint

    from orchestrator.checkpoint import open_persistence

    run_id = "killed-early"
    create_workspace(repo, run_id)

    async def empty_first_checkpoint() -> None:
        async with open_persistence(None, repo) as pers:
            config: RunnableConfig = {"configurable": {"thread_id": run_id, "checkpoint_ns": ""}}
            await pers.saver.aput(config, empty_checkpoint(), {"source": "input", "step": -1}, {})

    asyncio.run(empty_first_checkpoint())
    result = _run(repo, writing_provider(), phases="design,build", run_id=run_id)
    assert result.status == "completed", result.message
    assert result.workspace is not None and result.workspace.head != result.workspace.base
    assert git(repo, "status", "--porcelain") == ""


def test_a_started_run_id_is_still_refused(repo: Path) -> None:
    first = _run(repo, writing_provider(), phases="design,build")
    with pytest.raises(ConfigError, match="already exists"):
        _run(repo, writing_provider(), phases="design,build", run_id=first.run_id)
