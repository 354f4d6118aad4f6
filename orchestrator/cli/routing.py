"""`phasegraph route` and `phasegraph plan`: who would work on a task, and why, without a model.

Both read the catalogue (flags, `PHASEGRAPH_AGENTS_DIRS`, the project's `./agents`, the
built-in cards), scan the project once, and score the cards, through the run service
(`Runner.route`, `Runner.plan`) as `Orchestrator.route` and `.plan` do. Nothing from
the model stack is imported, so they start fast and cost nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from orchestrator._terminal import terminal_safe
from orchestrator.cli import app
from orchestrator.cli._common import (
    AgentsDirOption,
    JsonOption,
    NoBuiltinAgentsOption,
    ProjectDirOption,
    print_json,
    safe_markup,
)
from orchestrator.cli._task import TaskFileOption, task_text
from orchestrator.phases import PhaseSpec, Pipeline
from orchestrator.routing import Candidate, PlannedPhase, Reason, Route, no_primary_message, plan_json
from orchestrator.run import Runner
from orchestrator.settings import load_settings

TaskArgument = Annotated[
    str | None, typer.Argument(metavar="TASK", help="The task, in plain words (or --task-file).")
]
PipelineOption = Annotated[
    str | None,
    typer.Option("--pipeline", help="Pipeline name (phases/pipelines/NAME.yaml); default from settings."),
]
PhaseOption = Annotated[
    str | None,
    typer.Option("--phase", help="Phase key or label (design, 5b, ...); default: the pipeline's first."),
]
ApprovalGatesOption = Annotated[
    bool, typer.Option("--approval-gates", help="Plan as if every phase waited for a person's approval.")
]


@app.command("route")
def route_command(
    task: TaskArgument = None,
    task_file: TaskFileOption = None,
    project_dir: ProjectDirOption = Path("."),
    phase: PhaseOption = None,
    agents_dir: AgentsDirOption = None,
    pipeline: PipelineOption = None,
    no_builtin_agents: NoBuiltinAgentsOption = False,
    json_output: JsonOption = False,
) -> None:
    """Score every agent for TASK in one phase and show why; exit 1 when no agent fits."""
    text = task_text(task, task_file)
    route, spec = Runner(load_settings(no_builtin_agents=no_builtin_agents or None)).route(
        text, project_dir, phase=phase, agents_dirs=agents_dir or [], pipeline=pipeline
    )
    if json_output:
        print_json(route.model_dump(mode="json"))
    else:
        _print_route(route, spec)
    message = no_primary_message(route, spec)
    if message is not None:
        _fail(message)


@app.command("plan")
def plan_command(
    task: TaskArgument = None,
    task_file: TaskFileOption = None,
    project_dir: ProjectDirOption = Path("."),
    pipeline: PipelineOption = None,
    agents_dir: AgentsDirOption = None,
    approval_gates: ApprovalGatesOption = False,
    check: Annotated[
        list[str] | None, typer.Option("--check", help="Plan with this check command (repeatable).")
    ] = None,
    check_python: Annotated[
        Path | None, typer.Option("--check-python", help="Plan Python checks with this interpreter.")
    ] = None,
    no_builtin_agents: NoBuiltinAgentsOption = False,
    json_output: JsonOption = False,
) -> None:
    """The whole run for TASK, phase by phase, with the checks it would run and why; no model call;
    exit 1 when a phase has no agent."""
    from orchestrator.checks.model import CheckOptions

    text = task_text(task, task_file)
    checks = CheckOptions(commands=check or None, python=check_python)
    chosen, planned = Runner(load_settings(no_builtin_agents=no_builtin_agents or None)).plan(
        text,
        project_dir,
        agents_dirs=agents_dir or [],
        pipeline=pipeline,
        approval_gates=approval_gates,
        checks=checks,
    )
    if json_output:
        print_json(plan_json(chosen, planned))
    else:
        _print_plan(chosen, planned)
    messages = [p.message for p in planned if p.message]
    if messages:
        _fail(*messages)


def _fail(*messages: str) -> None:
    for message in messages:
        print(f"phasegraph: {terminal_safe(message, one_line=True)}", file=sys.stderr)
    raise typer.Exit(1)


def _console() -> Console:
    return Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 160)


def _print_route(route: Route, phase: PhaseSpec) -> None:
    console = _console()
    console.print(
        f"[bold]{safe_markup(phase.name)}[/] ({safe_markup(phase.key)}, phase {safe_markup(phase.label)}): "
        f"primary [bold]{safe_markup(route.primary or '-')}[/]"
        + (f", with {safe_markup(', '.join(route.collaborators))}" if route.collaborators else "")
        + (
            f" (required: {safe_markup(', '.join(route.required_collaborators))})"
            if route.required_collaborators
            else ""
        )
    )
    if route.note:
        console.print(safe_markup(route.note))
    shown = [c for c in route.candidates if c.score > 0 or c.id == route.primary]
    if not shown:
        console.print(f"No agent matched; {len(route.candidates)} serve this phase.", markup=False)
        return
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("#", "agent", "from", "score", "priority", "tier"):
        table.add_column(column, no_wrap=True)
    table.add_column("reasons", overflow="fold")
    for rank, candidate in enumerate(shown, start=1):
        table.add_row(*_candidate_row(rank, candidate))
    console.print(table)
    hidden = len(route.candidates) - len(shown)
    if hidden:
        console.print(f"{hidden} more serve this phase but matched nothing.", markup=False)


def _candidate_row(rank: int, candidate: Candidate) -> list[str]:
    return [
        str(rank),
        safe_markup(candidate.id),
        candidate.origin + (" (phase defaults)" if candidate.default_deliverables else ""),
        f"{candidate.score:g}",
        "" if candidate.priority is None else str(candidate.priority),
        candidate.tier,
        "\n".join(_reason(r) for r in candidate.reasons),
    ]


def _reason(reason: Reason) -> str:
    shown = reason.pattern
    if reason.matched.lower() != reason.pattern.lower():
        shown = f"{reason.pattern} ~ {reason.matched}"
    return safe_markup(f"+{reason.points:g} {reason.trigger}: {shown}")


def _print_plan(pipeline: Pipeline, planned: list[PlannedPhase]) -> None:
    console = _console()
    about = f": {safe_markup(pipeline.description)}" if pipeline.description else ""
    console.print(f"Pipeline [bold]{safe_markup(pipeline.name)}[/]{about}")
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("phase", "gate", "agent", "role"):
        table.add_column(column, no_wrap=True)
    table.add_column("deliverables", overflow="fold")
    gates = {p.key: p.gate for p in pipeline.phases}
    for item in planned:
        phase, gate = safe_markup(f"{item.label} {item.phase}"), gates[item.phase]
        if item.primary is None:
            table.add_row(phase, gate, "-", "", safe_markup(item.message or ""), end_section=True)
            continue
        agents = list(item.deliverables)
        for index, agent in enumerate(agents):
            table.add_row(
                phase if index == 0 else "",
                gate if index == 0 else "",
                safe_markup(agent),
                "primary"
                if agent == item.primary
                else "collaborator (required)"
                if agent in item.required_collaborators
                else "collaborator",
                safe_markup("; ".join(item.deliverables[agent])),
                end_section=index == len(agents) - 1,
            )
    console.print(table)
    for item in planned:
        if item.checks or item.checks_note:
            python = f" (Python: {safe_markup(item.checks_python)})" if item.checks_python else ""
            console.print(f"Checks of phase {safe_markup(f'{item.label} {item.phase}')}{python}:")
        for check in item.checks:
            console.print(f"  {safe_markup(check.command)}  [dim]({safe_markup(check.why)})[/]")
        if item.checks_note:
            console.print(f"  {safe_markup(item.checks_note)}")
