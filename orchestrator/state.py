"""The run state: what a run's checkpoint holds, as types.

Every record is a TypedDict, not a model: LangGraph's checkpoint serializer then
stores plain dicts, lists and strings (a pydantic model would be stored by class
path), a checkpoint written by an earlier version loads unchanged, and a reader
of raw checkpoints (`phasegraph runs list`) needs no classes. The graph's nodes
write `RunUpdate`s; the keyed channels merge them with `merge`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal, NotRequired, TypedDict, TypeVar

V = TypeVar("V")


def merge(left: Mapping[str, V] | None, right: Mapping[str, V | None] | None) -> dict[str, V]:
    """Reducer for keyed state: later keys win, a None value deletes the key."""
    merged = dict(left or {})
    for key, value in (right or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


class ReasonRecord(TypedDict):
    """One routing rule that matched (`orchestrator.routing.Reason`, dumped)."""

    trigger: str
    pattern: str
    matched: str
    points: float


class CandidateRecord(TypedDict):
    """One card that serves a phase (`orchestrator.routing.Candidate`, dumped)."""

    id: str
    score: float
    priority: int | None
    tier: str
    reasons: list[ReasonRecord]
    origin: NotRequired[str]
    """`user` or `builtin` (absent in checkpoints written before cards had an origin)."""
    default_deliverables: NotRequired[bool]


class Candidates(TypedDict):
    """The candidates part of a route: all a collaborator's turn needs of it."""

    candidates: list[CandidateRecord]


class RouteRecord(Candidates):
    """Who works on the task in one phase (`orchestrator.routing.Route`, dumped)."""

    phase: str
    primary: str | None
    collaborators: list[str]
    required_collaborators: NotRequired[list[str]]
    """Collaborators the run consults whether or not the primary hands off to them."""
    chosen_by: NotRequired[str | None]
    note: NotRequired[str]


Role = Literal["primary", "collaborator"]
HandoffBy = Literal["plan", "model"]
"""Who decided a handoff: the model's answer asked for it, or the plan required it."""


class ChangeRecord(TypedDict):
    """One file change an agent's answer asked for, and what became of it (`orchestrator.changes`)."""

    path: str
    """As the model wrote it, relative to the project."""
    action: Literal["write", "delete", "edit"]
    deliverable: str
    """The deliverable the file belongs to, as the model said."""
    status: Literal["applied", "refused"]
    reason: str
    """Why it was refused (empty when applied)."""


class AgentOutput(TypedDict):
    """What one agent delivered in one phase; keyed `phase/agent` in `RunState.outputs`."""

    phase: str
    agent: str
    role: Role
    handed_off_by: str | None
    """The agent that handed it the work (None for the primary)."""
    brief: str
    """The brief it was handed (empty for the primary)."""
    depth: int
    """Handoffs between the primary and this agent (0 for the primary)."""
    seq: str
    """Sorts the phase's outputs in the order the agents were given work."""
    deliverables: dict[str, str]
    """Deliverable item -> text."""
    paths: dict[str, str]
    """Deliverable item -> file, relative to the run folder."""
    repaired: list[str]
    """Items whose text came from the gate's repair request."""
    handoff_targets: NotRequired[list[str]]
    """Whom the turn could hand off to: the repair call reuses the turn's output model.
    Absent for imported outputs (and in checkpoints older than the repair's reuse)."""
    imported: NotRequired[bool]
    """True for an earlier run's deliverables (`--from-run`, `--from-artifacts`)."""
    changes: NotRequired[list[ChangeRecord]]
    """A writing phase's file changes, item by item (absent in phases that do not write)."""
    commit: NotRequired[str | None]
    """The turn's commit on the run's branch; None when it changed no file."""
    decided_by: NotRequired[HandoffBy]
    """For a collaborator: whether the model's answer or the plan handed it the work (the
    manifest's `by`; `by` here already names the agent that handed it off)."""


class HandoffRequest(TypedDict):
    """A handoff an agent asked for; keyed `phase/seq/NN` in `RunState.requests`."""

    to: str
    brief: str
    needed: dict[str, str]
    """The asking agent's deliverables passed along: item -> text."""
    by: str
    depth: int
    """The depth the receiving agent works at."""
    chain: list[str]
    """Every agent on the way from the primary, the asking one last: no cycles."""
    decided_by: NotRequired[HandoffBy]
    """`model` when an answer asked for it, `plan` when the orchestrator added a required one."""


class CollaboratorTask(HandoffRequest):
    """One collaborator's turn as dispatch sends it (the payload of a `Send`)."""

    phase: str
    task: str
    seq: str
    route: Candidates
    """The collaborator's own routing candidate(s): what matched it is part of its prompt."""
    check_blocks: NotRequired[list[str]]
    """The phase's real check results, as prompt data blocks (none when it runs no checks)."""
    head: NotRequired[str | None]
    """The workspace's commit when the phase started (`RunState.heads`)."""


