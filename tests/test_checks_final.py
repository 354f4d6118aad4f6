"""The final-results section a fix loop appends to a phase's deliverables: built from the
results alone, appended exactly once, kept whole by report.html."""

from __future__ import annotations

import pytest

from orchestrator.checks.final import MARKER, final_section, first_text, with_final
from orchestrator.checks.model import CheckResult, FixRound, TestCase
from orchestrator.report_html import DELIVERABLE_CHARS, _cut

PASSED = CheckResult(name="pytest", command="python -m pytest", status="passed", exit_code=0, passed=3)
FAILED = CheckResult(
    name="pytest",
    command="python -m pytest",
    status="failed",
    exit_code=1,
    passed=2,
    failed=1,
    coverage=81.5,
    tests=[TestCase(id="tests.test_calc::test_add", name="test_add", status="failed", message="x" * 900)],
)
TIMEOUT = CheckResult(
    name="npm", command="npm test", status="timeout", errors=1, message="killed after 600 s\nmore"
)
ROUND = FixRound(round=2, agent="backend-python", phase="build", commit="abc", changes=1)


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        (
            [PASSED],
            ["(after fix round 2)", "every check passes after fix round 2", "**passed** (3 passed, exit 0)"],
        ),
        (
            [FAILED],
            [
                "1 of 1 check(s) still fail after 2 fix round(s)",
                "**failed** (2 passed, 1 failed, exit 1; line coverage 81.5%)",
                "  - failed `tests.test_calc::test_add`",
                "[... trimmed ...]",
            ],
        ),
        (
            [PASSED, TIMEOUT],
            ["1 of 2 check(s) still fail", "`npm` **timeout** (1 errors)", "  - killed after 600 s"],
        ),
    ],
)
def test_the_section_states_the_final_results(results: list[CheckResult], expected: list[str]) -> None:
    section = final_section(results, [ROUND])
    assert section.startswith(MARKER)
    for part in expected:
        assert part in section
    assert "- fix round 2: `backend-python` (build), 1 file(s) changed" in section


def test_a_failing_message_is_trimmed_and_failing_checks_come_first() -> None:
    section = final_section([PASSED, FAILED], [ROUND])
    assert "x" * 500 not in section
    assert section.index("**failed**") < section.index("**passed**")


@pytest.mark.parametrize("times", [1, 2, 3])
def test_the_section_is_appended_exactly_once(times: int) -> None:
    text = "The agent's report."
    for _ in range(times):
        text = with_final(text, final_section([PASSED], [ROUND]))
    assert text.count(MARKER) == 1 and first_text(text) == "The agent's report."


def test_report_html_keeps_the_section_of_a_long_deliverable_whole() -> None:
    section = final_section([FAILED], [ROUND])
    shown = _cut(with_final("y" * (DELIVERABLE_CHARS + 10), section))
    assert "the file has the rest" in shown and shown.endswith(section.removeprefix(MARKER))
    assert MARKER not in shown
