"""report.html in real headless Chromium: what a reader sees, and that the page asks for nothing.

Skipped, with the reason, only where Chromium cannot be installed (`make test` installs
Debian's `chromium` package when it runs as root); see tests/_browser.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.fake_openai import FakeOpenAI, FaultConfig
from orchestrator import Orchestrator
from orchestrator.result import RunResult
from orchestrator.settings import load_settings
from tests._browser import Seen, look_at, missing_browser
from tests.conftest import ScriptedProvider

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(missing_browser() is not None, reason=str(missing_browser())),
]

TASK = "Add JWT authentication to the FastAPI notes service"
HOSTILE = (
    "<script>window.__pwned = 1</script>\n\n"
    '<img src="x.png" onerror="window.__pwned = 2">\n\n'
    "[click](javascript:window.__pwned=3) ![pixel](http://127.0.0.1:9/pixel.png)"
)


def _report(result: RunResult) -> Path:
    return Path(result.run_dir) / "report.html"


def _assert_self_contained_picture(result: RunResult, seen: Seen) -> None:
    """The page asked only for itself; every agent is a node; every call is a timeline bar."""
    assert seen.requests == [_report(result).resolve().as_uri()]
    for agent in {a.id for p in result.phases for a in p.agents}:
        assert agent in seen.graph_texts
    assert seen.timeline_bars == len(result.calls) > 0


def test_the_offline_report_shows_the_graph_and_the_timeline(project: Path, tmp_path: Path) -> None:
    result = Orchestrator(provider="offline").run(TASK, project)
    shot = tmp_path / "report.png"
    seen = look_at(_report(result), shot)
    _assert_self_contained_picture(result, seen)
    assert shot.read_bytes().startswith(b"\x89PNG")


def test_the_report_reads_the_same_without_javascript(project: Path) -> None:
    result = Orchestrator(provider="offline").run(TASK, project, phases="design")
    _assert_self_contained_picture(result, look_at(_report(result), javascript=False))


def test_a_run_with_retries_against_the_fake_server_shows_them(project: Path, tmp_path: Path) -> None:
    faults = FaultConfig(rate_429=0.4, retry_after_s=0.01, latency_ms=20, seed=3)
    with FakeOpenAI(faults) as server:
        settings = load_settings(
            provider="openai", model="fake-model", openai_base_url=server.base_url, openai_api_key="test-key"
        )
        result = Orchestrator(settings=settings).run(TASK, project, phases="design")
    assert result.status == "completed", result.message
    retried = [r for r in result.calls if r.call.attempts > 1]
    assert retried, "the seeded faults should make at least one call retry"
    seen = look_at(_report(result), tmp_path / "retries.png")
    _assert_self_contained_picture(result, seen)
    assert seen.retry_marks == len(retried)


def test_model_text_with_script_and_onerror_does_not_execute(project: Path) -> None:
    provider = ScriptedProvider(force={"authentication_strategy": HOSTILE})
    result = Orchestrator(provider=provider).run(TASK, project, phases="design")
    seen = look_at(_report(result))
    assert seen.pwned is None
    assert seen.scripts == 0 and seen.handlers == 0
    assert "<script>window.__pwned = 1</script>" in seen.body_text
    assert seen.requests == [_report(result).resolve().as_uri()]
