"""`phasegraph agents list | show | lint`: look at the card catalogue without running anything.

The catalogue is searched in this order: `--agents-dir` flags, then
`PHASEGRAPH_AGENTS_DIRS`, then the project's `./agents`, then the built-in cards.
No model is needed, so nothing from the model stack is imported here.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from pydantic import BaseModel
from rich import box
from rich.console import Console
from rich.table import Table

from orchestrator._roles import card_roles
from orchestrator._terminal import terminal_safe
from orchestrator.cards import AgentCard, load_card
from orchestrator.catalog import Catalog
from orchestrator.cli import app
from orchestrator.cli._common import (
    AgentsDirOption,
    JsonOption,
    NoBuiltinAgentsOption,
    ProjectDirOption,
    print_json,
    safe_markup,
)
from orchestrator.errors import NotFound
from orchestrator.phases import card_deliverables, load_pipeline, own_deliverables, serves
from orchestrator.run import Runner
from orchestrator.settings import load_settings

agents_app = typer.Typer(help="List, show and lint agent cards.", no_args_is_help=True)
app.add_typer(agents_app, name="agents")

_CARD_FILE_SUFFIXES = (".md", ".markdown", ".txt")


def _catalog(agents_dir: list[Path] | None, project_dir: Path, no_builtin: bool = False) -> Catalog:
    """Flags first, then the settings' folders, then the project's and the built-in ones."""
    return Runner(load_settings(no_builtin_agents=no_builtin or None)).catalog(project_dir, agents_dir or [])


def _console() -> Console:
    """Terminal width on a terminal; wide enough for whole rows when piped or captured."""
    return Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 160)


def _is_path(arg: str) -> bool:
    return "/" in arg or "\\" in arg or arg.lower().endswith(_CARD_FILE_SUFFIXES)


@agents_app.command("list")
def list_cards(
    agents_dir: AgentsDirOption = None,
    project_dir: ProjectDirOption = Path("."),
    no_builtin_agents: NoBuiltinAgentsOption = False,
    json_output: JsonOption = False,
) -> None:
    """Every card in the catalogue, sorted by id."""
    catalog = _catalog(agents_dir, project_dir, no_builtin_agents)
    if json_output:
        print_json([card.summary() for card in catalog])
        return
    console = _console()
    table = Table(title=f"{len(catalog)} agents", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("id", no_wrap=True)
    table.add_column("name")
    for column in ("priority", "version", "status"):
        table.add_column(column, no_wrap=True, min_width=len(column))
    table.add_column("source", overflow="fold")
    for card in catalog:
        table.add_row(
            safe_markup(card.id),
            safe_markup(card.name),
            "" if card.priority is None else str(card.priority),
            safe_markup(card.version or ""),
            safe_markup(card.status or ""),
            safe_markup(card.source),
        )
    console.print(table)
    errors = sum(1 for p in catalog.problems if p.severity == "error")
    if errors:
        Console(stderr=True, highlight=False).print(
            f"{errors} file(s) could not be read as cards; see `phasegraph agents lint`", markup=False
        )


@agents_app.command("show")
def show_card(
    id_or_path: Annotated[
        str, typer.Argument(metavar="ID_OR_PATH", help="An agent id, or a card file to parse.")
    ],
    agents_dir: AgentsDirOption = None,
    project_dir: ProjectDirOption = Path("."),
    json_output: JsonOption = False,
) -> None:
    """One card, parsed: from a file when given a path, otherwise looked up by id."""
    path = Path(id_or_path)
    catalog: Catalog | None = None
    if path.is_file():
        card = load_card(path)
    elif _is_path(id_or_path):
        raise NotFound(f"no card file {id_or_path}")
    else:
        catalog = _catalog(agents_dir, project_dir)
        card = catalog.get(id_or_path)
    served = served_phases(card, project_dir)
    if json_output:
        print_json({**card.model_dump(mode="json"), "serves": [s.model_dump(mode="json") for s in served]})
        return
    _render(card, catalog)
    _render_served(card, served)


@agents_app.command("lint")
def lint_cards(
    agents_dir: AgentsDirOption = None,
    project_dir: ProjectDirOption = Path("."),
    pipeline: Annotated[
        str | None,
        typer.Option(
            "--pipeline",
            help="Also check every agent is reachable by, and every phase served in, this pipeline.",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Check every card: one `PATH:LINE: severity: message` line per problem; exit 1 on errors."""
    catalog = _catalog(agents_dir, project_dir)
    labels: list[str] = []
    source = "<pipeline>"
    if pipeline is not None:
        from orchestrator.phases import load_pipeline

        spec = load_pipeline(pipeline, project_dir=project_dir)
        labels = list(dict.fromkeys(label for phase in spec.phases for label in phase.collects))
        source = spec.source or source
    problems = catalog.lint(labels, phases_source=source)
    errors = sum(1 for p in problems if p.severity == "error")
    if json_output:
        print_json([p.model_dump() for p in problems])
    else:
        for problem in problems:
            typer.echo(terminal_safe(f"{problem.path}:{problem.line}: {problem.severity}: {problem.message}"))
        warnings = len(problems) - errors
        typer.echo(f"{len(catalog)} cards: {errors} error(s), {warnings} warning(s)", err=True)
    raise typer.Exit(1 if errors else 0)


