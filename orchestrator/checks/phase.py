"""A phase's real checks inside a run: run them, show them to the agents, let the gate judge them.

Called by the phase's nodes (`orchestrator._phase`): `run_phase_checks` before its
agents work (its result is checkpointed in `RunState.checks`, so a resumed run does
not run them again), `checks_blocks` for the agents' prompts, and `failing_checks`
for the gate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.checks.model import CheckPlan, CheckResult, FixRound
from orchestrator.checks.selection import options_for
from orchestrator.prompts import data_block
from orchestrator.state import PhaseChecks, RunState

if TYPE_CHECKING:
    from orchestrator._turn import RunContext
    from orchestrator.phases import PhaseSpec


async def run_phase_checks(
    ctx: RunContext, phase: PhaseSpec, fix_round: int = 0, plan: CheckPlan | None = None
) -> PhaseChecks | None:
    """Plan and run the phase's checks against the run's code (its workspace, else the project);
    None when it runs none. A fix round passes the phase's `plan` (`phase_plan`) and `fix_round`:
    their files then go to `checks/<phase>/fix-N/`."""
    from orchestrator._turn import emit
    from orchestrator.checks.selection import plan_checks
    from orchestrator.checks.suite import run_checks

    options = options_for(phase, ctx.check_options)
    code = ctx.workspace.path if ctx.workspace is not None else ctx.project_dir
    if ctx.workspace is None and options is not None and options.code is not None and options.code.is_dir():
        code = options.code  # `verify --from RUN_ID`: that run's code
    if options is None or code is None:
        return None
    if plan is None:
        plan = plan_checks(code, options, environment=ctx.project_dir)
    keep = ctx.run_dir / "checks" / phase.key
    results = await run_checks(
        plan,
        code,
        options,
        secrets=_secrets(ctx),
        keep_dir=keep / f"fix-{fix_round}" if fix_round else keep,
        run_dir=ctx.run_dir,
        environment=ctx.project_dir,
    )
    for r in results:
        emit("check_finished", ctx.run_id, phase.key, None, f"{r.name}: {r.status} ({r.message})")
    if not results:
        emit("check_finished", ctx.run_id, phase.key, None, plan.note)
    return PhaseChecks(
        results=[r.model_dump(mode="json") for r in results],
        python=plan.python,
        note=plan.note,
        plan=plan.model_dump(mode="json"),
    )


def _secrets(ctx: RunContext) -> list[str]:
    """The run's known secrets: their values are kept out of a check's environment and output."""
    keys = (ctx.settings.openai_api_key, ctx.settings.azure_api_key)
    return [k.get_secret_value() for k in keys if k is not None]


def phase_plan(state: RunState, key: str) -> CheckPlan | None:
    """The checks phase `key` ran (None before it ran any, or in a checkpoint older than the field)."""
    found = (state.get("checks") or {}).get(key)
    plan = found.get("plan") if found else None
    return CheckPlan.model_validate(plan) if plan else None


def phase_results(state: RunState, key: str) -> list[CheckResult]:
    found = (state.get("checks") or {}).get(key)
    return [CheckResult.model_validate(r) for r in found["results"]] if found else []


def checks_blocks(state: RunState, key: str) -> list[str]:
    """The phase's check results as one delimited data block for an agent's prompt (none when the
    phase runs no checks)."""
    from orchestrator.checks.results import prompt_text

    found = (state.get("checks") or {}).get(key)
    if not found:
        return []
    text = prompt_text(phase_results(state, key), found["note"])
    return [data_block("check-results", "the project's checks", text)]


def phase_rounds(state: RunState, key: str) -> list[FixRound]:
    """The fix rounds phase `key` ran so far, in order."""
    return [FixRound.model_validate(r) for r in (state.get("fix_rounds") or {}).get(key) or []]


def failing_checks(state: RunState, key: str) -> list[CheckResult]:
    """The phase's checks that did not pass: any one fails the gate."""
    return [r for r in phase_results(state, key) if not r.ok]


def failure_message(failing: list[CheckResult]) -> str:
    """One line for the gate: which checks failed and how."""
    parts = []
    for r in failing:
        first = r.failures[0].id if r.failures else ""
        parts.append(f"{r.name} {r.status} ({r.message}{'; first: ' + first if first else ''})")
    return "checks failed: " + "; ".join(parts)