class DispatchMark(TypedDict):
    """What dispatch did with a phase's agent; keyed `phase/agent` in `RunState.dispatched`."""

    request: str
    """The key of the request it answered."""
    order: NotRequired[int]
    """Position among the phase's dispatched turns."""
    refused: NotRequired[bool]
    """True when the request would have made a cycle or gone too deep."""


class PhaseStatus(TypedDict):
    """Where one phase stands; keyed by phase in `RunState.phase_status`."""

    status: Literal["running", "completed", "failed"]
    message: NotRequired[str]
    missing: NotRequired[dict[str, list[str]]]
    """Agent -> items still missing or empty after the repair (a failed gate)."""
    approved: NotRequired[bool]
    rejected: NotRequired[str]
    """The reason a person gave when rejecting the phase's last attempt."""
    fixing: NotRequired[int]
    """The fix rounds done while the gate loops (its deliverables were judged in the first pass)."""


class PhaseChecks(TypedDict):
    """A phase's real checks (`orchestrator.checks`); keyed by phase in `RunState.checks`."""

    results: list[dict[str, object]]
    """Each `CheckResult`, dumped."""
    python: str
    """Which Python environment ran Python checks, in words."""
    note: str
    """Why no check ran, when none did."""
    plan: NotRequired[dict[str, object]]
    """The `CheckPlan` the phase ran, dumped: fix rounds rerun exactly it, not a plan made again
    from the code the fixing agent changed (which could declare its checks away)."""


class RunConfig(TypedDict):
    """How the run was started: what `resume` and `approve` re-open it with."""

    pipeline: str
    project_dir: str
    out_dir: str
    agents_dirs: list[str]
    provider: str
    model: str
    approval_gates: NotRequired[bool]
    cassette: NotRequired[str | None]
    phases: NotRequired[list[str]]
    checks: NotRequired[dict[str, object]]
    """`orchestrator.checks.CheckOptions`, dumped: the run's `--check*` options."""
    workspace: NotRequired[WorkspaceRecord | None]
    """Where the run writes code (`orchestrator.workspace.Workspace`); None for a run that writes none."""


class WorkspaceRecord(TypedDict):
    """A run's workspace as its stored configuration keeps it (`orchestrator.workspace.Workspace`)."""

    path: str
    root: str
    branch: str
    base: str
    kind: Literal["worktree", "copy", "in-place"]
    in_place: bool


class RunState(TypedDict, total=False):
    """Everything a run needs to continue after a crash; plain JSON data only."""

    run_id: str
    task: str
    phases: list[str]
    """The run's phase keys, in pipeline order."""
    config: RunConfig
    routes: Annotated[dict[str, RouteRecord], merge]
    """Phase -> its route."""
    outputs: Annotated[dict[str, AgentOutput], merge]
    """`phase/agent` -> what the agent delivered."""
    requests: Annotated[dict[str, HandoffRequest], merge]
    """`phase/seq/NN` -> a handoff an agent asked for."""
    dispatched: Annotated[dict[str, DispatchMark], merge]
    """`phase/agent` -> the request that agent was given (or refused)."""
    batch: Annotated[dict[str, list[CollaboratorTask]], merge]
    """Phase -> the turns dispatch sends next."""
    phase_status: Annotated[dict[str, PhaseStatus], merge]
    feedback: Annotated[dict[str, str], merge]
    """Phase -> a person's words for it (approval feedback, or a rejection's reason)."""
    checks: Annotated[dict[str, PhaseChecks], merge]
    """Phase -> the project's real checks it ran (the latest, after any fix round)."""
    fix_rounds: Annotated[dict[str, list[dict[str, object]]], merge]
    """Phase -> its fix rounds so far (`orchestrator.checks.FixRound`, dumped)."""
    heads: Annotated[dict[str, str], merge]
    """Phase -> the workspace's commit when it started: what its turns read of the project, and
    where a rejected phase starts again (runs with a workspace only)."""


class RunUpdate(TypedDict, total=False):
    """What a node writes: per keyed channel, the keys to set, or None to delete one."""

    routes: dict[str, RouteRecord]
    outputs: Mapping[str, AgentOutput | None]
    requests: Mapping[str, HandoffRequest | None]
    dispatched: Mapping[str, DispatchMark | None]
    batch: dict[str, list[CollaboratorTask]]
    phase_status: dict[str, PhaseStatus]
    feedback: dict[str, str]
    checks: dict[str, PhaseChecks]
    fix_rounds: Mapping[str, list[dict[str, object]] | None]
    heads: dict[str, str]
