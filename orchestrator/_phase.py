"""One phase of the pipeline graph: route -> primary -> dispatch <-> collaborators -> gate (-> approval).

Private to `orchestrator._graph`. A `PhaseNodes` knows only its place in the graph's
shape; each node reads the run's `RunContext` from LangGraph's runtime context and
the rest from the state, so the compiled graph holds nothing of any one run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from langgraph.graph import END, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, Send, interrupt

from orchestrator._nodes import GraphShape, NodeKind, node
from orchestrator._turn import (
    Assignment,
    RunContext,
    Turn,
    TurnResult,
    archive_phase,
    earlier_blocks,
    emit,
    file_context,
    notes,
    repair,
    targets,
    turn_spec,
    work,
)
from orchestrator._writes import phase_head, refresh_snapshot
from orchestrator.checks.final import final_outputs
from orchestrator.checks.fixing import fix_round
from orchestrator.checks.model import CheckOptions
from orchestrator.checks.phase import checks_blocks, failing_checks, failure_message, run_phase_checks
from orchestrator.deliverables import missing
from orchestrator.phases import PhaseSpec, card_deliverables
from orchestrator.prompts import HANDOFF_BRIEF, PHASE_INSTRUCTIONS, data_block
from orchestrator.state import (
    AgentOutput,
    CollaboratorTask,
    DispatchMark,
    HandoffRequest,
    PhaseStatus,
    RouteRecord,
    RunState,
    RunUpdate,
)

Graph = StateGraph[RunState, RunContext, RunState, RunState]
"""The pipeline graph before compiling: typed by its state and its nodes' runtime context."""


def plan_brief(task: str, primary: str, deliverables: list[str]) -> str:
    """The brief of a handoff the plan requires: the task and what the primary delivered."""
    made = ", ".join(deliverables) or "nothing yet"
    return (
        f"The plan names you a required collaborator in this phase; {primary} did not hand off to you. "
        f"Task: {task}. {primary} delivered: {made}. Review it from your specialty and deliver your part."
    )


def _turn_update(done: TurnResult) -> RunUpdate:
    return {"outputs": {done.key: done.output}, "requests": done.requests}


def _head(state: RunState, key: str) -> str | None:
    """The workspace commit phase `key` started from (None without a workspace)."""
    return (state.get("heads") or {}).get(key)


def _mentioned(state: RunState, phase: PhaseSpec) -> list[str]:
    """Where a writing phase's agent finds the files it is likely to change named: the task and
    the deliverables so far (a phase that only reads gets its card's file patterns alone)."""
    if not phase.writes:
        return []
    outputs = (state.get("outputs") or {}).values()
    earlier = (t for o in outputs if o["phase"] != phase.key for t in o["deliverables"].values())
    return [state["task"], *earlier]


