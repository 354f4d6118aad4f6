"""One run service under the CLI and the Python API: the same checks, messages and exit codes.

`orchestrator.run.Runner` checks every option; `phasegraph` and `Orchestrator` are shells
over it, so a mistake gets the same one line from both. Exit codes come from one table
(`orchestrator.errors.exit_code`) for raised errors and finished runs alike, and a run's
recorded `error_type` maps back to its class there too.
"""

from __future__ import annotations

import ast
import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import orchestrator.errors as errors
from orchestrator import Orchestrator
from orchestrator.errors import (
    AWAITING_APPROVAL,
    ERROR_TYPES,
    BudgetExceeded,
    CardError,
    ConfigError,
    ExitCode,
    GateFailed,
    PhasegraphError,
    RateLimited,
    ReplayMiss,
    RunLocked,
    StepLimitReached,
    error_class,
    exit_code,
)
from orchestrator.result import RunResult
from orchestrator.state import RunState
from tests.conftest import invoke_cli

TASK = "Add JWT authentication to the FastAPI notes service"
ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.usefixtures("clean_env")

ApiCall = Callable[[Orchestrator, Path], object]

# The same mistake through both shells: (id, CLI arguments after the command, the API call).
MISTAKES: list[tuple[str, list[str], ApiCall]] = [
    (
        "run_from_two_sources",
        ["run", TASK, "--from", "r1", "--from-artifacts", "{project}"],
        lambda o, p: o.run(TASK, p, from_run="r1", from_artifacts=p),
    ),
    (
        "verify_from_two_sources",
        ["verify", "--from", "r1", "--from-artifacts", "{project}"],
        lambda o, p: o.verify(p, from_run="r1", from_artifacts=p),
    ),
    ("unknown_phase", ["run", TASK, "--phases", "nope"], lambda o, p: o.run(TASK, p, phases="nope")),
    ("unknown_until", ["run", TASK, "--until", "nope"], lambda o, p: o.run(TASK, p, until="nope")),
    (
        "until_outside_the_run",
        ["run", TASK, "--phases", "design", "--until", "build"],
        lambda o, p: o.run(TASK, p, phases="design", until="build"),
    ),
    ("bad_run_id", ["run", TASK, "--run-id", "../x"], lambda o, p: o.run(TASK, p, run_id="../x")),
    ("empty_task", ["run", " "], lambda o, p: o.run(" ", p)),
    ("unknown_pipeline", ["plan", TASK, "--pipeline", "nope"], lambda o, p: o.plan(TASK, p, pipeline="nope")),
    ("unknown_route_phase", ["route", TASK, "--phase", "nope"], lambda o, p: o.route(TASK, p, phase="nope")),
    ("unknown_run", ["resume", "ghost"], lambda o, p: o.resume("ghost", p)),
    ("show_unknown_run", ["runs", "show", "ghost"], lambda o, p: o.show("ghost", p)),
    (
        "catalog_of_a_missing_project_dir",
        ["agents", "list", "--project-dir", "{project}/missing"],
        lambda o, p: o.catalog(p / "missing"),
    ),
    (
        "missing_project_dir",
        ["runs", "show", "r1", "--project-dir", "{project}/missing"],
        lambda o, p: o.show("r1", p / "missing"),
    ),
]


@pytest.mark.parametrize(("args", "api_call"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_a_mistake_gets_the_same_line_and_exit_code_from_the_cli_and_the_api(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    api_call: ApiCall,
) -> None:
    argv = [a.replace("{project}", str(project)) for a in args]
    if "--project-dir" not in argv:
        argv += ["--project-dir", str(project)]
    code, _, err = invoke_cli(capsys, monkeypatch, *argv)
    with pytest.raises(PhasegraphError) as raised:
        api_call(Orchestrator(provider="offline"), project)
    assert err == f"phasegraph: error: {raised.value}\n"
    assert code == exit_code(raised.value) == ExitCode.USAGE_ERROR


# The one intended change: the API refused nothing when given both sources, and used the folder.

BOTH_SOURCES: list[tuple[str, Callable[[Orchestrator, Path, RunResult], object]]] = [
    ("run", lambda o, p, r: o.run(TASK, p, phases="build", from_run=r.run_id, from_artifacts=r.run_dir)),
    (
        "arun",
        lambda o, p, r: asyncio.run(
            o.arun(TASK, p, phases="build", from_run=r.run_id, from_artifacts=r.run_dir)
        ),
    ),
    ("start", lambda o, p, r: o.start(TASK, p, phases="build", from_run=r.run_id, from_artifacts=r.run_dir)),
    (
        "events",
        lambda o, p, r: list(o.events(TASK, p, phases="build", from_run=r.run_id, from_artifacts=r.run_dir)),
    ),
    ("verify", lambda o, p, r: o.verify(p, from_run=r.run_id, from_artifacts=r.run_dir)),
]


@pytest.mark.parametrize("call", [b[1] for b in BOTH_SOURCES], ids=[b[0] for b in BOTH_SOURCES])
def test_the_api_refuses_earlier_deliverables_from_a_run_and_a_folder_at_once(
    project: Path, call: Callable[[Orchestrator, Path, RunResult], object]
) -> None:
    orch = Orchestrator(provider="offline")
    first = orch.run(TASK, project, phases="design")
    with pytest.raises(ConfigError, match=r"either --from RUN_ID or --from-artifacts DIR, not both"):
        call(orch, project, first)
    assert [row["run_id"] for row in orch.runs(project)] == [first.run_id]


def test_reading_the_runs_of_a_folder_that_is_not_there_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    orch = Orchestrator()
    for read in (lambda: orch.runs(missing), lambda: orch.show("r1", missing)):
        with pytest.raises(ConfigError, match="not a directory"):
            read()
    assert not missing.exists()


# Exit codes: one table for errors and results.


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (GateFailed("x"), 1),
        (ConfigError("x"), 2),
        (RunLocked("x"), 2),
        (CardError("x", "card.md", 3), 2),
        (PhasegraphError("x"), 2),
        (RateLimited("x"), 3),
        (ReplayMiss("x"), 3),
        (BudgetExceeded("x"), 4),
        (StepLimitReached("x"), 4),
    ],
)
def test_an_error_exits_with_the_code_of_its_family(error: PhasegraphError, code: int) -> None:
    assert exit_code(error) == code == error.exit_code


