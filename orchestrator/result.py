"""RunResult and PhaseResult: a run's outcome, in the same shape as `manifest.json`.

The manifest is a `RunResult` dumped to JSON, so what a script reads from disk and
what Python code gets back from a run are one model. Deliverable texts are loaded
from disk on demand, so a result stays small.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from orchestrator.checks.model import CheckResult, FixRound
from orchestrator.usage import Usage, UsageLimits, UsageRecord

RunStatus = Literal["queued", "running", "completed", "failed", "paused", "budget_exceeded"]
"""`queued`: submitted to the workers (`orchestrator.submit`), not yet started by one."""
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


class Change(BaseModel):
    """One file change an agent's answer asked for, and whether it was applied (`orchestrator.changes`)."""

    path: str
    action: Literal["write", "delete", "edit"]
    deliverable: str
    """The deliverable the file belongs to."""
    status: Literal["applied", "refused"]
    reason: str = ""
    """Why it was refused (empty when applied)."""


class FileStat(BaseModel):
    """One file the run changed: lines added and removed between the workspace's base and head."""

    path: str
    added: int
    removed: int


class WorkspaceResult(BaseModel):
    """Where the run wrote code: its branch from `base` to `head` (`head == base`: nothing written)."""

    path: str
    """The project folder inside the workspace."""
    branch: str
    base: str
    head: str
    in_place: bool = False
    files: list[FileStat] = Field(default_factory=list)
    """The run's whole diff stat (base .. head), paths relative to the project."""


class AgentResult(BaseModel):
    """What one agent did in one phase."""

    id: str
    role: Literal["primary", "collaborator"]
    handed_off_by: str | None = None
    by: Literal["plan", "model"] | None = None
    """For a collaborator: `model` when an agent's answer handed it the work, `plan` when the
    orchestrator did because routing made it a required collaborator; None for the primary."""
    brief: str = ""
    """The brief it was given when it was handed work (empty for the primary)."""
    deliverables: list[Deliverable] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    changes: list[Change] = Field(default_factory=list)
    """The files its turn wrote or deleted (a phase that writes), applied or refused."""
    commit: str | None = None
    """Its turn's commit on the run's branch, if it changed any file."""


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
    fix_rounds: list[FixRound] = Field(default_factory=list)
    """Rounds in which failing checks went back to the agent that wrote the code, in order."""
    usage: Usage = Field(default_factory=Usage)
    run_dir: str = Field(default="", exclude=True)
    diff: str = Field(default="", exclude=True)
    """The code the phase's agents wrote, as a unified diff; filled by the notebook handle (`Run`)."""

    @property
    def deliverables(self) -> dict[str, dict[str, str]]:
        """Agent id -> deliverable name -> text, read from the run folder."""
        root = Path(self.run_dir)
        return {
            agent.id: {d.name: _read_body(root / d.path) for d in agent.deliverables} for agent in self.agents
        }

    def _repr_markdown_(self) -> str:
        from orchestrator.artifacts import render_phase_markdown

        shown = render_phase_markdown(self, excerpt_chars=160)
        if not self.diff:
            return shown
        files = self.diff.count("\ndiff --git ") + self.diff.startswith("diff --git ")
        body = self.diff if len(self.diff) <= _DIFF_CHARS else self.diff[:_DIFF_CHARS] + "\n[... cut ...]\n"
        fence = "`" * max(3, _longest_backticks(body) + 1)
        return (
            f"{shown}\n<details><summary>Code written: {files} file(s)</summary>\n\n"
            f"{fence}diff\n{body.rstrip()}\n{fence}\n\n</details>\n"
        )


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
    workspace: WorkspaceResult | None = None
    """Where the run wrote code; None for a run without a phase that writes."""
    calls: list[UsageRecord] = Field(default_factory=list)
    """Every model call of the run in the order it was recorded: who, when, how long, retries, repair."""
    budget: UsageLimits | None = None
    """The budget the run's last command ran under (None when it had none, or the manifest predates it)."""
    run_dir: str = ""

    @property
    def checks(self) -> list[CheckResult]:
        """Every real check the run's phases ran, in phase order."""
        return [c for ph in self.phases for c in ph.checks]

    @property
    def fix_rounds(self) -> int:
        """Fix rounds over all phases."""
        return sum(len(ph.fix_rounds) for ph in self.phases)

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

    def _repr_html_(self) -> str:
        """The run's graph, timeline and spending as a picture, for a notebook cell."""
        from orchestrator.report_html import render_fragment

        return render_fragment(self)


_DIFF_CHARS = 20_000
"""A notebook shows this much of a phase's diff; `phasegraph diff` shows it all."""


def _longest_backticks(text: str) -> int:
    """The longest run of backticks in `text`: a fence around it must be longer."""
    longest = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    return longest


def _read_body(path: Path) -> str:
    """The deliverable text without the header the artifact writer adds."""
    from orchestrator.artifacts import read_deliverable

    return read_deliverable(path)
