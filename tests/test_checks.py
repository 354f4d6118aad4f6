"""The project's real checks: run by `phasegraph verify`, sandboxed, read, judged by the gate."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from junitparser import Failure, JUnitXml

from orchestrator.checks import CheckOptions, CheckResult, plan_checks, run_checks
from orchestrator.checks.results import prompt_text
from orchestrator.checks.sandbox import isolation
from orchestrator.errors import ProviderUnavailable
from orchestrator.providers.base import ModelRequest, ModelResponse, T
from tests.conftest import ScriptedProvider

pytestmark = pytest.mark.slow

PY = sys.executable
PASSING_AND_FAILING = """\
def test_passes():
    assert 1 + 1 == 2


def test_fails():
    assert 1 + 1 == 3, "arithmetic is broken"
"""


def _project(root: Path, tests: str = PASSING_AND_FAILING) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0"\n')
    (root / "tests" / "test_math.py").write_text(tests)
    return root


def _run(project: Path, *commands: str, **options: Any) -> list[CheckResult]:
    opts = CheckOptions(commands=list(commands) or None, python=Path(PY), **options)
    return asyncio.run(run_checks(plan_checks(project, opts), project, opts))


def _manifest(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(next(out.rglob("manifest.json")).read_text())
    return data


@pytest.fixture
def python_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """`python3` on PATH is the test environment's (which has pytest)."""
    monkeypatch.setenv("PATH", f"{Path(PY).parent}{os.pathsep}{os.environ.get('PATH', '')}")


# Done means: a failing test fails `phasegraph verify`, and the JUnit report names every test.


def test_verify_fails_on_a_failing_test_and_reports_both_tests_by_name(
    tmp_path: Path, run_cli: Any, python_on_path: None
) -> None:
    project = _project(tmp_path / "p")
    out = tmp_path / "out.xml"
    code, _, _ = run_cli(
        "verify", "--project-dir", str(project), "--provider", "offline", "--junit", str(out), "-q"
    )
    assert code == 1
    suite = next(s for s in JUnitXml.fromfile(str(out)) if s.name == "verify: pytest")
    cases = {c.name: c for c in suite}
    assert set(cases) == {"test_passes", "test_fails"}
    assert cases["test_passes"].is_passed
    (failure,) = cases["test_fails"].result
    assert isinstance(failure, Failure) and "arithmetic is broken" in (failure.message or "")


def test_manifest_records_each_check_in_the_contract_shape(
    tmp_path: Path, run_cli: Any, python_on_path: None
) -> None:
    project = _project(tmp_path / "p")
    run_cli(
        "verify", "--project-dir", str(project), "--provider", "offline", "--out", str(tmp_path / "o"), "-q"
    )
    (check,) = _manifest(tmp_path / "o")["phases"][0]["checks"]
    keys = ["name", "command", "status", "exit_code", "passed", "failed", "errors", "skipped"]
    assert {k: check[k] for k in keys} == {
        "name": "pytest",
        "command": "python -m pytest",
        "status": "failed",
        "exit_code": 1,
        "passed": 1,
        "failed": 1,
        "errors": 0,
        "skipped": 0,
    }
    assert check["isolation"] == isolation(False).name and check["junit"].endswith(".junit.xml")
    assert isinstance(check["duration_s"], float)


def test_passing_checks_let_verify_complete(tmp_path: Path, run_cli: Any, python_on_path: None) -> None:
    project = _project(tmp_path / "p", "def test_passes():\n    assert True\n")
    code, _, _ = run_cli("verify", "--project-dir", str(project), "--provider", "offline", "-q")
    assert code == 0


def test_nothing_to_check_is_said_in_the_manifest_and_the_report(tmp_path: Path, run_cli: Any) -> None:
    out = tmp_path / "o"
    code, _, _ = run_cli(
        "verify", "--project-dir", str(tmp_path), "--provider", "offline", "--out", str(out), "-q"
    )
    phase = _manifest(out)["phases"][0]
    assert code == 0 and phase["checks"] == [] and phase["checks_note"].startswith("no checks")
    assert "no checks: none declared" in next(out.rglob("report.md")).read_text()


# The agents read the results: failures first, nothing that changes between identical runs.


