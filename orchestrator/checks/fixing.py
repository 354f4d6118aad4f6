"""The fix loop: failing checks go back to the agent that wrote the code, as a repair brief.

One round (`fix_round`): choose the agent (`fixer`: the one whose committed files the failures
name, else the primary of the last writing phase), ask it with the writing phase's own output
model and the check results as material, commit its changes in the run's workspace (one
commit, `<phase>/<agent>/fix<N>`), and run the checks again. The gate calls it once per graph
step, so every round is checkpointed; its model call is journaled and its commit found again
by digest, so a resumed run repeats neither. Rounds are capped by `--fix-rounds` and their
calls count against the run's budget like any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.checks.model import CheckResult, FixRound
from orchestrator.checks.results import prompt_text, summary
from orchestrator.prompts import FIX_REQUEST, PHASE_INSTRUCTIONS, data_block
from orchestrator.state import PhaseChecks, RunState

if TYPE_CHECKING:
    from orchestrator._turn import RunContext
    from orchestrator.phases import PhaseSpec


def fixer(
    ctx: RunContext, state: RunState, phase: PhaseSpec, failing: list[CheckResult]
) -> tuple[str, str] | None:
    """(writing phase, agent) to send the failures to; None when no phase of this run wrote code."""
    routes = state.get("routes") or {}
    ran = [
        p
        for p in ctx.pipeline.phases
        if p.writes and p.order < phase.order and p.key in routes and routes[p.key]["primary"]
    ]
    if ctx.workspace is None or not ran:
        return None
    blob = "\n".join(
        [*(f"{c.id}\n{c.message}" for r in failing for c in r.failures), *(r.output_tail for r in failing)]
    )
    owner = None  # the last agent (in turn order) whose committed files the failures name
    order = {p.key: p.order for p in ctx.pipeline.phases}
    turns = sorted((state.get("outputs") or {}).values(), key=lambda o: (order.get(o["phase"], 0), o["seq"]))
    for out in turns:
        if out["phase"] in {p.key for p in ran} and not out.get("imported"):
            paths = [c["path"] for c in out.get("changes") or [] if c["status"] == "applied"]
            if any(p.lstrip("./") in blob for p in paths):
                owner = (out["phase"], out["agent"])
    primary = routes[ran[-1].key]["primary"]
    assert primary is not None
    return owner or (ran[-1].key, primary)


async def fix_round(
    ctx: RunContext, state: RunState, phase: PhaseSpec, failing: list[CheckResult], number: int
) -> tuple[FixRound, PhaseChecks | None] | None:
    """Round `number`: the fixer's changes committed and the phase's checks run again; None when
    there is nobody to ask."""
    from orchestrator._turn import _ask, emit, file_blocks, system_prompt, turn_spec
    from orchestrator._writes import apply_turn, phase_head
    from orchestrator.checks.phase import phase_plan, run_phase_checks
    from orchestrator.phases import card_deliverables
    from orchestrator.providers.base import Message

    chosen = fixer(ctx, state, phase, failing)
    if chosen is None:
        return None
    where, agent = chosen
    wrote = ctx.pipeline.phase(where)
    card = ctx.catalog.get(agent)
    items = card_deliverables(card, wrote)
    emit(
        "fix_round", ctx.run_id, phase.key, agent, f"fix round {number}: {', '.join(r.name for r in failing)}"
    )
    results = prompt_text(failing)
    material = [data_block("check-results", "the project's checks", results)]
    mentioned = [state["task"], results]
    user = ctx.prompts.render(
        PHASE_INSTRUCTIONS,
        phase=wrote,
        task=state["task"],
        deliverables=items,
        collaborators=[],
        feedback="",
        context=material + file_blocks(ctx, card, mentioned, phase_head(ctx)),
    )
    ask = ctx.prompts.render(FIX_REQUEST, failing=[r.name for r in failing])
    system = system_prompt(ctx, card, wrote, state["task"], state["routes"][where])
    spec = turn_spec(card, wrote, items, [])
    output = await _ask(
        ctx,
        spec,
        [system, Message(role="user", content=user), Message(role="user", content=ask)],
        agent,
        where,
    )
    done = apply_turn(ctx, where, agent, f"fix{number}", spec.changes(output))
    again = await run_phase_checks(ctx, phase, fix_round=number, plan=phase_plan(state, phase.key))
    record = FixRound(
        round=number,
        agent=agent,
        phase=where,
        fixing=[f"{r.name}: {r.status} ({summary(r)})" for r in failing],
        commit=done.commit,
        changes=sum(r["status"] == "applied" for r in done.records),
        checks=[CheckResult.model_validate(r) for r in again["results"]] if again else [],
    )
    return record, again
