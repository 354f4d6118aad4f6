"""Which checks a phase runs, and why: declared, configured, detected, or none (said so)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestrator.checks import CheckOptions, plan_checks
from orchestrator.checks.results import JUnitError, coverage_percent, parse_junit
from orchestrator.checks.sandbox import check_env
from orchestrator.errors import ConfigError
from orchestrator.phases import PhaseSpec, find_phase

PY = Path(sys.executable)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "names", "why"),
    [
        (
            {"pyproject.toml": "", "tests/test_x.py": ""},
            ["pytest"],
            "Python project (pyproject.toml) with tests",
        ),
        ({"setup.py": "", "test_x.py": ""}, ["pytest"], "Python project (setup.py) with test files"),
        ({"pyproject.toml": "", "src/x.py": ""}, [], ""),
        ({"package.json": '{"scripts": {"test": "jest"}}'}, ["npm test"], "package.json has a test script"),
        ({"package.json": '{"scripts": {"test": "echo \\"Error: no test specified\\" && exit 1"}}'}, [], ""),
        ({"go.mod": "module x"}, ["go test"], "go.mod"),
        ({"Cargo.toml": "[package]"}, ["cargo test"], "Cargo.toml"),
        ({"go.mod": "", "Cargo.toml": ""}, ["go test", "cargo test"], "go.mod"),
        (
            {
                "pyproject.toml": '[tool.phasegraph]\nchecks = ["make lint", "make lint"]',
                "tests/test_x.py": "",
            },
            ["make lint", "make lint #2"],
            "pyproject.toml [tool.phasegraph] checks",
        ),
        (
            {".phasegraph/config.toml": 'checks = ["tox -e py"]', "tests/test_x.py": "", "setup.cfg": ""},
            ["tox -e py"],
            ".phasegraph/config.toml checks",
        ),
        ({"pyproject.toml": "[tool.phasegraph]\nchecks = []", "tests/test_x.py": ""}, [], ""),
    ],
    ids=[
        "pytest-tests-dir",
        "pytest-root-files",
        "python-without-tests",
        "npm",
        "npm-placeholder",
        "go",
        "cargo",
        "go-and-cargo",
        "pyproject-declared",
        "config-toml",
        "declared-empty",
    ],
)
def test_checks_come_from_configuration_else_detection(
    tmp_path: Path, files: dict[str, str], names: list[str], why: str
) -> None:
    plan = plan_checks(_tree(tmp_path, files), CheckOptions(python=PY))
    assert [c.name for c in plan.checks] == names
    assert all(c.why.startswith(why) for c in plan.checks[:1])
    assert bool(plan.note) == (not names)


def test_declared_checks_win_over_configuration(tmp_path: Path) -> None:
    _tree(tmp_path, {"pyproject.toml": '[tool.phasegraph]\nchecks = ["make lint"]', "tests/test_x.py": ""})
    plan = plan_checks(tmp_path, CheckOptions(commands=["python -m pytest -x"], python=PY))
    (check,) = plan.checks
    assert (check.name, check.why, check.junit) == ("pytest", "--check", True)


def test_nothing_declared_or_detected_says_so(tmp_path: Path) -> None:
    plan = plan_checks(tmp_path)
    assert plan.checks == [] and plan.note.startswith("no checks: none declared")


def test_an_empty_declaration_says_where(tmp_path: Path) -> None:
    _tree(tmp_path, {"pyproject.toml": "[tool.phasegraph]\nchecks = []"})
    assert plan_checks(tmp_path).note == "no checks: pyproject.toml [tool.phasegraph] checks is empty"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tool.phasegraph\n", "invalid TOML"),
        ('[tool.phasegraph]\nchecks = "pytest"', "must be a list of commands"),
        ("[tool.phasegraph]\nchecks = ['']", "must be a list of commands"),
    ],
)
def test_a_broken_declaration_names_the_file(tmp_path: Path, text: str, message: str) -> None:
    _tree(tmp_path, {"pyproject.toml": text})
    with pytest.raises(ConfigError, match=message) as raised:
        plan_checks(tmp_path)
    assert "pyproject.toml" in str(raised.value)


@pytest.mark.parametrize(
    ("layout", "chosen", "expected"),
    [
        ({".venv/bin/python": ""}, None, "project .venv"),
        ({}, PY, "--check-python"),
        ({}, None, "PATH"),
    ],
)
def test_the_python_environment_is_named(
    tmp_path: Path, layout: dict[str, str], chosen: Path | None, expected: str
) -> None:
    _tree(tmp_path, {"pyproject.toml": "", "tests/test_x.py": "", **layout})
    assert plan_checks(tmp_path, CheckOptions(python=chosen)).python.startswith(expected)


def test_a_check_python_that_is_not_executable_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--check-python"):
        plan_checks(tmp_path, CheckOptions(python=tmp_path / "nope"))


@pytest.mark.parametrize(
    ("name", "value", "kept"),
    [
        ("PATH", "/usr/bin", True),
        ("HOME", "/root", True),
        ("OPENAI_API_KEY", "sk-abcdefghijkl", False),
        ("PHASEGRAPH_CHECKPOINT_URL", "sqlite:///x", False),
        ("AZURE_OPENAI_ENDPOINT", "https://x.openai.azure.com", False),
        ("GITHUB_TOKEN", "ghp_x", False),
        ("PGPASSWORD", "pw", False),
        ("DATABASE_URL", "postgresql://app:pw@db/x", False),
        ("DATABASE_URL", "postgresql://db/x", True),
        ("EXTRA", "Bearer abcdef", False),
        ("MY_VAR", "the-secret-value", False),
    ],
)
def test_a_checks_environment_holds_no_secret(name: str, value: str, kept: bool) -> None:
    assert (name in check_env({name: value}, secrets=["the-secret-value"])) is kept


_CASE = '<testcase classname="t.m" name="{name}">{body}</testcase>'


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ("", "passed", ""),
        ('<failure message="assert 1 == 2">trace</failure>', "failed", "assert 1 == 2\ntrace"),
        ('<error message="boom"/>', "error", "boom"),
        ('<skipped message="later"/>', "skipped", ""),
    ],
)
def test_junit_cases_are_read_with_status_and_message(
    tmp_path: Path, body: str, status: str, message: str
) -> None:
    path = tmp_path / "j.xml"
    path.write_text(f"<testsuites><testsuite>{_CASE.format(name='t1', body=body)}</testsuite></testsuites>")
    (case,) = parse_junit(path)
    assert (case.id, case.status, case.message) == ("t.m::t1", status, message)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (None, "wrote no JUnit XML"),
        ("<testsuite><testcase", "malformed JUnit XML"),
        ("<html/>", "root element <html>"),
        ('<!DOCTYPE x [<!ENTITY a "aaaa">]><testsuite/>', "DOCTYPE"),
    ],
)
def test_unreadable_junit_is_refused_with_a_reason(tmp_path: Path, text: str | None, reason: str) -> None:
    path = tmp_path / "j.xml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(JUnitError, match=reason):
        parse_junit(path)


def test_the_verify_phase_runs_checks_and_other_phases_do_not() -> None:
    assert find_phase("verify").checks == "auto"
    assert find_phase("build").checks == "off"


@pytest.mark.parametrize(
    ("value", "expected"), [("auto", "auto"), (False, "off"), (["make test"], ["make test"])]
)
def test_a_phase_file_may_set_checks(value: object, expected: object) -> None:
    spec = PhaseSpec.model_validate(
        {
            "key": "x",
            "label": "9",
            "name": "X",
            "purpose": "p",
            "order": 1,
            "collects": ["9"],
            "checks": value,
        }
    )
    assert spec.checks == expected


def test_plan_lists_the_checks_verify_would_run_and_why(tmp_path: Path, run_cli: Any) -> None:
    _tree(tmp_path, {"pyproject.toml": "", "tests/test_x.py": ""})
    code, out, _ = run_cli("plan", "Verify it", "--project-dir", str(tmp_path), "--check-python", str(PY))
    assert code == 0
    assert "Checks of phase 7 verify (Python: --check-python" in out
    assert "python -m pytest  (Python project (pyproject.toml) with tests in tests/)" in out


def test_plan_json_says_when_there_is_nothing_to_check(tmp_path: Path, run_cli: Any) -> None:
    _, out, _ = run_cli("plan", "Verify it", "--project-dir", str(tmp_path), "--json")
    verify = json.loads(out)["phases"][-1]
    assert verify["checks"] == [] and verify["checks_note"].startswith("no checks: none declared")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('<coverage line-rate="0.875" branch-rate="0"/>', 87.5),
        ('<coverage line-rate="1"/>', 100.0),
        ('<coverage line-rate="0.12345"/>', 12.35),
    ],
)
def test_line_coverage_is_read_from_cobertura_xml(tmp_path: Path, text: str, expected: float) -> None:
    path = tmp_path / "c.xml"
    path.write_text(text)
    assert coverage_percent(path) == expected


@pytest.mark.parametrize("text", ["<coverage/>", "<report/>", "<coverage"])
def test_unreadable_coverage_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.xml"
    path.write_text(text)
    with pytest.raises(JUnitError):
        coverage_percent(path)


def test_a_queued_run_carries_its_check_options_to_the_worker() -> None:
    from orchestrator.run import RunOptions
    from orchestrator.submit import RunMessage

    opts = RunOptions(task="t", checks=["pytest -x"], check_timeout=30, check_network=True, fix_rounds=0)
    message = RunMessage.model_validate_json(
        RunMessage(run_id="r", project_dir="/p", options=opts.to_json()).model_dump_json()
    )
    assert message.run_options().check_options() == opts.check_options()
