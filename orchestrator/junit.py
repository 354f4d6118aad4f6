"""JUnit XML for CI: one test case per deliverable of each activated agent.

A CI system that understands JUnit shows a verify run like a test run: each
deliverable a card promised is a case; one the gate found missing or empty is a
failure whose message is the gate's reason.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from orchestrator.artifacts import atomic_write
from orchestrator.result import RunResult


def junit_xml(result: RunResult) -> str:
    """The run as a JUnit document: a suite per phase, a case per agent deliverable."""
    suites = ET.Element("testsuites", name=f"phasegraph {result.run_id}")
    total = failures = errors = 0
    for phase in result.phases:
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


def write_junit(result: RunResult, path: Path) -> None:
    """Write the JUnit report atomically (CI may read it while we write)."""
    atomic_write(path, junit_xml(result))
