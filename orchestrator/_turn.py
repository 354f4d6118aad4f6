"""One agent's turn in a phase: its prompt, its model call, its files, its handoffs.

Private to the graph's nodes (`orchestrator._phase`). What a turn needs besides the
run state comes from the run's `RunContext`, which LangGraph hands every node as
its runtime context; nothing here is checkpointed but what a turn returns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.config import get_stream_writer
from pydantic import BaseModel

from orchestrator._writes import TreeAt, apply_turn, file_blocks_for, files_at, files_section, named_files
from orchestrator.artifacts import safe_join, write_deliverable
from orchestrator.cards import AgentCard
from orchestrator.catalog import Catalog
from orchestrator.changes import TurnChanges
from orchestrator.checks.model import CheckOptions
from orchestrator.deliverables import OutputSpec, output_spec
from orchestrator.events import EventKind
from orchestrator.phases import PhaseSpec, Pipeline, card_deliverables
from orchestrator.project import ProjectSnapshot
from orchestrator.prompts import (
    AGENT_SYSTEM,
    PHASE_INSTRUCTIONS,
    REPAIR_REQUEST,
    PromptBook,
    card_sections,
    data_block,
    focus_terms,
)
from orchestrator.providers.base import Message, ModelRequest, Provider
from orchestrator.routing import Router
from orchestrator.settings import Settings
from orchestrator.state import AgentOutput, Candidates, HandoffBy, HandoffRequest, Role, RunState
from orchestrator.usage import UsageLedger
from orchestrator.workspace import Workspace

_MAX_FILE_CHARS = 6_000
"""One project file never takes more than this much of the prompt."""


@dataclass
class RunContext:
    """The non-state half of a run: built when the run opens, never checkpointed.

    The graph's nodes receive it as LangGraph's runtime context (`Runtime.context`),
    so one compiled graph serves every run of its shape.
    """

    settings: Settings
    catalog: Catalog
    pipeline: Pipeline
    snapshot: ProjectSnapshot
    router: Router
    provider: Provider
    """The run's provider behind the meter: journal first, budget, every call recorded."""
    ledger: UsageLedger
    """The run's spending so far (seeded from the journal on resume)."""
    prompts: PromptBook
    run_dir: Path
    run_id: str
    on_call: Callable[[str, str], Awaitable[None]] | None = None
    project_dir: Path | None = None
    """The project the run works on: where its real checks run (a disposable copy of it)."""
    check_options: CheckOptions | None = None
    """The run's `--check*` options (None: the defaults)."""
    workspace: Workspace | None = None
    """Where the run writes code (None for a run without a writing phase); `snapshot` scans it."""
    scanned_head: str = ""
    """The workspace commit `snapshot` was scanned at (`_writes.refresh_snapshot`)."""
    trees: dict[str, TreeAt] = field(default_factory=dict)
    """The workspace's files at the commits phases started from, read once each."""


def emit(
    kind: EventKind,
    run_id: str,
    phase: str | None = None,
    agent: str | None = None,
    message: str = "",
    **data: object,
) -> None:
    """Report progress on LangGraph's custom stream (the runner turns it into an `Event`)."""
    writer = get_stream_writer()
    writer({"kind": kind, "run_id": run_id, "phase": phase, "agent": agent, "message": message, "data": data})


async def _ask(
    ctx: RunContext,
    spec: OutputSpec,
    messages: list[Message],
    agent: str,
    phase: str,
    *,
    repair: bool = False,
) -> BaseModel:
    """One model call through the meter: a journaled answer is reused, a new one is paid and recorded."""
    request = ModelRequest(
        messages=messages, output_model=spec.model, agent=agent, phase=phase, run_id=ctx.run_id, repair=repair
    )
    response = await ctx.provider.complete(request)
    if not response.journaled:
        if ctx.on_call is not None:
            await ctx.on_call(agent, phase)
        usage = response.usage
        emit(
            "usage",
            ctx.run_id,
            phase,
            agent,
            f"{usage.prompt_tokens}+{usage.completion_tokens} tokens",
            call=usage.model_dump(),
            total=ctx.ledger.total.model_dump(),
        )
    return response.output


