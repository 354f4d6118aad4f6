"""RunResult and PhaseResult: a run's outcome, in the same shape as `manifest.json`.

The manifest is a `RunResult` dumped to JSON, so what a script reads from disk and
what Python code gets back from a run are one model. Deliverable texts are loaded
from disk on demand, so a result stays small.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from orchestrator.checks.model import CheckResult
from orchestrator.usage import Usage

RunStatus = Literal["running", "completed", "failed", "paused", "budget_exceeded"]
PhaseStatus = Literal["pending", "running", "completed", "failed", "paused", "skipped", "imported"]


class Deliverable(BaseModel):
    """One deliverable file of one agent in one phase."""

    name: str
    """The item as the card lists it ("API architecture (Django/FastAPI/Flask)")."""
    path: str
    """Path relative to the run folder (`design/backend-python/api_architecture.md`)."""
    chars: int
    """Characters of the deliverable's text."""
    repaired: bool = False
    """True when the text came from the gate's repair request."""


class AgentResult(BaseModel):
    """What one agent did in one phase."""

    id: str
    role: Literal["primary", "collaborator"]
    handed_off_by: str | None = None
    brief: str = ""
    """The brief it was given when it was handed work (empty for the primary)."""
    deliverables: list[Deliverable] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)


class Reason(BaseModel):
    """One routing point: which trigger matched what."""

    trigger: str
    pattern: str
    matched: str
    points: float


class PhaseResult(BaseModel):
    """One phase of a run: who was chosen and why, what they delivered, what it cost."""

    key: str
    label: str
    name: str = ""
    status: PhaseStatus = "pending"
    primary: str | None = None
    reasons: list[Reason] = Field(default_factory=list)
    """Why the primary was chosen (its routing reasons)."""
    agents: list[AgentResult] = Field(default_factory=list)
    missing: dict[str, list[str]] = Field(default_factory=dict)
    """Agent id -> deliverables the gate found missing or empty (after the repair)."""
    message: str = ""
    checks: list[CheckResult] = Field(default_factory=list)
    """The project's real checks the phase ran (its test suite), in order."""
    checks_python: str = ""
    """Which Python environment ran Python checks (`project .venv (...)`, `--check-python`, `PATH`)."""
    checks_note: str = ""
    """Why the phase ran no check although it runs checks (nothing declared or detected)."""
    fix_rounds: int = 0
    """Rounds in which failing checks went back to the agent that wrote the code."""
    usage: Usage = Field(default_factory=Usage)
    run_dir: str = Field(default="", exclude=True)

    @property
    def deliverables(self) -> dict[str, dict[str, str]]:
        """Agent id -> deliverable name -> text, read from the run folder."""
        root = Path(self.run_dir)
        return {
            agent.id: {d.name: _read_body(root / d.path) for d in agent.deliverables} for agent in self.agents
        }

    def _repr_markdown_(self) -> str:
        from orchestrator.artifacts import render_phase_markdown

        return render_phase_markdown(self, excerpt_chars=160)


class RunResult(BaseModel):
    """A run's manifest: status, task, pipeline, phases in order, and usage."""

    run_id: str
    status: RunStatus
    task: str
    pipeline: str
    phases: list[PhaseResult] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    provider: str = ""
    model: str = ""
    message: str = ""
    """Why the run stopped, when it did not complete."""
    error_type: str | None = None
    """The error class that stopped the run (`GateFailed`, `RateLimited`, ...), if any."""
    run_dir: str = ""

    @property
    def checks(self) -> list[CheckResult]:
        """Every real check the run's phases ran, in phase order."""
        return [c for ph in self.phases for c in ph.checks]

    @property
    def fix_rounds(self) -> int:
        """Fix rounds over all phases."""
        return sum(ph.fix_rounds for ph in self.phases)

    def phase(self, key_or_label: str) -> PhaseResult:
        """The phase with this key (`design`) or label (`2`)."""
        for ph in self.phases:
            if key_or_label in (ph.key, ph.label):
                return ph
        raise KeyError(key_or_label)

    def __getitem__(self, key_or_label: str) -> PhaseResult:
        return self.phase(key_or_label)

    def _repr_markdown_(self) -> str:
        from orchestrator.artifacts import render_report

        return render_report(self)


def _read_body(path: Path) -> str:
    """The deliverable text without the header the artifact writer adds."""
    from orchestrator.artifacts import read_deliverable

    return read_deliverable(path)
