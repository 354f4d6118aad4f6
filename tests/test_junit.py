"""`verify --junit`: a JUnit report a real parser (junitparser) reads the way CI does.

Each deliverable of each activated agent is a test case; a deliverable the gate
found missing is a failure carrying the gate's reason; a phase no agent serves is a
failing `phase` case; a run stopped by the provider is an error, not a failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml, TestCase

from orchestrator import Orchestrator
from orchestrator.providers.replay import Cassette, RecordingProvider
from tests.conftest import ScriptedProvider, invoke_cli

TASK = "Add JWT authentication to the FastAPI notes service"


pytestmark = pytest.mark.usefixtures("clean_env")


def verify_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> int:
    return invoke_cli(capsys, monkeypatch, "verify", "-q", *args)[0]


def cases(path: Path) -> list[tuple[str, TestCase]]:
    """(suite name, case) for every case in the report, parsed by junitparser."""
    return [(suite.name, case) for suite in JUnitXml.fromfile(str(path)) for case in suite]


def test_each_deliverable_of_each_agent_is_a_passing_case(project: Path, tmp_path: Path) -> None:
    junit = tmp_path / "verify.xml"
    result = Orchestrator(provider=ScriptedProvider(handoffs=["security-expert"])).verify(
        project, junit=junit
    )
    expected = [
        (f"verify.{agent.id}", d.name)
        for phase in result.phases
        for agent in phase.agents
        for d in agent.deliverables
    ]
    parsed = cases(junit)
    assert [(case.classname, case.name) for _, case in parsed] == expected
    assert {suite for suite, _ in parsed} == {"verify (7)"}
    assert all(case.is_passed for _, case in parsed)
    assert len({classname for classname, _ in expected}) == 2


def test_a_missing_deliverable_is_a_failure_with_the_gate_reason(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cassette = tmp_path / "verify.cassette.jsonl"
    starved = ScriptedProvider(force={"test_execution_report": "TBD"}, handoffs=[])
    Orchestrator(provider=RecordingProvider(starved, Cassette(cassette))).verify(project)
    junit = tmp_path / "verify.xml"
    replay = ["--provider", "replay", "--cassette", str(cassette)]
    code = verify_cli(monkeypatch, capsys, "--project-dir", str(project), *replay, "--junit", str(junit))
    assert code == 1
    suite = next(iter(JUnitXml.fromfile(str(junit))))
    assert (suite.tests, suite.failures, suite.errors) == (4, 1, 0)
    failed = [case for _, case in cases(junit) if not case.is_passed]
    assert [(c.classname, c.name) for c in failed] == [("verify.qa-automation", "Test execution report")]
    (failure,) = failed[0].result
    assert isinstance(failure, Failure) and failure.type == "GateFailed"
    assert failure.message == "missing or empty after one repair: Test execution report"
    assert "gate failed after one repair request" in (failure.text or "")


def test_a_phase_no_agent_serves_is_one_failing_case(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    phases = project / "phases"
    phases.mkdir()
    (phases / "verify.yaml").write_text(
        'key: verify\nlabel: "42"\nname: Verify\npurpose: Nobody lists deliverables for 42.\norder: 90\n'
    )
    junit = tmp_path / "verify.xml"
    assert verify_cli(monkeypatch, capsys, "--project-dir", str(project), "--junit", str(junit)) == 1
    ((suite, case),) = cases(junit)
    assert (suite, case.classname, case.name) == ("verify (42)", "verify", "phase")
    (failure,) = case.result
    assert isinstance(failure, Failure)
    assert "no agent in the catalogue lists deliverables for phase 42" in (failure.message or "")


def test_a_provider_failure_is_an_error_not_a_failure(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    junit = tmp_path / "verify.xml"
    replay = ["--provider", "replay", "--cassette", str(empty)]
    code = verify_cli(monkeypatch, capsys, "--project-dir", str(project), *replay, "--junit", str(junit))
    assert code == 3
    ((_, case),) = cases(junit)
    (error,) = case.result
    assert isinstance(error, Error) and error.type == "ReplayMiss"


def test_a_full_run_has_one_suite_per_phase(project: Path, tmp_path: Path) -> None:
    from orchestrator.junit import write_junit

    result = Orchestrator(provider="offline").run(TASK, project)
    junit = tmp_path / "run.xml"
    write_junit(result, junit)
    report = JUnitXml.fromfile(str(junit))
    assert [suite.name for suite in report] == ["design (2)", "build (5b)", "verify (7)"]
    assert sum(suite.tests for suite in report) == sum(
        len(a.deliverables) for p in result.phases for a in p.agents
    )