def _sections_for(phase: PhaseSpec) -> tuple[str, ...]:
    """The card sections a phase's prompt carries (`card_sections:` in the phase's YAML)."""
    return tuple(phase.card_sections)


def _matched(route: Candidates, agent: str) -> list[str]:
    """What routing matched for `agent` (task words, file names): part of its prompt's focus."""
    for cand in route.get("candidates") or []:
        if cand["id"] == agent:
            return [r["matched"] for r in cand["reasons"]]
    return []


def system_prompt(
    ctx: RunContext, card: AgentCard, phase: PhaseSpec, task: str, route: Candidates
) -> Message:
    """The card part of the prompt: identical for every call of this agent in this run and phase."""
    focus = focus_terms(task, *_matched(route, card.id))
    sections = card_sections(card, _sections_for(phase), focus)
    return Message(role="system", content=ctx.prompts.render(AGENT_SYSTEM, card=card, sections=sections))


def notes(card: AgentCard, ids: Sequence[str]) -> list[dict[str, str]]:
    """What the card says about each agent it may hand off to (the prompt's collaborator list)."""
    said = {c.id: c.note for c in card.collaborators}
    return [{"id": i, "note": said.get(i, "")} for i in ids]


def _excerpt(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = max(limit - 60, 0)
    return text[:head].rstrip() + f"\n\n[... {len(text) - head} more characters not shown ...]"


def earlier_blocks(ctx: RunContext, state: RunState, phase: PhaseSpec, agent: str) -> list[str]:
    """Deliverables of the phases before `phase`, this agent's own first, excerpted to fit."""
    order = {p.key: p.order for p in ctx.pipeline.phases}
    mine = order.get(phase.key, 0)
    earlier = [o for o in (state.get("outputs") or {}).values() if order.get(o["phase"], -1) < mine]
    earlier.sort(
        key=lambda o: (o["agent"] != agent, o["role"] != "primary", order.get(o["phase"], 0), o["seq"])
    )
    pieces = [
        (f"{o['phase']}/{o['agent']}/{name}", text)
        for o in earlier
        for name, text in o["deliverables"].items()
    ]
    if not pieces:
        return []
    budget = ctx.settings.context_chars
    each = max(budget // len(pieces), 400)
    blocks: list[str] = []
    used = 0
    for label, text in pieces:
        if used >= budget:
            break
        shown = _excerpt(text, min(each, budget - used))
        used += len(shown)
        blocks.append(data_block("deliverable", label, shown))
    return blocks


def file_blocks(
    ctx: RunContext, card: AgentCard, mentioned_in: Sequence[str] = (), at: str | None = None
) -> list[str]:
    """Project files the card's file-pattern triggers pick, shallowest first, size-capped (see
    `file_context`)."""
    return file_context(ctx, card, mentioned_in, at)[0]


def file_context(
    ctx: RunContext,
    card: AgentCard,
    mentioned_in: Sequence[str] = (),
    at: str | None = None,
    writes: bool = False,
) -> tuple[list[str], frozenset[str]]:
    """The project files a turn sees, and those it sees only the start of.

    The card's file-pattern triggers pick them, shallowest first, size-capped; first come the
    files named in `mentioned_in` (the task and earlier deliverables of a phase that writes).
    With a workspace, the files are read as they were at commit `at` (where the phase started).
    In a phase that `writes`, a file shown in part says so at its end."""
    budget = ctx.settings.project_file_chars
    patterns = card.triggers.get("file_patterns", [])
    files = files_at(ctx, at)
    named = named_files(files, mentioned_in) if mentioned_in else []
    if budget <= 0 or not (patterns or named):
        return [], frozenset()
    picked = sorted(files.matching(patterns), key=lambda p: (p.count("/"), p))
    chosen = list(dict.fromkeys([*named, *picked]))
    blocks, cut = file_blocks_for(files, chosen, budget, _MAX_FILE_CHARS, mark_cut=writes)
    return blocks, frozenset(cut)


@dataclass(frozen=True)
class Assignment:
    """How an agent came to work in a phase: as primary, or handed work by another agent."""

    role: Role
    by: str | None
    brief: str
    depth: int
    seq: str
    chain: list[str]
    decided_by: HandoffBy | None = None
    """For a collaborator: `model` (an answer asked for it) or `plan` (a required handoff)."""


@dataclass(frozen=True)
class Turn:
    """One agent's turn: who, in which phase, with which output model and user message."""

    phase: PhaseSpec
    card: AgentCard
    spec: OutputSpec
    user: str
    task: str
    route: Candidates
    job: Assignment
    partial: frozenset[str] = frozenset()
    """Project files the turn's prompt shows only the start of: it may not write them whole."""


@dataclass(frozen=True)
class TurnResult:
    """A turn's contribution to the state: its output and the handoffs it asked for."""

    key: str
    """`phase/agent`: the output's key in `RunState.outputs`."""
    output: AgentOutput
    requests: dict[str, HandoffRequest]


async def work(ctx: RunContext, turn: Turn) -> TurnResult:
    """One agent's turn: ask, write its deliverables, and queue the handoffs it asked for."""
    phase, card, spec, job = turn.phase, turn.card, turn.spec, turn.job
    how = "primary" if job.by is None else f"handed off by {job.by}"
    emit("agent_started", ctx.run_id, phase.key, card.id, f"{card.id} ({how})")
    system = system_prompt(ctx, card, phase, turn.task, turn.route)
    output = await _ask(ctx, spec, [system, Message(role="user", content=turn.user)], card.id, phase.key)
    texts = spec.deliverables(output)
    changes = spec.changes(output)
    done = apply_turn(ctx, phase.key, card.id, job.seq, changes, turn.partial) if spec.writes else None
    paths: dict[str, str] = {}
    for name, text in texts.items():
        shown = text + (files_section(ctx.workspace, done, name) if done else "")
        paths[name] = write_deliverable(ctx.run_dir, phase.key, card.id, name, shown, run_id=ctx.run_id)
        emit(
            "deliverable_written",
            ctx.run_id,
            phase.key,
            card.id,
            f"{name} -> {paths[name]}",
            path=paths[name],
        )
    record = AgentOutput(
        phase=phase.key,
        agent=card.id,
        role=job.role,
        handed_off_by=job.by,
        brief=job.brief,
        depth=job.depth,
        seq=job.seq,
        deliverables=texts,
        paths=paths,
        repaired=[],
        handoff_targets=list(spec.handoff_targets),
    )
    if done is not None:
        record["changes"] = done.records
        record["commit"] = done.commit
        _report_files(ctx, phase.key, card.id, done)
    if job.decided_by is not None:
        record["decided_by"] = job.decided_by
    requests = _requests(phase.key, card.id, job, spec.handoffs(output), texts)
    return TurnResult(key=f"{phase.key}/{card.id}", output=record, requests=requests)


def _report_files(ctx: RunContext, phase: str, agent: str, done: TurnChanges) -> None:
    applied = sum(1 for r in done.records if r["status"] == "applied")
    refused = len(done.records) - applied
    if not done.records:
        return
    where = f"commit {done.commit[:12]}" if done.commit else "no commit (nothing changed)"
    more = f", {refused} refused" if refused else ""
    emit(
        "files_committed",
        ctx.run_id,
        phase,
        agent,
        f"{applied} file(s){more}: {where}",
        commit=done.commit,
        applied=applied,
        refused=refused,
    )


def _requests(
    phase: str,
    by: str,
    job: Assignment,
    handoffs: Sequence[Mapping[str, Any]],
    shareable: Mapping[str, str],
) -> dict[str, HandoffRequest]:
    """The handoffs a turn's answer asks for, keyed `phase/seq/NN`; the answer is the model's."""
    out: dict[str, HandoffRequest] = {}
    for i, h in enumerate(handoffs):
        needed = {n: shareable[n] for n in h.get("deliverables_needed", []) if n in shareable}
        out[f"{phase}/{job.seq}/{i:02d}"] = HandoffRequest(
            to=h["to"],
            brief=h.get("brief", ""),
            needed=needed,
            by=by,
            depth=job.depth + 1,
            chain=[*job.chain, by],
            decided_by="model",
        )
    return out


def turn_spec(card: AgentCard, phase: PhaseSpec, items: list[str], allowed: Sequence[str]) -> OutputSpec:
    """The output model of a turn: the card's items for the phase, and handoffs to `allowed` agents."""
    return output_spec(
        card.id, phase.key, items, handoff_targets=allowed, shareable=items, writes=phase.writes
    )


def _repair_spec(
    agent: str, phase: str, items: list[str], gaps: list[str], targets: list[str] | None, writes: bool = False
) -> OutputSpec:
    """The agent's own output model of the turn being repaired, so that the repair call starts
    with the same schema and system prompt as that turn and the provider's prompt cache serves
    them (the answer's other deliverables, and its file changes, are ignored). A turn checkpointed
    before its targets were recorded gets a model of the missing deliverables alone."""
    if targets is None:
        return output_spec(agent, phase, gaps, suffix="Repair")
    return output_spec(agent, phase, items, handoff_targets=targets, shareable=items, writes=writes)


async def repair(
    ctx: RunContext, state: RunState, phase: PhaseSpec, card: AgentCard, out: AgentOutput, gaps: list[str]
) -> AgentOutput:
    """Ask the agent once more, for the deliverables its turn left missing or empty (`gaps`)."""
    items = card_deliverables(card, phase)
    emit("repair_requested", ctx.run_id, phase.key, card.id, f"missing: {', '.join(gaps)}", missing=gaps)
    spec = _repair_spec(card.id, phase.key, items, gaps, out.get("handoff_targets"), phase.writes)
    user = ctx.prompts.render(
        PHASE_INSTRUCTIONS,
        phase=phase,
        task=state["task"],
        deliverables=gaps,
        collaborators=[],
        feedback="",
        context=[],
    )
    others = [item for item in spec.fields if item not in gaps]
    ask_again = ctx.prompts.render(REPAIR_REQUEST, missing=gaps, others=others)
    system = system_prompt(ctx, card, phase, state["task"], state["routes"][phase.key])
    messages = [system, Message(role="user", content=user), Message(role="user", content=ask_again)]
    output = await _ask(ctx, spec, messages, card.id, phase.key, repair=True)
    fixed = {name: text for name, text in spec.deliverables(output).items() if name in gaps}
    done = TurnChanges(out.get("changes") or [], out.get("commit"))
    written = {
        n: write_deliverable(
            ctx.run_dir, phase.key, card.id, n, t + files_section(ctx.workspace, done, n), run_id=ctx.run_id
        )
        for n, t in fixed.items()
    }
    new = out.copy()
    new["deliverables"] = {**out["deliverables"], **fixed}
    new["repaired"] = sorted(set(out["repaired"]) | set(fixed))
    new["paths"] = {**out["paths"], **written}
    return new


def targets(ctx: RunContext, card: AgentCard, phase: PhaseSpec, exclude: Sequence[str]) -> list[str]:
    """The agents `card` may hand off to in `phase`: its collaborators that serve the phase."""
    return [
        c
        for c in ctx.catalog.resolve_collaborators(card)
        if c not in exclude and c != card.id and card_deliverables(ctx.catalog.get(c), phase)
    ]


def archive_phase(run_dir: Path, key: str) -> None:
    """Keep a rejected attempt's files beside the new one (`design.rejected-1/`)."""
    current = safe_join(run_dir, key)
    if not current.exists():
        return
    n = 1
    while (run_dir / f"{key}.rejected-{n}").exists():
        n += 1
    current.rename(safe_join(run_dir, f"{key}.rejected-{n}"))