class ServedPhase(BaseModel):
    """A phase of the full pipeline the card serves, and whose list its deliverables there are."""

    phase: str
    label: str
    deliverables: list[str]
    source: Literal["card", "phase"]
    """`card`: the card lists them; `phase`: the card lists none, so the phase's defaults apply."""


def served_phases(card: AgentCard, project_dir: Path) -> list[ServedPhase]:
    """Every phase of the full pipeline (the project's phase files first) the card serves."""
    pipeline = load_pipeline("full", project_dir=project_dir)
    return [
        ServedPhase(
            phase=phase.key,
            label=phase.label,
            deliverables=card_deliverables(card, phase),
            source="card" if own_deliverables(card, phase) else "phase",
        )
        for phase in pipeline.phases
        if serves(card, phase)
    ]


def _render_served(card: AgentCard, served: list[ServedPhase]) -> None:
    console = _console()
    why = (
        ""
        if any(card.deliverables.values())
        else f"  (lists no deliverables; role: {', '.join(card_roles(card))})"
    )
    console.print(f"\n[bold]Serves[/bold]{why}")
    if not served:
        console.print("  no phase of the full pipeline", markup=False)
    for item in served:
        whose = "the card's own" if item.source == "card" else "the phase's defaults"
        console.print(safe_markup(f"  {item.label} {item.phase}: {whose}: {'; '.join(item.deliverables)}"))


def _render(card: AgentCard, catalog: Catalog | None) -> None:
    """A readable view of one card for people (the JSON view is for programs)."""
    console = _console()
    facts = [
        f"id [bold]{safe_markup(card.id)}[/bold]",
        f"priority {card.priority if card.priority is not None else '-'}",
        f"version {safe_markup(card.version or '-')}",
        f"status {safe_markup(card.status or '-')}",
        f"format {card.format}",
    ]
    console.print(f"[bold]{safe_markup(card.name)}[/bold]")
    console.print("  ".join(facts))
    console.print(f"[dim]{safe_markup(card.source)}[/dim]")
    if card.purpose:
        console.print()
        console.print(safe_markup(card.purpose))
    if card.competencies:
        console.print(f"\n[bold]Competencies[/bold]  {safe_markup(', '.join(card.competencies))}")
    if card.tech_stack:
        console.print(f"[bold]Tech stack[/bold]  {safe_markup(', '.join(card.tech_stack))}")
    if card.triggers:
        table = Table(
            title="Triggers", title_justify="left", show_header=False, box=None, padding=(0, 2, 0, 0)
        )
        for kind, patterns in card.triggers.items():
            table.add_row(kind, safe_markup(", ".join(patterns)))
        console.print()
        console.print(table)
    if card.collaborators:
        table = Table(
            title="Works with", title_justify="left", show_header=False, box=None, padding=(0, 2, 0, 0)
        )
        for collaborator in card.collaborators:
            who = collaborator.id
            if catalog is not None and collaborator.kind == "group":
                members = [m for m in catalog.group_members(collaborator.id) if m != card.id]
                who = f"{who} ({', '.join(members) or 'no agent'})"
            elif catalog is not None and catalog.find(collaborator.id) is None:
                who = f"{who} (not in the catalogue)"
            table.add_row(safe_markup(who), collaborator.kind, safe_markup(collaborator.note))
        console.print()
        console.print(table)
    if card.deliverables:
        console.print("\n[bold]Deliverables[/bold]")
        for label, items in card.deliverables.items():
            name = card.phase_names.get(label)
            console.print(f"  Phase {label}{f' ({safe_markup(name)})' if name else ''}")
            for item in items:
                console.print(f"    - {safe_markup(item)}")
    if card.sections:
        console.print(f"\n[bold]Sections[/bold]  {safe_markup(', '.join(card.sections))}")
    for warning in card.warnings:
        console.print(f"[yellow]warning:[/yellow] {safe_markup(warning)}")
