"""Checks: the project's real checks (its test suite), chosen, sandboxed, run and read.

`plan_checks` says which commands a phase with `checks: auto` runs and why
(`selection`); `run_checks` runs them in a disposable copy of the project inside
the sandbox (`suite`, `sandbox`); `results` reads the tools' JUnit XML into a
`CheckResult` per check and renders them for the agents. Importing the package
loads only the data models (`model`); the rest loads when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.checks.model import (
    CheckOptions,
    CheckPlan,
    CheckResult,
    CheckStatus,
    PlannedCheck,
    TestCase,
)

if TYPE_CHECKING:
    from orchestrator.checks.results import prompt_text
    from orchestrator.checks.selection import plan_checks
    from orchestrator.checks.suite import run_checks

_LAZY = {
    "plan_checks": "orchestrator.checks.selection",
    "run_checks": "orchestrator.checks.suite",
    "prompt_text": "orchestrator.checks.results",
}

__all__ = [
    "CheckOptions",
    "CheckPlan",
    "CheckResult",
    "CheckStatus",
    "PlannedCheck",
    "TestCase",
    "plan_checks",
    "prompt_text",
    "run_checks",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