class PhaseNodes:
    """The nodes and edges of one phase, one method each; `add_to` wires them into a graph."""

    def __init__(self, key: str, shape: GraphShape) -> None:
        self.key = key
        self.next_key = shape.next_phase(key)
        """The phase after this one in the run (its feedback target), or None."""
        self.next_node = node(self.next_key, NodeKind.ROUTE) if self.next_key else END
        self.needs_approval = key in shape.approval

    def name(self, kind: NodeKind) -> str:
        return node(self.key, kind)

    def _mine(self, keys: Mapping[str, object] | None) -> list[str]:
        """The keys of a keyed channel that belong to this phase (`design/...`)."""
        return [k for k in keys or {} if k.startswith(f"{self.key}/")]

    # Nodes.

    async def route(self, state: RunState, runtime: Runtime[RunContext]) -> RunUpdate:
        """Choose the phase's primary and collaborators; a phase nobody serves fails here."""
        ctx = runtime.context
        phase = ctx.pipeline.phase(self.key)
        refresh_snapshot(ctx)
        found = ctx.router.route(state["task"], phase)
        emit("phase_started", ctx.run_id, self.key, None, f"phase {phase.label} {phase.name}")
        record = cast(RouteRecord, found.model_dump(mode="json"))
        if found.primary is None:
            msg = f"no agent in the catalogue lists deliverables for phase {phase.label} ({self.key})"
            return {
                "routes": {self.key: record},
                "phase_status": {self.key: {"status": "failed", "message": msg}},
            }
        top = found.candidates[0]
        emit(
            "agent_selected",
            ctx.run_id,
            self.key,
            found.primary,
            f"{found.primary} (score {top.score:g}); collaborators: {', '.join(found.collaborators) or '-'}",
            reasons=[r.model_dump() for r in top.reasons],
            collaborators=found.collaborators,
        )
        update: RunUpdate = {"routes": {self.key: record}, "phase_status": {self.key: {"status": "running"}}}
        checks = await run_phase_checks(ctx, phase)
        if checks is not None:
            update["checks"] = {self.key: checks}
        start = phase_head(ctx)
        if start is not None:
            update["heads"] = {self.key: start}
        return update

    async def primary(self, state: RunState, runtime: Runtime[RunContext]) -> RunUpdate:
        """The primary's turn, with the earlier phases' deliverables and any feedback for this phase."""
        ctx = runtime.context
        phase = ctx.pipeline.phase(self.key)
        found = state["routes"][self.key]
        primary = found["primary"]
        assert primary is not None, "a phase without a primary ends at its route"
        card = ctx.catalog.get(primary)
        items = card_deliverables(card, phase)
        allowed = (
            [c for c in found["collaborators"] if c != card.id] if ctx.settings.max_handoff_depth >= 1 else []
        )
        files, partial = file_context(
            ctx, card, _mentioned(state, phase), _head(state, self.key), phase.writes
        )
        user = ctx.prompts.render(
            PHASE_INSTRUCTIONS,
            phase=phase,
            task=state["task"],
            deliverables=items,
            collaborators=notes(card, allowed),
            feedback=(state.get("feedback") or {}).get(self.key, ""),
            context=checks_blocks(state, self.key) + earlier_blocks(ctx, state, phase, card.id) + files,
        )
        job = Assignment(role="primary", by=None, brief="", depth=0, seq="0", chain=[])
        spec = turn_spec(card, phase, items, allowed)
        turn = Turn(phase, card, spec, user, state["task"], found, job, partial)
        return _turn_update(await work(ctx, turn))

    def dispatch(self, state: RunState, runtime: Runtime[RunContext]) -> RunUpdate:
        """Send each agent this phase's agents asked for one turn; refuse cycles and too-deep chains."""
        ctx = runtime.context
        outputs = state.get("outputs") or {}
        requests = state.get("requests") or {}
        done = set(self._mine(state.get("dispatched")))
        planned = self._planned(ctx, state) if not done else {}
        requests = {**requests, **planned}
        pending = sorted(self._mine(requests), key=lambda k: (requests[k]["depth"], k))
        batch: list[CollaboratorTask] = []
        marks: dict[str, DispatchMark] = {}
        order = len(done)
        for req_key in pending:
            req = requests[req_key]
            target = f"{self.key}/{req['to']}"
            if target in done or target in marks or target in outputs:
                continue
            if req["to"] in req["chain"] or req["depth"] > ctx.settings.max_handoff_depth:
                emit(
                    "handoff",
                    ctx.run_id,
                    self.key,
                    req["by"],
                    f"refused {req['by']} -> {req['to']}",
                    refused=True,
                )
                marks[target] = {"refused": True, "request": req_key}
                continue
            marks[target] = {"order": order, "request": req_key}
            mine = [c for c in state["routes"][self.key]["candidates"] if c["id"] == req["to"]]
            seq = f"{req['depth']}.{order:03d}"
            batch.append(
                {
                    **req,
                    "phase": self.key,
                    "task": state["task"],
                    "seq": seq,
                    "route": {"candidates": mine},
                    "check_blocks": checks_blocks(state, self.key),
                    "head": _head(state, self.key),
                }
            )
            brief = req["brief"][:120]
            planned_by = req.get("decided_by") == "plan"
            emit(
                "handoff",
                ctx.run_id,
                self.key,
                req["by"],
                f"{req['by']} -> {req['to']}{' (required by the plan)' if planned_by else ''}: {brief}",
                to=req["to"],
                by=req.get("decided_by", "model"),
            )
            order += 1
        update: RunUpdate = {"dispatched": marks, "batch": {self.key: batch}}
        if planned:
            update["requests"] = planned
        return update

    def _planned(self, ctx: RunContext, state: RunState) -> dict[str, HandoffRequest]:
        """Required collaborators the primary's answer did not hand off to, as the plan's handoffs.

        Routing puts a collaborator at tier secondary when the task or the project points at
        it; the run consults each such one, whatever the model chose. Runs once per phase,
        right after the primary's turn (nothing is dispatched yet); no handoffs at all when
        `max_handoff_depth` is 0."""
        route = state["routes"][self.key]
        primary = route["primary"]
        outputs = state.get("outputs") or {}
        if primary is None or ctx.settings.max_handoff_depth < 1:
            return {}
        requests = state.get("requests") or {}
        asked = {requests[k]["to"] for k in self._mine(requests)}
        own = outputs.get(f"{self.key}/{primary}")
        shared = dict(own["deliverables"]) if own else {}
        planned: dict[str, HandoffRequest] = {}
        for agent in route.get("required_collaborators", []):
            if agent in asked or agent == primary or f"{self.key}/{agent}" in outputs:
                continue
            planned[f"{self.key}/plan/{len(planned):02d}"] = HandoffRequest(
                to=agent,
                brief=plan_brief(state["task"], primary, list(shared)),
                needed=shared,
                by=primary,
                depth=1,
                chain=[primary],
                decided_by="plan",
            )
        return planned

    async def collaborator(self, payload: CollaboratorTask, runtime: Runtime[RunContext]) -> RunUpdate:
        """One turn of an agent another agent handed work to (the payload of a `Send`)."""
        ctx = runtime.context
        phase = ctx.pipeline.phase(self.key)
        card = ctx.catalog.get(payload["to"])
        items = card_deliverables(card, phase)
        depth, chain = int(payload["depth"]), list(payload["chain"])
        allowed = targets(ctx, card, phase, chain) if depth < ctx.settings.max_handoff_depth else []
        needed = [
            data_block("deliverable", f"{self.key}/{payload['by']}/{n}", t)
            for n, t in payload["needed"].items()
        ]
        checked = list(payload.get("check_blocks") or [])
        named = [payload["task"], *payload["needed"].values()] if phase.writes else []
        files, partial = file_context(ctx, card, named, payload.get("head"), phase.writes)
        user = ctx.prompts.render(
            HANDOFF_BRIEF,
            phase=phase,
            task=payload["task"],
            by=payload["by"],
            brief=payload["brief"],
            deliverables=items,
            collaborators=notes(card, allowed),
            context=checked + needed + files,
        )
        job = Assignment(
            role="collaborator",
            by=payload["by"],
            brief=payload["brief"],
            depth=depth,
            seq=payload["seq"],
            chain=chain,
            decided_by=payload.get("decided_by", "model"),
        )
        spec = turn_spec(card, phase, items, allowed)
        turn = Turn(phase, card, spec, user, payload["task"], payload["route"], job, partial)
        return _turn_update(await work(ctx, turn))

    async def gate(self, state: RunState, runtime: Runtime[RunContext]) -> RunUpdate:
        """Check every deliverable of the phase; ask once for what is missing; send failing checks
        back to the agent that wrote the code (one fix round per pass, the gate looping back to
        itself); then pass or fail the phase, after fix rounds with the final check results
        appended to each of its deliverables (`checks.final`)."""
        ctx = runtime.context
        phase = ctx.pipeline.phase(self.key)
        status = state["phase_status"][self.key]
        updated: dict[str, AgentOutput] = {}
        if "fixing" in status:  # a later pass: the deliverables were judged in the first
            still = dict(status.get("missing") or {})
        else:
            updated, still = await self._deliverables(ctx, state, phase)
        failing = failing_checks(state, self.key)
        done = int(status.get("fixing", 0))
        limit = (ctx.check_options or CheckOptions()).fix_rounds
        if failing and done < limit:
            fixed = await fix_round(ctx, state, phase, failing, done + 1)
            if fixed is not None:
                record, again = fixed
                rounds = [*(state.get("fix_rounds") or {}).get(self.key, []), record.model_dump(mode="json")]
                update: RunUpdate = {
                    "outputs": updated,
                    "fix_rounds": {self.key: rounds},
                    "phase_status": {self.key: {"status": "running", "fixing": done + 1, "missing": still}},
                }
                if again is not None:
                    update["checks"] = {self.key: again}
                return update
        verdict = self._verdict(ctx, phase, still, failure_message(failing) if failing else "")
        return {"outputs": final_outputs(ctx, state, self.key, updated), "phase_status": {self.key: verdict}}

    async def _deliverables(
        self, ctx: RunContext, state: RunState, phase: PhaseSpec
    ) -> tuple[dict[str, AgentOutput], dict[str, list[str]]]:
        """Each agent's deliverables checked, a gap asked for once: (repaired outputs, still missing)."""
        outputs = {k: o for k, o in (state.get("outputs") or {}).items() if o["phase"] == self.key}
        updated: dict[str, AgentOutput] = {}
        still: dict[str, list[str]] = {}
        for out_key, out in sorted(outputs.items(), key=lambda kv: kv[1]["seq"]):
            card = ctx.catalog.get(out["agent"])
            items = card_deliverables(card, phase)
            gaps = missing(dict(out["deliverables"]), items)
            if not gaps:
                continue
            new = await repair(ctx, state, phase, card, out, gaps)
            updated[out_key] = new
            left = missing(dict(new["deliverables"]), items)
            if left:
                still[card.id] = left
        return updated, still

    def _verdict(
        self, ctx: RunContext, phase: PhaseSpec, still: dict[str, list[str]], checks_failed: str = ""
    ) -> PhaseStatus:
        if still:
            detail = "; ".join(f"{a}: {', '.join(m)}" for a, m in still.items())
            msg = f"gate failed after one repair request, missing or empty: {detail}"
            msg = f"{msg}; {checks_failed}" if checks_failed else msg
            emit("gate_failed", ctx.run_id, self.key, None, msg, missing=still)
            return {"status": "failed", "message": msg, "missing": still}
        if checks_failed:
            emit("gate_failed", ctx.run_id, self.key, None, checks_failed)
            return {"status": "failed", "message": checks_failed}
        passed = f"phase {phase.label} {phase.name}: every deliverable present"
        emit("gate_passed", ctx.run_id, self.key, None, passed)
        return {"status": "completed"}

    def approval(self, state: RunState, runtime: Runtime[RunContext]) -> Command[str]:
        """Wait for a person: approve goes on (feedback goes to the next phase), reject runs it again."""
        ctx = runtime.context
        phase = ctx.pipeline.phase(self.key)
        emit(
            "awaiting_approval",
            ctx.run_id,
            self.key,
            None,
            f"phase {phase.label} {phase.name} waits for approval",
        )
        decision = interrupt({"run_id": ctx.run_id, "phase": self.key, "label": phase.label})
        text = str(decision.get("text") or "")
        if decision.get("approve"):
            update: RunUpdate = {"phase_status": {self.key: {"status": "completed", "approved": True}}}
            if text and self.next_key:
                update["feedback"] = {self.next_key: text}
            return Command(goto=self.next_node, update=update)
        archive_phase(ctx.run_dir, self.key)
        start = _head(state, self.key)
        if ctx.workspace is not None and start:
            from orchestrator.workspace import rewind

            rewind(ctx.workspace, start, f"{self.key}.rejected")
        again: RunUpdate = {
            "outputs": dict.fromkeys(self._mine(state.get("outputs"))),
            "requests": dict.fromkeys(self._mine(state.get("requests"))),
            "dispatched": dict.fromkeys(self._mine(state.get("dispatched"))),
            "fix_rounds": {self.key: None},  # the rewound attempt's: its commits are gone
            "feedback": {self.key: text},
            "phase_status": {self.key: {"status": "running", "rejected": text}},
        }
        return Command(goto=self.name(NodeKind.ROUTE), update=again)

    # Edges.

    def after_route(self, state: RunState) -> str:
        return END if state["phase_status"][self.key]["status"] == "failed" else self.name(NodeKind.PRIMARY)

    def after_dispatch(self, state: RunState) -> list[Send] | str:
        batch = (state.get("batch") or {}).get(self.key) or []
        if not batch:
            return self.name(NodeKind.GATE)
        return [Send(self.name(NodeKind.COLLABORATOR), payload) for payload in batch]

    def after_gate(self, state: RunState) -> str:
        status = state["phase_status"][self.key]["status"]
        if status == "failed":
            return END
        if status == "running":  # a fix round ran: judge again
            return self.name(NodeKind.GATE)
        return self.name(NodeKind.APPROVAL) if self.needs_approval else self.next_node

    def add_to(self, graph: Graph) -> None:
        """Add this phase's nodes and edges; the graph's shape decides where its gate leads."""
        route, primary, dispatch, collaborator, gate, approval = (self.name(k) for k in NodeKind)
        graph.add_node(route, self.route)
        graph.add_node(primary, self.primary)
        graph.add_node(dispatch, self.dispatch)
        # A Send payload, not the state: `input_schema` keeps its keys out of the state's channels.
        graph.add_node(collaborator, cast(Any, self.collaborator), input_schema=RunState)
        graph.add_node(gate, self.gate, defer=True)
        graph.add_conditional_edges(route, self.after_route, [primary, END])
        graph.add_edge(primary, dispatch)
        graph.add_conditional_edges(dispatch, self.after_dispatch, [collaborator, gate])
        graph.add_edge(collaborator, dispatch)
        if self.needs_approval:
            graph.add_node(approval, self.approval, destinations=(self.next_node, route))
            graph.add_conditional_edges(gate, self.after_gate, [approval, END, gate])
        else:
            ends = list(dict.fromkeys([self.next_node, END, gate]))
            graph.add_conditional_edges(gate, self.after_gate, ends)
