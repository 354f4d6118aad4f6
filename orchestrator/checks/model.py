"""The checks' data: what to run (`CheckOptions`, `PlannedCheck`) and what came of it (`CheckResult`).

A `CheckResult` is what `manifest.json` keeps per phase under `checks`, so a script
reading the manifest and Python code reading a `PhaseResult` see one model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

CheckStatus = Literal["passed", "failed", "error", "timeout"]
CaseStatus = Literal["passed", "failed", "error", "skipped"]

DEFAULT_TIMEOUT_S = 600.0
DEFAULT_FIX_ROUNDS = 2


class CheckOptions(BaseModel):
    """How a run's checks are chosen and sandboxed (`--check`, `--check-timeout`, ...)."""

    model_config = ConfigDict(extra="ignore")

    commands: list[str] | None = None
    """Declared commands (`--check`, `checks=[...]`); None: the project's configuration, else detection."""
    timeout_s: float = Field(DEFAULT_TIMEOUT_S, gt=0)
    """Each check is killed, with every process it started, after this many seconds."""
    network: bool = False
    """Allow network access (`--check-network`), for suites that need a database."""
    python: Path | None = None
    """The interpreter Python checks run with (`--check-python`); None: the project's `.venv`, else PATH."""
    code: Path | None = None
    """The code under test when the run writes none itself: the workspace of the run `--from`
    names (None: the project)."""
    fix_rounds: int = Field(DEFAULT_FIX_ROUNDS, ge=0)
    """Rounds in which failing checks go back to the agent that wrote the code (`--fix-rounds`; 0 for CI)."""

    @field_validator("commands")
    @classmethod
    def _commands(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        cleaned = [c.strip() for c in value]
        if not all(cleaned):
            raise ValueError("a check command must not be empty")
        return cleaned


class PlannedCheck(BaseModel):
    """One check a phase would run, and why."""

    name: str
    """Short, unique within the phase (`pytest`, `npm test`)."""
    command: str
    """The command as declared or detected (a JUnit option phasegraph adds is not shown)."""
    argv: list[str]
    """What is executed (no shell)."""
    why: str
    """Where the command came from: `--check`, `pyproject.toml [tool.phasegraph]`, or what was detected."""
    junit: bool = False
    """True when the command is a pytest run phasegraph asks for a JUnit XML report."""
    coverage: bool = False
    """True when phasegraph also asks it for line coverage (pytest-cov is in its environment)."""


class CheckPlan(BaseModel):
    """The checks of a phase: the commands, the Python environment, and why (also when there are none)."""

    checks: list[PlannedCheck] = Field(default_factory=list)
    python: str = ""
    """Which Python environment runs Python checks, in words (`project .venv (...)`)."""
    interpreter: str = ""
    """The `--check-python` interpreter, when one was given: its folder goes first on the checks'
    PATH, so a declared `python -m pytest` runs it too (empty: the project's `.venv`, else PATH)."""
    note: str = ""
    """Why there are no checks, when there are none."""


class TestCase(BaseModel):
    """One real test, as the tool's JUnit XML names it."""

    __test__ = False

    id: str
    """`classname::name` (pytest: `tests.test_notes::test_create`)."""
    classname: str = ""
    name: str
    status: CaseStatus
    message: str = ""
    """The failure's message, trimmed (empty when it passed)."""


class CheckResult(BaseModel):
    """One check that ran: its verdict, counts and failures (a `manifest.json` `checks` item)."""

    name: str
    command: str
    status: CheckStatus
    exit_code: int | None = None
    """None when the command could not start or was killed at the timeout."""
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    duration_s: float = 0.0
    isolation: str = ""
    """The network isolation in force: `unshare-net`, `bwrap`, `network-allowed` or `none`."""
    junit: str | None = None
    """The tool's own JUnit XML, relative to the run folder (None when the tool wrote none)."""
    why: str = ""
    """Where the command came from."""
    coverage: float | None = None
    """Line coverage in percent, when measured (pytest with pytest-cov in the project's environment)."""
    message: str = ""
    """One line on the outcome (`2 passed, 1 failed`, `command not found: foo`)."""
    warnings: list[str] = Field(default_factory=list)
    """Malformed JUnit XML, capped output, missing isolation, ..."""
    log: str | None = None
    """The check's output (capped), relative to the run folder."""
    output_tail: str = ""
    """The end of the output, paths made relative: what agents read when no JUnit names the failures."""
    tests: list[TestCase] = Field(default_factory=list)
    """Every test the tool's JUnit XML names (empty when it wrote none)."""

    @property
    def failures(self) -> list[TestCase]:
        """The tests that failed or errored, in the tool's order."""
        return [t for t in self.tests if t.status in ("failed", "error")]

    @property
    def ok(self) -> bool:
        return self.status == "passed"


class FixRound(BaseModel):
    """One round of the fix loop: failing checks sent back to the agent that wrote the code, its
    changes committed in the workspace, and the checks run again."""

    round: int
    """1 for the first round."""
    agent: str
    """The agent asked to fix the code (the writing phase's primary)."""
    phase: str
    """The writing phase whose code it fixed (`build`)."""
    fixing: list[str] = Field(default_factory=list)
    """The checks that failed before the round, one line each (`pytest: failed (1 passed, 1 failed)`)."""
    commit: str | None = None
    """The round's commit on the run's branch; None when the answer changed no file."""
    changes: int = 0
    """Files the round changed."""
    checks: list[CheckResult] = Field(default_factory=list)
    """The checks as they ran after the round's changes."""
