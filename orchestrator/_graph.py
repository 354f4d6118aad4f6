"""The pipeline graph: for each phase, route -> primary -> dispatch <-> collaborators -> gate.

Private to `orchestrator.run`. Nodes close over a `RunContext` (catalogue, router,
provider, prompts: things that are not state); everything a resumed run needs to
continue is in `RunState` and so in the checkpoint.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypedDict, cast

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Send, interrupt
from pydantic import BaseModel

from orchestrator.artifacts import safe_join, write_deliverable
from orchestrator.cards import AgentCard
from orchestrator.catalog import Catalog
from orchestrator.deliverables import OutputSpec, missing, output_spec
from orchestrator.phases import PhaseSpec, Pipeline, card_deliverables
from orchestrator.project import ProjectSnapshot
from orchestrator.prompts import (
    AGENT_SYSTEM,
    HANDOFF_BRIEF,
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
from orchestrator.usage import UsageLedger

_MAX_FILE_CHARS = 6_000
"""One project file never takes more than this much of the prompt."""


def merge(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer for keyed state: later keys win, a None value deletes the key."""
    merged = dict(left or {})
    for key, value in (right or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


class RunState(TypedDict, total=False):
    """Everything a run needs to continue after a crash; plain JSON data only."""

    run_id: str
    task: str
    phases: list[str]
    config: dict[str, Any]
    routes: Annotated[dict[str, Any], merge]
    outputs: Annotated[dict[str, Any], merge]
    """`phase/agent` -> what the agent delivered (texts, paths, role, who handed off)."""
    requests: Annotated[dict[str, Any], merge]
    """`phase/by/NN` -> a handoff an agent asked for."""
    dispatched: Annotated[dict[str, Any], merge]
    batch: Annotated[dict[str, Any], merge]
    phase_status: Annotated[dict[str, Any], merge]
    feedback: Annotated[dict[str, Any], merge]


@dataclass
class RunContext:
    """The non-state half of a run: built once per process, never checkpointed."""

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
    approval_gates: bool = False
    on_call: Callable[[str, str], Awaitable[None]] | None = None
    _cards_by_phase: dict[str, list[str]] = field(default_factory=dict)


def _emit(
    kind: str, run_id: str, phase: str | None = None, agent: str | None = None, message: str = "", **data: Any
) -> None:
    writer = get_stream_writer()
    writer({"kind": kind, "run_id": run_id, "phase": phase, "agent": agent, "message": message, "data": data})


async def _ask(
    ctx: RunContext, spec: OutputSpec, messages: list[Message], agent: str, phase: str
) -> BaseModel:
    """One model call through the meter: a journaled answer is reused, a new one is paid and recorded."""
    request = ModelRequest(
        messages=messages, output_model=spec.model, agent=agent, phase=phase, run_id=ctx.run_id
    )
    response = await ctx.provider.complete(request)
    if not response.journaled:
        if ctx.on_call is not None:
            await ctx.on_call(agent, phase)
        usage = response.usage
        _emit(
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
    return tuple(phase.card_sections)


def _matched(route: dict[str, Any], agent: str) -> list[str]:
    """What routing matched for `agent` (task words, file names): part of its prompt's focus."""
    for cand in route.get("candidates") or []:
        if cand["id"] == agent:
            return [r["matched"] for r in cand["reasons"]]
    return []


def _system_prompt(
    ctx: RunContext, card: AgentCard, phase: PhaseSpec, task: str, route: dict[str, Any]
) -> Message:
    """The card part of the prompt: identical for every call of this agent in this run and phase."""
    focus = focus_terms(task, *_matched(route, card.id))
    sections = card_sections(card, _sections_for(phase), focus)
    return Message(role="system", content=ctx.prompts.render(AGENT_SYSTEM, card=card, sections=sections))


def _notes(card: AgentCard, ids: Sequence[str]) -> list[dict[str, str]]:
    notes = {c.id: c.note for c in card.collaborators}
    return [{"id": i, "note": notes.get(i, "")} for i in ids]


def _excerpt(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = max(limit - 60, 0)
    return text[:head].rstrip() + f"\n\n[... {len(text) - head} more characters not shown ...]"


def _earlier_blocks(ctx: RunContext, state: RunState, phase: PhaseSpec, agent: str) -> list[str]:
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


def _file_blocks(ctx: RunContext, card: AgentCard) -> list[str]:
    """Project files the card's file-pattern triggers pick, shallowest first, size-capped."""
    budget = ctx.settings.project_file_chars
    patterns = card.triggers.get("file_patterns", [])
    if budget <= 0 or not patterns:
        return []
    files = sorted(ctx.snapshot.matching(patterns), key=lambda p: (p.count("/"), p))
    blocks: list[str] = []
    used = 0
    for rel in files:
        if used >= budget:
            break
        text = ctx.snapshot.read_text(rel, min(_MAX_FILE_CHARS, budget - used))
        if not text.strip():
            continue
        used += len(text)
        blocks.append(data_block("project-file", rel, text))
    return blocks


@dataclass(frozen=True)
class _Assignment:
    """How an agent came to work in a phase: as primary, or handed work by another agent."""

    role: str
    by: str | None
    brief: str
    depth: int
    seq: str
    chain: list[str]


async def _work(
    ctx: RunContext,
    phase: PhaseSpec,
    card: AgentCard,
    spec: OutputSpec,
    user: str,
    task: str,
    route: dict[str, Any],
    job: _Assignment,
) -> dict[str, Any]:
    """One agent's turn: ask, write its deliverables, and queue the handoffs it asked for."""
    how = "primary" if job.by is None else f"handed off by {job.by}"
    _emit("agent_started", ctx.run_id, phase.key, card.id, f"{card.id} ({how})")
    system = _system_prompt(ctx, card, phase, task, route)
    output = await _ask(ctx, spec, [system, Message(role="user", content=user)], card.id, phase.key)
    texts = spec.deliverables(output)
    paths = {}
    for name, text in texts.items():
        paths[name] = write_deliverable(ctx.run_dir, phase.key, card.id, name, text, run_id=ctx.run_id)
        _emit(
            "deliverable_written",
            ctx.run_id,
            phase.key,
            card.id,
            f"{name} -> {paths[name]}",
            path=paths[name],
        )
    record: dict[str, Any] = {
        "phase": phase.key,
        "agent": card.id,
        "role": job.role,
        "handed_off_by": job.by,
        "brief": job.brief,
        "depth": job.depth,
        "seq": job.seq,
        "deliverables": texts,
        "paths": paths,
        "repaired": [],
        "handoff_targets": list(spec.handoff_targets),
    }
    requests = _requests(phase.key, card.id, job.seq, job.depth, job.chain, spec.handoffs(output), texts)
    return {"outputs": {f"{phase.key}/{card.id}": record}, "requests": requests}


def _requests(
    phase: str,
    by: str,
    seq: str,
    depth: int,
    chain: list[str],
    handoffs: list[dict[str, Any]],
    shareable: dict[str, str],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, h in enumerate(handoffs):
        needed = {n: shareable[n] for n in h.get("deliverables_needed", []) if n in shareable}
        out[f"{phase}/{seq}/{i:02d}"] = {
            "to": h["to"],
            "brief": h.get("brief", ""),
            "needed": needed,
            "by": by,
            "depth": depth + 1,
            "chain": [*chain, by],
        }
    return out


def _repair_spec(
    agent: str, phase: str, items: list[str], gaps: list[str], targets: list[str] | None
) -> OutputSpec:
    """The agent's own output model of the turn being repaired, so that the repair call starts
    with the same schema and system prompt as that turn and the provider's prompt cache serves
    them (the answer's other deliverables are ignored). A turn checkpointed before its targets
    were recorded gets a model of the missing deliverables alone."""
    if targets is None:
        return output_spec(agent, phase, gaps, suffix="Repair")
    return output_spec(agent, phase, items, handoff_targets=targets, shareable=items)


def _targets(ctx: RunContext, card: AgentCard, phase: PhaseSpec, exclude: Sequence[str]) -> list[str]:
    serving = [
        c
        for c in ctx.catalog.resolve_collaborators(card)
        if c not in exclude and c != card.id and card_deliverables(ctx.catalog.get(c), phase)
    ]
    return serving


def build_graph(ctx: RunContext, phase_keys: Sequence[str]) -> StateGraph[RunState]:
    """The StateGraph for `phase_keys` (in pipeline order), not yet compiled."""
    graph: StateGraph[RunState] = StateGraph(RunState)
    specs = [ctx.pipeline.phase(k) for k in phase_keys]
    for i, phase in enumerate(specs):
        nxt = f"{specs[i + 1].key}.route" if i + 1 < len(specs) else END
        _add_phase(graph, ctx, phase, nxt, specs[i + 1].key if i + 1 < len(specs) else None)
    graph.add_edge(START, f"{specs[0].key}.route")
    return graph


def _add_phase(
    graph: StateGraph[RunState], ctx: RunContext, phase: PhaseSpec, nxt: str, next_key: str | None
) -> None:
    key = phase.key
    cap = ctx.settings.max_handoff_depth

    async def route(state: RunState) -> dict[str, Any]:
        found = ctx.router.route(state["task"], phase)
        _emit("phase_started", ctx.run_id, key, None, f"phase {phase.label} {phase.name}")
        if found.primary is None:
            msg = f"no agent in the catalogue lists deliverables for phase {phase.label} ({key})"
            return {
                "routes": {key: found.model_dump(mode="json")},
                "phase_status": {key: {"status": "failed", "message": msg}},
            }
        top = found.candidates[0]
        _emit(
            "agent_selected",
            ctx.run_id,
            key,
            found.primary,
            f"{found.primary} (score {top.score:g}); collaborators: {', '.join(found.collaborators) or '-'}",
            reasons=[r.model_dump() for r in top.reasons],
            collaborators=found.collaborators,
        )
        return {"routes": {key: found.model_dump(mode="json")}, "phase_status": {key: {"status": "running"}}}

    def after_route(state: RunState) -> str:
        return END if state["phase_status"][key]["status"] == "failed" else f"{key}.primary"

    async def primary(state: RunState) -> dict[str, Any]:
        found = state["routes"][key]
        card = ctx.catalog.get(found["primary"])
        items = card_deliverables(card, phase)
        targets = [c for c in found["collaborators"] if c != card.id] if cap >= 1 else []
        spec = output_spec(card.id, key, items, handoff_targets=targets, shareable=items)
        user = ctx.prompts.render(
            PHASE_INSTRUCTIONS,
            phase=phase,
            task=state["task"],
            deliverables=items,
            collaborators=_notes(card, targets),
            feedback=(state.get("feedback") or {}).get(key, ""),
            context=_earlier_blocks(ctx, state, phase, card.id) + _file_blocks(ctx, card),
        )
        assignment = _Assignment(role="primary", by=None, brief="", depth=0, seq="0", chain=[])
        return await _work(
            ctx,
            phase,
            card,
            spec,
            user,
            state["task"],
            found,
            assignment,
        )

    def dispatch(state: RunState) -> dict[str, Any]:
        outputs = state.get("outputs") or {}
        done = {k for k in (state.get("dispatched") or {}) if k.startswith(f"{key}/")}
        pending = sorted(
            ((k, r) for k, r in (state.get("requests") or {}).items() if k.startswith(f"{key}/")),
            key=lambda kr: (kr[1]["depth"], kr[0]),
        )
        batch: list[dict[str, Any]] = []
        marks: dict[str, Any] = {}
        order = len(done)
        for req_key, req in pending:
            target = f"{key}/{req['to']}"
            if target in done or target in marks or target in outputs:
                continue
            if req["to"] in req["chain"] or req["depth"] > cap:
                _emit(
                    "handoff", ctx.run_id, key, req["by"], f"refused {req['by']} -> {req['to']}", refused=True
                )
                marks[target] = {"refused": True, "request": req_key}
                continue
            marks[target] = {"order": order, "request": req_key}
            route = state["routes"][key]
            mine = [c for c in route.get("candidates") or [] if c["id"] == req["to"]]
            batch.append(
                {
                    **req,
                    "phase": key,
                    "task": state["task"],
                    "seq": f"{req['depth']}.{order:03d}",
                    "route": {"candidates": mine},
                }
            )
            _emit(
                "handoff",
                ctx.run_id,
                key,
                req["by"],
                f"{req['by']} -> {req['to']}: {req['brief'][:120]}",
                to=req["to"],
            )
            order += 1
        return {"dispatched": marks, "batch": {key: batch}}

    def after_dispatch(state: RunState) -> list[Send] | str:
        batch = (state.get("batch") or {}).get(key) or []
        if not batch:
            return f"{key}.gate"
        return [Send(f"{key}.collaborator", payload) for payload in batch]

    async def collaborator(payload: dict[str, Any]) -> dict[str, Any]:
        card = ctx.catalog.get(payload["to"])
        items = card_deliverables(card, phase)
        depth = int(payload["depth"])
        chain = list(payload["chain"])
        targets = _targets(ctx, card, phase, chain) if depth < cap else []
        spec = output_spec(card.id, key, items, handoff_targets=targets, shareable=items)
        needed = [
            data_block("deliverable", f"{key}/{payload['by']}/{n}", t) for n, t in payload["needed"].items()
        ]
        user = ctx.prompts.render(
            HANDOFF_BRIEF,
            phase=phase,
            task=payload["task"],
            by=payload["by"],
            brief=payload["brief"],
            deliverables=items,
            collaborators=_notes(card, targets),
            context=needed + _file_blocks(ctx, card),
        )
        assignment = _Assignment(
            role="collaborator",
            by=payload["by"],
            brief=payload["brief"],
            depth=depth,
            seq=payload["seq"],
            chain=chain,
        )
        return await _work(
            ctx,
            phase,
            card,
            spec,
            user,
            payload["task"],
            payload["route"],
            assignment,
        )

    async def gate(state: RunState) -> dict[str, Any]:
        outputs = {k: o for k, o in (state.get("outputs") or {}).items() if o["phase"] == key}
        updated: dict[str, Any] = {}
        still: dict[str, list[str]] = {}
        for out_key, out in sorted(outputs.items(), key=lambda kv: kv[1]["seq"]):
            card = ctx.catalog.get(out["agent"])
            items = card_deliverables(card, phase)
            gaps = missing(out["deliverables"], items)
            if not gaps:
                continue
            _emit("repair_requested", ctx.run_id, key, card.id, f"missing: {', '.join(gaps)}", missing=gaps)
            spec = _repair_spec(card.id, key, items, gaps, out.get("handoff_targets"))
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
            repair = ctx.prompts.render(REPAIR_REQUEST, missing=gaps, others=others)
            system = _system_prompt(ctx, card, phase, state["task"], state["routes"][key])
            messages = [system, Message(role="user", content=user), Message(role="user", content=repair)]
            output = await _ask(ctx, spec, messages, card.id, key)
            fixed = {name: text for name, text in spec.deliverables(output).items() if name in gaps}
            new = dict(out)
            new["deliverables"] = {**out["deliverables"], **fixed}
            new["repaired"] = sorted(set(out["repaired"]) | set(fixed))
            new["paths"] = {
                **out["paths"],
                **{
                    n: write_deliverable(ctx.run_dir, key, card.id, n, t, run_id=ctx.run_id)
                    for n, t in fixed.items()
                },
            }
            updated[out_key] = new
            left = missing(new["deliverables"], items)
            if left:
                still[card.id] = left
        if still:
            detail = "; ".join(f"{a}: {', '.join(m)}" for a, m in still.items())
            msg = f"gate failed after one repair request, missing or empty: {detail}"
            _emit("gate_failed", ctx.run_id, key, None, msg, missing=still)
            status = {"status": "failed", "message": msg, "missing": still}
        else:
            _emit(
                "gate_passed",
                ctx.run_id,
                key,
                None,
                f"phase {phase.label} {phase.name}: every deliverable present",
            )
            status = {"status": "completed"}
        return {"outputs": updated, "phase_status": {key: status}}

    needs_approval = phase.gate == "approval" or ctx.approval_gates

    def after_gate(state: RunState) -> str:
        if state["phase_status"][key]["status"] == "failed":
            return END
        return f"{key}.approval" if needs_approval else nxt

    def approval(state: RunState) -> Command[str]:
        _emit(
            "awaiting_approval", ctx.run_id, key, None, f"phase {phase.label} {phase.name} waits for approval"
        )
        decision = interrupt({"run_id": ctx.run_id, "phase": key, "label": phase.label})
        text = str(decision.get("text") or "")
        if decision.get("approve"):
            update: dict[str, Any] = {"phase_status": {key: {"status": "completed", "approved": True}}}
            if text and next_key:
                update["feedback"] = {next_key: text}
            return Command(goto=nxt, update=update)
        _archive_phase(ctx.run_dir, key)
        clear = {k: None for k in (state.get("outputs") or {}) if k.startswith(f"{key}/")}
        return Command(
            goto=f"{key}.route",
            update={
                "outputs": clear,
                "requests": {k: None for k in (state.get("requests") or {}) if k.startswith(f"{key}/")},
                "dispatched": {k: None for k in (state.get("dispatched") or {}) if k.startswith(f"{key}/")},
                "feedback": {key: text},
                "phase_status": {key: {"status": "running", "rejected": text}},
            },
        )

    graph.add_node(f"{key}.route", route)
    graph.add_node(f"{key}.primary", primary)
    graph.add_node(f"{key}.dispatch", dispatch)
    graph.add_node(f"{key}.collaborator", cast(Any, collaborator))
    graph.add_node(f"{key}.gate", gate, defer=True)
    graph.add_conditional_edges(f"{key}.route", after_route, [f"{key}.primary", END])
    graph.add_edge(f"{key}.primary", f"{key}.dispatch")
    graph.add_conditional_edges(f"{key}.dispatch", after_dispatch, [f"{key}.collaborator", f"{key}.gate"])
    graph.add_edge(f"{key}.collaborator", f"{key}.dispatch")
    if needs_approval:
        graph.add_node(f"{key}.approval", approval, destinations=(nxt, f"{key}.route"))
        graph.add_conditional_edges(f"{key}.gate", after_gate, [f"{key}.approval", END])
    else:
        graph.add_conditional_edges(f"{key}.gate", after_gate, list(dict.fromkeys([nxt, END])))


def _archive_phase(run_dir: Path, key: str) -> None:
    """Keep a rejected attempt's files beside the new one (`design.rejected-1/`)."""
    current = safe_join(run_dir, key)
    if not current.exists():
        return
    n = 1
    while (run_dir / f"{key}.rejected-{n}").exists():
        n += 1
    current.rename(safe_join(run_dir, f"{key}.rejected-{n}"))