def test_verify_agents_read_the_failures_in_a_data_block(
    tmp_path: Path, python_on_path: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator import Orchestrator

    project = _project(tmp_path / "p")
    provider = ScriptedProvider()
    Orchestrator(provider=provider, out_dir=tmp_path / "o").verify(project)
    user = provider.requests[0].messages[-1].content
    block = user[user.index('<data kind="check-results"') :]
    assert "FAILED tests.test_math::test_fails" in block and "arithmetic is broken" in block
    assert "test_passes" not in block  # passing tests are counted, not listed


def test_the_prompt_text_of_identical_results_is_identical(tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    first, second = _run(project), _run(project)
    assert first[0].duration_s > 0
    assert prompt_text(first) == prompt_text(second)
    assert str(tmp_path) not in prompt_text(first)


def test_failing_checks_come_first_in_the_prompt(tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    results = _run(project, f"{PY} -c pass", f"{PY} -c 'raise SystemExit(3)'")
    text = prompt_text(results)
    assert text.index("FAILED, exit 3") < text.index("PASSED")


# Bad input.


def test_a_command_that_does_not_exist_is_an_error_not_a_traceback(tmp_path: Path, run_cli: Any) -> None:
    out = tmp_path / "o"
    code, _, _ = run_cli(
        "verify", "--project-dir", str(tmp_path), "--provider", "offline", "--out", str(out),
        "--check", "no-such-command-phasegraph --flag", "-q",
    )  # fmt: skip
    (check,) = _manifest(out)["phases"][0]["checks"]
    assert code == 1 and check["status"] == "error"
    assert check["exit_code"] is None and "command not found: no-such-command-phasegraph" in check["message"]


def test_a_hanging_check_is_killed_at_the_timeout_with_its_children(tmp_path: Path) -> None:
    token = f"phasegraph-hang-{os.getpid()}-{id(tmp_path)}"
    script = (
        "import subprocess, sys, time;"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', {token!r}]);"
        "time.sleep(600)"
    )
    (result,) = _run(tmp_path, f"{PY} -c {json.dumps(script)}", timeout_s=1.0)
    assert result.status == "timeout" and result.exit_code is None and result.errors == 1
    assert _ends(token)


def _ends(token: str) -> bool:
    """No live process has `token` in its command line, within a few seconds (a zombie has none)."""
    import time

    for _ in range(50):
        if not _running(token):
            return True
        time.sleep(0.1)
    return False


def _running(token: str) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if token.encode() in cmdline.read_bytes():
                return True
        except OSError:
            continue
    return False


def test_a_check_printing_100_mb_is_capped_and_the_run_goes_on(tmp_path: Path) -> None:
    script = "import sys; [sys.stdout.write('x' * 1048575 + chr(10)) for _ in range(100)]"
    (result,) = _run(tmp_path, f"{PY} -c {json.dumps(script)}")
    assert result.status == "passed"
    assert any(w.startswith("output capped: 104857600 bytes") for w in result.warnings)
    assert len(result.output_tail) < 10_000


def test_a_check_does_not_see_the_api_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-0123456789")
    monkeypatch.setenv("PHASEGRAPH_CHECKPOINT_URL", "postgresql://app:pw@db/x")
    script = "import os, sys; sys.exit(any('sk-test' in v or 'pw@' in v for v in os.environ.values()))"
    (result,) = _run(tmp_path, f"{PY} -c {json.dumps(script)}")
    assert result.status == "passed"


def test_a_socket_fails_without_check_network(tmp_path: Path) -> None:
    if isolation(False).name == "none":
        pytest.skip("no network isolation on this system (neither bubblewrap nor unshare --net works)")
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        connect = f"{PY} -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), timeout=5)'"
        (cut,) = _run(tmp_path, connect)
        (allowed,) = _run(tmp_path, connect, network=True)
    # unshare leaves the namespace's loopback down, bubblewrap brings up an empty one
    assert cut.status == "failed" and (
        "Network is unreachable" in cut.output_tail or "refused" in cut.output_tail
    )
    assert allowed.status == "passed" and allowed.isolation == "network-allowed"


def test_a_check_deleting_files_leaves_the_users_tree_alone(tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    script = "import shutil, pathlib; shutil.rmtree('tests'); pathlib.Path('pyproject.toml').write_text('')"
    (result,) = _run(project, f"{PY} -c {json.dumps(script)}")
    assert result.status == "passed"
    assert (project / "tests" / "test_math.py").read_text() == PASSING_AND_FAILING
    assert "name" in (project / "pyproject.toml").read_text()


def test_malformed_junit_falls_back_to_the_exit_status_with_a_warning(tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "pytest"
    fake.parent.mkdir()
    fake.write_text(
        f"#!{PY}\nimport sys\n"
        "path = next(a.split('=', 1)[1] for a in sys.argv if a.startswith('--junitxml='))\n"
        "open(path, 'w').write('<testsuite><testcase name=')\n"
    )
    fake.chmod(0o755)
    (result,) = _run(tmp_path, str(fake))
    assert result.status == "passed" and result.passed == 1 and result.tests == []
    assert any("malformed JUnit XML" in w and "exit status" in w for w in result.warnings)


def test_a_relative_command_runs_from_the_projects_copy(tmp_path: Path) -> None:
    script = tmp_path / "bin" / "check.sh"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\ntest -f bin/check.sh\n")
    script.chmod(0o755)
    (result,) = _run(tmp_path, "./bin/check.sh")
    assert result.status == "passed"


def test_a_bad_check_timeout_is_a_usage_error(tmp_path: Path, run_cli: Any) -> None:
    code, _, err = run_cli("verify", "--project-dir", str(tmp_path), "--check-timeout", "0")
    assert code == 2 and "--check-timeout" in err


def test_the_report_names_the_python_that_ran_the_checks(tmp_path: Path, run_cli: Any) -> None:
    project = _project(tmp_path / "p", "def test_passes():\n    assert True\n")
    out = tmp_path / "o"
    code, _, _ = run_cli(
        "verify", "--project-dir", str(project), "--provider", "offline", "--out", str(out),
        "--check-python", PY, "-q",
    )  # fmt: skip
    report = next(out.rglob("report.md")).read_text()
    assert code == 0 and f"**Checks** (Python: --check-python ({PY}))" in report
    assert "- `pytest` **passed** — 1 passed (exit 0)" in report


class _DownOnce(ScriptedProvider):
    """The provider fails the first call (after the checks ran), then answers."""

    async def complete(self, request: ModelRequest[T]) -> ModelResponse[T]:
        if not self.requests:
            self.requests.append(request)
            raise ProviderUnavailable("the provider is down")
        return await super().complete(request)


def test_a_resumed_run_does_not_run_its_checks_again(tmp_path: Path) -> None:
    from orchestrator import Orchestrator

    counter = tmp_path / "runs.txt"
    check = f"{PY} -c \"open({str(counter)!r}, 'a').write('x')\""
    orch = Orchestrator(provider=_DownOnce(), out_dir=tmp_path / "o", checks=[check])
    stopped = orch.verify(tmp_path)
    assert stopped.error_type == "ProviderUnavailable" and counter.read_text() == "x"
    resumed = orch.resume(stopped.run_id, tmp_path)
    assert resumed.status == "completed" and counter.read_text() == "x"
    assert resumed["verify"].checks[0].status == "passed"


def test_line_coverage_is_measured_when_pytest_cov_is_there(tmp_path: Path) -> None:
    project = _project(
        tmp_path / "p", "from lib import half\n\n\ndef test_half():\n    assert half(4) == 2\n"
    )
    (project / "lib.py").write_text("def half(x):\n    return x / 2\n\n\ndef unused():\n    return 1\n")
    (result,) = _run(project)
    assert result.status == "passed" and result.coverage is not None and 50 < result.coverage < 100
    assert f"line coverage {result.coverage:.1f}%" in prompt_text([result])


def test_a_process_that_leaves_the_group_ends_with_its_check(tmp_path: Path) -> None:
    if isolation(False).name == "none":
        pytest.skip("no namespace mechanism on this system (neither bubblewrap nor unshare works)")
    token = f"phasegraph-daemon-{os.getpid()}-{id(tmp_path)}"
    sleeper = f"['{PY}', '-c', 'import time; time.sleep(600)', {token!r}]"
    script = f"import subprocess; subprocess.Popen({sleeper}, start_new_session=True)"
    (result,) = _run(tmp_path, f"{PY} -c {json.dumps(script)}")
    assert result.status == "passed" and _ends(token)


def test_check_python_also_runs_a_declared_python_command(tmp_path: Path) -> None:
    """`--check-python` is first on the checks' PATH: a declared `python ...` runs that interpreter."""
    script = f"import sys; sys.exit(0 if sys.prefix == {sys.prefix!r} else 1)"
    (result,) = _run(tmp_path, f"python -c {json.dumps(script)}")
    assert result.status == "passed", result.output_tail