@pytest.mark.parametrize(
    ("status", "error_type", "code"),
    [
        ("completed", None, 0),
        ("paused", None, 0),
        ("paused", AWAITING_APPROVAL, 5),
        ("failed", "GateFailed", 1),
        ("failed", None, 1),
        ("failed", "RateLimited", 3),
        ("failed", "ProviderTimeout", 3),
        ("failed", "WriteFailed", 2),
        ("failed", "AnErrorOfANewerVersion", 2),
        ("budget_exceeded", "BudgetExceeded", 4),
        ("budget_exceeded", "StepLimitReached", 4),
    ],
)
def test_a_run_exits_with_the_code_of_how_it_stopped(status: Any, error_type: str | None, code: int) -> None:
    result = RunResult(run_id="r", status=status, task=TASK, pipeline="default", error_type=error_type)
    assert exit_code(result) == code


def test_the_readme_documents_every_exit_code() -> None:
    section = (ROOT / "README.md").read_text().split("### Exit codes", 1)[1].split("\n\n", 2)[1]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", section, flags=re.M)}
    assert documented == {int(code) for code in ExitCode}


# A run's recorded outcome maps back to a class next to the error tree, not by attribute lookup.


def test_every_error_class_is_known_by_the_name_a_run_records() -> None:
    tree = {c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, PhasegraphError)}
    assert set(ERROR_TYPES.values()) == tree
    for name, cls in ERROR_TYPES.items():
        assert cls.__name__ == name and error_class(name) is cls


@pytest.mark.parametrize("name", [AWAITING_APPROVAL, None, "", "Path", "EXIT_CODES", "exit_code"])
def test_an_outcome_or_a_name_that_is_no_error_class_rebuilds_nothing(name: str | None) -> None:
    assert error_class(name) is None


# The stepping handle and the stored run.


def test_the_stepping_handle_uses_only_the_orchestrators_public_api() -> None:
    import orchestrator.stepping

    tree = ast.parse(Path(orchestrator.stepping.__file__).read_text())
    private = sorted(
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "_orch"
        and node.attr.startswith("_")
    )
    assert private == []


def test_a_run_keeps_its_configuration_as_the_same_plain_json(project: Path) -> None:
    from orchestrator._session import StoredConfig, checkpoint_values
    from orchestrator.checkpoint import open_persistence

    first = Orchestrator(provider="offline").run(TASK, project, phases="design,build")

    async def stored() -> RunState:
        async with open_persistence(None, project) as pers:
            return await checkpoint_values(pers, first.run_id)

    values = asyncio.run(stored())
    root = project.resolve()
    assert values["config"] == {
        "pipeline": "default",
        "project_dir": str(root),
        "out_dir": str(root / ".phasegraph" / "runs"),
        "agents_dirs": [],
        "no_builtin_agents": False,
        "approval_gates": False,
        "provider": "offline",
        "model": "offline",
        "cassette": None,
        "phases": ["design", "build"],
        "checks": {
            "commands": None,
            "timeout_s": 600.0,
            "network": False,
            "python": None,
            "code": None,
            "fix_rounds": 2,
        },
        "workspace": {
            "path": str(root / ".phasegraph" / "workspaces" / first.run_id),
            "root": str(root / ".phasegraph" / "workspaces" / first.run_id),
            "branch": f"phasegraph/{first.run_id}",
            "base": (values["config"].get("workspace") or {"base": ""})["base"],
            "kind": "copy",
            "in_place": False,
        },
    }
    assert list(values["config"]) == list(StoredConfig.model_fields)
    assert StoredConfig.from_state(values, first.run_id).to_state() == values["config"]


def test_an_older_stored_configuration_still_reads() -> None:
    from orchestrator._session import StoredConfig
    from orchestrator.phases import load_pipeline

    older = {"pipeline": "default", "project_dir": "/p", "out_dir": "/p/runs", "agents_dirs": []}
    config = StoredConfig.from_state({"config": {**older, "provider": "offline", "model": "offline"}}, "r")
    assert (config.approval_gates, config.cassette) == (False, None)
    assert config.phase_keys(load_pipeline()) == ["design", "build", "verify"]
    with pytest.raises(ConfigError, match=r"run r: its stored configuration cannot be read \(provider"):
        StoredConfig.from_state({"config": older}, "r")


@pytest.mark.parametrize("command", ["resume", "approve"])
def test_continuing_a_run_opens_its_checkpoint_once(
    project: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    import orchestrator.checkpoint

    orch = Orchestrator(provider="offline")
    stop: dict[str, Any] = {"approval_gates": True} if command == "approve" else {"until": "design"}
    first = orch.run(TASK, project, phases="design,build", **stop)
    opened: list[str] = []
    real = orchestrator.checkpoint.open_persistence

    def counted(url: str | None, project_dir: Path) -> Any:
        opened.append(str(project_dir))
        return real(url, project_dir)

    monkeypatch.setattr(orchestrator.checkpoint, "open_persistence", counted)
    result = (
        orch.resume(first.run_id, project) if command == "resume" else orch.approve(first.run_id, project)
    )
    assert result.phases[0].status == "completed"
    assert opened == [str(project.resolve())]
