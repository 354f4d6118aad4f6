"""JUnit XML for CI: a suite per real check with a case per real test, and a case per deliverable.

A CI system that understands JUnit shows a verify run like a test run. Each check the
phase ran (the project's test suite) is a `<testsuite>` whose cases are the tests its
tool's own JUnit XML names (one case for the check itself when the tool writes none);
each deliverable a card promised is a case too, and one the gate found missing or
empty is a failure whose message is the gate's reason.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from orchestrator.artifacts import atomic_write
from orchestrator.checks.model import CaseStatus, CheckResult, TestCase
from orchestrator.result import RunResult

_CASE_TAG = {"failed": "failure", "error": "error"}


def junit_xml(result: RunResult) -> str:
    """The run as a JUnit document: a suite per phase, a case per agent deliverable."""
    suites = ET.Element("testsuites", name=f"phasegraph {result.run_id}")
    total = failures = errors = 0
    for phase in result.phases:
        for check in phase.checks:
            cases, fails, errs = _check_suite(suites, phase.key, check)
            total, failures, errors = total + cases, failures + fails, errors + errs
        suite = ET.SubElement(suites, "testsuite", name=f"{phase.key} ({phase.label})")
        cases = fails = errs = 0
        for agent in phase.agents:
            missing = set(phase.missing.get(agent.id, []))
            for d in agent.deliverables:
                case = ET.SubElement(suite, "testcase", classname=f"{phase.key}.{agent.id}", name=d.name)
                ET.SubElement(case, "system-out").text = f"{d.path} ({d.chars} chars)"
                cases += 1
                if d.name in missing:
                    fails += 1
                    ET.SubElement(
                        case,
                        "failure",
                        message=f"missing or empty after one repair: {d.name}",
                        type="GateFailed",
                    ).text = phase.message
        if not phase.agents:
            case = ET.SubElement(suite, "testcase", classname=phase.key, name="phase")
            cases += 1
            if phase.status == "failed":
                fails += 1
                ET.SubElement(case, "failure", message=phase.message or "phase failed", type="GateFailed")
            elif phase.status != "completed":
                errs += 1
                ET.SubElement(
                    case,
                    "error",
                    message=result.message or phase.status,
                    type=result.error_type or phase.status,
                )
        suite.set("tests", str(cases))
        suite.set("failures", str(fails))
        suite.set("errors", str(errs))
        total, failures, errors = total + cases, failures + fails, errors + errs
    suites.set("tests", str(total))
    suites.set("failures", str(failures))
    suites.set("errors", str(errors))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _check_suite(parent: ET.Element, phase: str, check: CheckResult) -> tuple[int, int, int]:
    """One check as a suite: its real tests, else the check as one case. Returns (cases, failures,
    errors)."""
    suite = ET.SubElement(parent, "testsuite", name=f"{phase}: {check.name}", time=f"{check.duration_s:g}")
    props = ET.SubElement(suite, "properties")
    for name, value in (("command", check.command), ("isolation", check.isolation), ("why", check.why)):
        ET.SubElement(props, "property", name=name, value=value)
    cases = check.tests or [_whole(check)]
    for case in cases:
        el = ET.SubElement(suite, "testcase", classname=case.classname or check.name, name=case.name)
        if case.status == "skipped":
            ET.SubElement(el, "skipped")
        elif case.status in _CASE_TAG:
            first = case.message.splitlines()[0] if case.message else case.status
            ET.SubElement(
                el, _CASE_TAG[case.status], message=first[:300], type=case.status
            ).text = case.message
    fails = sum(c.status == "failed" for c in cases)
    errs = sum(c.status == "error" for c in cases)
    skipped = sum(c.status == "skipped" for c in cases)
    for key, count in (("tests", len(cases)), ("failures", fails), ("errors", errs), ("skipped", skipped)):
        suite.set(key, str(count))
    return len(cases), fails, errs


def _whole(check: CheckResult) -> TestCase:
    """A check whose tool wrote no JUnit XML, as one case: passed, failed, or an error (could not
    start, timed out)."""
    status: CaseStatus = "passed" if check.ok else "failed" if check.status == "failed" else "error"
    message = check.message if check.status != "failed" else f"{check.message}\n{check.output_tail}"
    return TestCase(
        id=check.name,
        classname=check.name,
        name=check.command,
        status=status,
        message=message if status != "passed" else "",
    )


def write_junit(result: RunResult, path: Path) -> None:
    """Write the JUnit report atomically (CI may read it while we write)."""
    atomic_write(path, junit_xml(result))
