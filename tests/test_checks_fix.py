"""The fix loop: Build's failing code goes back to Build with the check results, and is fixed."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestrator.artifacts import read_deliverable
from orchestrator.checks.final import MARKER
from orchestrator.providers.base import ModelRequest
from orchestrator.providers.offline import OfflineProvider
from orchestrator.result import RunResult
from orchestrator.run import Runner, RunOptions
from orchestrator.settings import load_settings
from tests._writing import deliverables_of, make_git_project

pytestmark = pytest.mark.slow

TASK = "Add an add() function to the calc module of the FastAPI service"
FILES = {
    "pyproject.toml": '[project]\nname = "calc"\nversion = "0"\n',
    "calc.py": "def add(a, b):\n    raise NotImplementedError\n",
    "tests/test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
}
BUGGY = "def add(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n"
FIX_ASKED = "The project's own checks fail"


def _provider(asked: list[str], first: str = BUGGY) -> OfflineProvider:
    """Writing turns write calc.py: `first` (with a bug), except when asked to fix failing checks."""

    def answer(request: ModelRequest[Any]) -> dict[str, Any] | None:
        if "changes" not in request.output_model.model_fields:
            return None
        fixing = any(FIX_ASKED in m.content for m in request.messages)
        asked.append(f"{request.phase}/{request.agent}/{'fix' if fixing else 'turn'}")
        change = {"path": "calc.py", "action": "write", "content": FIXED if fixing else first}
        return {"changes": [{"edits": [], **change, "deliverable": deliverables_of(request.output_model)[0]}]}

    return OfflineProvider(custom_output=answer)


def _run(project: Path, provider: OfflineProvider, **options: Any) -> RunResult:
    runner = Runner(load_settings(provider="offline"), provider=provider)
    opts = RunOptions(task=TASK, project_dir=project, checks=[f"{sys.executable} -m pytest"], **options)
    return asyncio.run(runner.start(opts))


def test_one_fix_round_repairs_builds_bug_and_the_run_completes(tmp_path: Path) -> None:
    project = make_git_project(tmp_path / "calc", FILES)
    asked: list[str] = []
    result = _run(project, _provider(asked))
    assert result.status == "completed", result.message
    verify = result.phase("verify")
    (fix,) = verify.fix_rounds
    assert fix.round == 1 and fix.phase == "build" and fix.changes == 1 and fix.commit
    assert fix.fixing == ["pytest: failed (1 failed)"]
    assert [c.status for c in fix.checks] == ["passed"] and verify.checks[0].status == "passed"
    assert asked.count(f"build/{fix.agent}/fix") == 1
    manifest = json.loads((Path(result.run_dir) / "manifest.json").read_text())
    shown = manifest["phases"][-1]["fix_rounds"][0]
    assert shown["fixing"] == ["pytest: failed (1 failed)"] and shown["checks"][0]["status"] == "passed"
    assert (project / "calc.py").read_text() == FILES["calc.py"]  # the user's tree: untouched


def test_without_fix_rounds_the_failing_check_fails_the_run(tmp_path: Path) -> None:
    project = make_git_project(tmp_path / "calc", FILES)
    asked: list[str] = []
    result = _run(project, _provider(asked), fix_rounds=0)
    assert result.status == "failed" and "checks failed: pytest failed" in result.message
    assert result.phase("verify").fix_rounds == [] and not any(a.endswith("/fix") for a in asked)


def test_the_fix_loop_stops_after_its_rounds(tmp_path: Path) -> None:
    project = make_git_project(tmp_path / "calc", FILES)

    def nothing(request: ModelRequest[Any]) -> dict[str, Any] | None:
        """Writing turns change no file: the stub stays, the check keeps failing."""
        return {"changes": []} if "changes" in request.output_model.model_fields else None

    stubborn = OfflineProvider(custom_output=nothing)
    result = _run(project, stubborn, fix_rounds=2)
    rounds = result.phase("verify").fix_rounds
    assert result.status == "failed" and [r.round for r in rounds] == [1, 2]
    assert all(r.commit is None and r.checks[0].status == "failed" for r in rounds)


def test_a_resumed_run_repeats_no_completed_fix_round(tmp_path: Path) -> None:
    from orchestrator.errors import ProviderUnavailable

    project = make_git_project(tmp_path / "calc", FILES)
    fixes: list[str] = []
    down = [True]

    def answer(request: ModelRequest[Any]) -> dict[str, Any] | None:
        if "changes" not in request.output_model.model_fields:
            return None
        content = BUGGY
        if any(FIX_ASKED in m.content for m in request.messages):
            if len(fixes) == 1 and down[0]:  # the second round's call: the provider is down once
                down[0] = False
                raise ProviderUnavailable("the provider is down")
            fixes.append(request.agent)
            content = "def add(a, b):\n    return a * b\n" if len(fixes) == 1 else FIXED
        change = {"path": "calc.py", "action": "write", "content": content}
        return {"changes": [{"edits": [], **change, "deliverable": deliverables_of(request.output_model)[0]}]}

    runner = Runner(
        load_settings(provider="offline", max_attempts=1), provider=OfflineProvider(custom_output=answer)
    )
    opts = RunOptions(task=TASK, project_dir=project, checks=[f"{sys.executable} -m pytest"], run_id="fixing")
    stopped = asyncio.run(runner.start(opts))
    assert stopped.error_type == "ProviderUnavailable" and len(stopped.phase("verify").fix_rounds) == 1
    resumed = asyncio.run(runner.resume("fixing", project))
    assert resumed.status == "completed", resumed.message
    assert [r.round for r in resumed.phase("verify").fix_rounds] == [1, 2] and len(fixes) == 2


def test_verify_from_a_run_checks_that_runs_code(tmp_path: Path) -> None:
    project = make_git_project(tmp_path / "calc", FILES)
    built = _run(project, _provider([]), phases="design,build")
    assert built.status == "completed"
    runner = Runner(load_settings(provider="offline"))
    opts = RunOptions(
        task=TASK, project_dir=project, from_run=built.run_id, checks=[f"{sys.executable} -m pytest"]
    )
    verified = asyncio.run(runner.verify(opts))
    (check,) = verified.phase("verify").checks
    # Build's buggy add() fails the check; the user's own stub would have raised instead.
    assert check.status == "failed" and "assert -1 == 5" in check.tests[0].message


def _verify_texts(result: RunResult) -> dict[str, tuple[str, int]]:
    """Each Verify deliverable file's text (without its header) and its manifest `chars`."""
    run_dir = Path(result.run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    (verify,) = [p for p in manifest["phases"] if p["key"] == "verify"]
    return {
        d["path"]: (read_deliverable(run_dir / d["path"]), d["chars"])
        for agent in verify["agents"]
        for d in agent["deliverables"]
    }


def test_after_a_fix_round_every_verify_deliverable_states_the_final_passing_results(tmp_path: Path) -> None:
    project = make_git_project(tmp_path / "calc", FILES)
    result = _run(project, _provider([]))
    assert result.status == "completed", result.message
    texts = _verify_texts(result)
    assert texts
    for path, (text, chars) in texts.items():
        first, final = text.split(MARKER)
        assert "## Final check results (after fix round 1)" in final, path
        assert "every check passes after fix round 1" in final and "**passed** (1 passed, exit 0)" in final
        assert "fix round 1:" in final and "1 file(s) changed; then pytest passed (1 passed)" in final
        assert first.startswith("Offline output for") and MARKER not in first  # the agent's text: kept
        assert chars == len(text), path  # the manifest counts the text with its section
    report = (Path(result.run_dir) / "report.html").read_text()
    assert "Final check results (after fix round 1)" in report and "phasegraph: final" not in report


def test_final_results_of_exhausted_rounds_name_the_failing_test(tmp_path: Path) -> None:
    project = make_git_project(tmp_path / "calc", FILES)

    def nothing(request: ModelRequest[Any]) -> dict[str, Any] | None:
        return {"changes": []} if "changes" in request.output_model.model_fields else None

    result = _run(project, OfflineProvider(custom_output=nothing), fix_rounds=1)
    assert result.status == "failed"
    for text, _ in _verify_texts(result).values():
        final = text.split(MARKER)[1]
        assert "1 of 1 check(s) still fail after 1 fix round(s)" in final
        assert "failed `tests.test_calc::test_add`" in final and "NotImplementedError" in final


def test_checks_passing_at_once_add_no_final_section(tmp_path: Path) -> None:
    project = make_git_project(tmp_path / "calc", FILES)
    result = _run(project, _provider([], first=FIXED))
    assert result.status == "completed" and result.phase("verify").fix_rounds == []
    texts = _verify_texts(result)
    assert texts and not any(MARKER in text for text, _ in texts.values())


def test_the_final_section_appears_once_after_a_crash_at_the_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.checks.final import final_outputs as real
    from orchestrator.errors import WriteFailed

    crashed: list[bool] = []

    def crash_once(*args: Any) -> Any:
        """The files are written, then the run dies before the gate's step is checkpointed."""
        outputs = real(*args)
        if outputs and not crashed:
            crashed.append(True)
            raise WriteFailed("the disk filled up after the deliverables were written")
        return outputs

    monkeypatch.setattr("orchestrator._phase.final_outputs", crash_once)
    project = make_git_project(tmp_path / "calc", FILES)
    runner = Runner(load_settings(provider="offline"), provider=_provider([]))
    opts = RunOptions(task=TASK, project_dir=project, checks=[f"{sys.executable} -m pytest"], run_id="gate")
    stopped = asyncio.run(runner.start(opts))
    assert stopped.error_type == "WriteFailed" and crashed
    resumed = asyncio.run(runner.resume("gate", project))
    assert resumed.status == "completed", resumed.message
    texts = _verify_texts(resumed)
    assert texts
    for text, chars in texts.values():
        assert text.count(MARKER) == 1 and text.count("## Final check results") == 1
        assert chars == len(text)


def test_a_rejected_verify_starts_its_fix_rounds_again(tmp_path: Path) -> None:
    project = make_git_project(tmp_path / "calc", FILES)
    runner = Runner(load_settings(provider="offline"), provider=_provider([]))
    opts = RunOptions(
        task=TASK,
        project_dir=project,
        checks=[f"{sys.executable} -m pytest"],
        run_id="gated",
        approval_gates=True,
    )
    paused = asyncio.run(runner.start(opts))
    for _ in ("design", "build"):
        paused = asyncio.run(runner.approve("gated", project))
    assert paused.status == "paused" and [r.round for r in paused.phase("verify").fix_rounds] == [1]
    again = asyncio.run(runner.reject("gated", project, reason="Check it again."))
    # The rejected attempt's fix commit is rewound: the bug is back, and one new round repairs it.
    assert again.status == "paused" and [r.round for r in again.phase("verify").fix_rounds] == [1]
    for text, chars in _verify_texts(again).values():
        assert text.count(MARKER) == 1 and chars == len(text)


def test_a_fix_cannot_declare_the_failing_checks_away(tmp_path: Path) -> None:
    """Fix rounds rerun the checks the phase planned: a fixing agent that also writes
    `[tool.phasegraph] checks = []` into the project's configuration still faces them."""
    declared = f'[tool.phasegraph]\nchecks = ["{sys.executable} -m pytest"]\n'
    project = make_git_project(
        tmp_path / "calc", {**FILES, "pyproject.toml": FILES["pyproject.toml"] + declared}
    )

    def answer(request: ModelRequest[Any]) -> dict[str, Any] | None:
        if "changes" not in request.output_model.model_fields:
            return None
        fixing = any(FIX_ASKED in m.content for m in request.messages)
        item = deliverables_of(request.output_model)[0]
        changes = [{"path": "calc.py", "action": "write", "content": BUGGY, "edits": [], "deliverable": item}]
        if fixing:
            silenced = FILES["pyproject.toml"] + "[tool.phasegraph]\nchecks = []\n"
            changes.append(
                {
                    "path": "pyproject.toml",
                    "action": "write",
                    "content": silenced,
                    "edits": [],
                    "deliverable": item,
                }
            )
        return {"changes": changes}

    runner = Runner(load_settings(provider="offline"), provider=OfflineProvider(custom_output=answer))
    result = asyncio.run(runner.start(RunOptions(task=TASK, project_dir=project, fix_rounds=1)))
    assert result.status == "failed" and "checks failed: pytest failed" in result.message
    (fix,) = result.phase("verify").fix_rounds
    assert [c.status for c in fix.checks] == ["failed"]
