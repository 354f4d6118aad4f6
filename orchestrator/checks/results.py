"""Results: a check's JUnit XML read into tests and counts, its verdict, and the agents' view of it.

The tool's JUnit XML is parsed with the standard library's ElementTree, not a new
dependency: with expat 2.4.1 or later (Python's bundled expat is newer) it neither
expands entities exponentially nor fetches external ones, and a document with a
DOCTYPE is refused anyway (no test tool writes one), as is one over `_MAX_JUNIT_BYTES`.
A missing or malformed report falls back to the exit status, with a warning.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from orchestrator.checks.model import CaseStatus, CheckResult, FixRound, TestCase

_MAX_JUNIT_BYTES = 64 * 1024**2
MESSAGE_CHARS = 1_500
"""A failure's message is trimmed to this many characters (its start: the assertion)."""
TAIL_CHARS = 3_000
"""The end of a check's output the agents see when no JUnit XML names its failures."""
_TIMING = re.compile(r"\b\d+(?:\.\d+)?\s?(?:ms|s|sec|seconds)\b")


class JUnitError(ValueError):
    """A JUnit XML report that cannot be read."""


def _read_xml(path: Path, what: str) -> ET.Element:
    """The root of a tool's XML report, read with care (size cap, no DOCTYPE, no entities)."""
    try:
        size = path.stat().st_size
    except OSError:
        raise JUnitError(f"the tool wrote no {what}") from None
    if size > _MAX_JUNIT_BYTES:
        raise JUnitError(f"{what} of {size} bytes is larger than {_MAX_JUNIT_BYTES}")
    data = path.read_bytes()
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise JUnitError(f"{what} with a DOCTYPE or entity declarations is refused")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise JUnitError(f"malformed {what} ({exc})") from None


def coverage_percent(path: Path) -> float:
    """Line coverage in percent from a Cobertura XML report (`coverage xml`, `pytest --cov-report=xml`)."""
    root = _read_xml(path, "coverage XML")
    if root.tag != "coverage":
        raise JUnitError(f"malformed coverage XML (root element <{root.tag}>)")
    rate = root.get("line-rate")
    try:
        return round(float(rate or "") * 100, 2)
    except ValueError:
        raise JUnitError(f"coverage XML without a line-rate ({rate!r})") from None


def parse_junit(path: Path) -> list[TestCase]:
    """Every `<testcase>` of a JUnit XML file; `JUnitError` when it is missing, too big or malformed."""
    root = _read_xml(path, "JUnit XML")
    if root.tag not in ("testsuites", "testsuite"):
        raise JUnitError(f"malformed JUnit XML (root element <{root.tag}>)")
    return [_case(el) for el in root.iter("testcase")]


def _case(el: ET.Element) -> TestCase:
    classname = el.get("classname", "")
    name = el.get("name", "")
    status: CaseStatus = "passed"
    message = ""
    for child, kind in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        found = el.find(child)
        if found is not None:
            status = kind  # type: ignore[assignment]
            if kind != "skipped":
                message = _message(found)
            break
    test_id = f"{classname}::{name}" if classname else name
    return TestCase(id=test_id, classname=classname, name=name, status=status, message=message)


def _message(el: ET.Element) -> str:
    head = (el.get("message") or "").strip()
    body = (el.text or "").strip()
    text = f"{head}\n{body}" if head and body else head or body
    return trim(text, MESSAGE_CHARS)


def trim(text: str, limit: int) -> str:
    """The start of `text`, at most `limit` characters."""
    return text if len(text) <= limit else text[: limit - 20].rstrip() + "\n[... trimmed ...]"


def tail(text: str, limit: int = TAIL_CHARS) -> str:
    """The end of `text`, at most `limit` characters."""
    return text if len(text) <= limit else "[... trimmed ...]\n" + text[-(limit - 20) :].lstrip()


def counted(result: CheckResult) -> CheckResult:
    """`result` with its counts from its tests (or, without tests, the check itself as one case)."""
    if result.tests:
        by = [t.status for t in result.tests]
        result.passed, result.failed = by.count("passed"), by.count("failed")
        result.errors, result.skipped = by.count("error"), by.count("skipped")
    else:
        result.passed = int(result.status == "passed")
        result.failed = int(result.status == "failed")
        result.errors = int(result.status in ("error", "timeout"))
    return result


def summary(result: CheckResult) -> str:
    """One line: `2 passed, 1 failed` (and `exit 1`), the start error, or the timeout."""
    counts = ", ".join(
        f"{n} {word}"
        for n, word in (
            (result.passed, "passed"),
            (result.failed, "failed"),
            (result.errors, "errors"),
            (result.skipped, "skipped"),
        )
        if n
    )
    return counts or "no tests"


def prompt_text(results: Sequence[CheckResult], note: str = "") -> str:
    """The checks as the Verify agents read them: failing checks first, each failure's test id and
    message; no durations, no temporary paths, nothing that changes while the results do not."""
    if not results:
        return note or "no checks ran"
    ordered = sorted(results, key=lambda r: r.ok)
    lines = [f"{len(results)} check(s) ran the project's own commands in a sandbox."]
    for r in ordered:
        exit_part = "" if r.exit_code is None else f", exit {r.exit_code}"
        cov = "" if r.coverage is None else f"; line coverage {r.coverage:.1f}%"
        lines.append(f"\n## check `{r.name}`: {r.status.upper()}{exit_part} ({summary(r)}{cov})")
        lines.append(f"command: {r.command}")
        if r.status in ("error", "timeout"):
            lines.append(_TIMING.sub("<time>", r.message))
        for case in r.failures:
            lines.append(f"- {case.status.upper()} {case.id}")
            if case.message:
                lines.extend(f"    {line}" for line in _TIMING.sub("<time>", case.message).splitlines())
        if not r.ok and not r.failures and r.output_tail:
            lines.append("output (end):")
            lines.append(_TIMING.sub("<time>", r.output_tail))
    return "\n".join(lines)


def markdown(
    results: Sequence[CheckResult], python: str, note: str, rounds: Sequence[FixRound] = ()
) -> list[str]:
    """The checks of a phase for `report.md`: a line per check, its failures, and the environment."""
    if not results:
        return [f"**Checks:** {note}"] if note else []
    lines = [f"**Checks** (Python: {python}):" if python else "**Checks:**"]
    for r in results:
        where = f", output `{r.log}`" if r.log else ""
        where += "" if r.coverage is None else f"; line coverage {r.coverage:.1f}%"
        lines.append(
            f"- `{r.name}` **{r.status}** — {r.message}; `{r.command}` ({r.why}; "
            f"isolation {r.isolation}; {r.duration_s:.1f} s{where})"
        )
        for case in r.failures[:20]:
            first = case.message.splitlines()[0] if case.message else ""
            lines.append(f"  - {case.status} `{case.id}`" + (f": {first[:200]}" if first else ""))
        if len(r.failures) > 20:
            lines.append(f"  - ... and {len(r.failures) - 20} more")
        lines.extend(f"  - _warning:_ {w}" for w in r.warnings)
    for fix in rounds:
        commit = f"commit `{fix.commit[:12]}`" if fix.commit else "no file changed"
        after = "; ".join(f"{r.name} {r.status} ({summary(r)})" for r in fix.checks)
        lines.append(
            f"- fix round {fix.round}: `{fix.agent}` ({fix.phase}) fixed {'; '.join(fix.fixing)}: "
            f"{fix.changes} file(s), {commit}; then {after or 'no checks'}"
        )
    return lines
