"""`report.html`: a run as one self-contained page, and the same picture for notebooks.

The page carries everything inline (styles and SVG drawings, no script, no font, no
image from anywhere), so it opens offline, without JavaScript, and makes no request.
It is rendered from the manifest's JSON, so fields other parts of phasegraph add to the
manifest (`workspace`, per-agent `changes`, per-phase `checks`, a handoff's `by`) are
shown when present and simply absent when not. Everything a model wrote is untrusted:
Jinja2 escapes every value, deliverables go through markdown-it with raw HTML and images
off, and graph labels are cut to plain words (`_handoff_graph.safe_label`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

from orchestrator._charts import agent_totals, call_rows, phase_colours, spend_rows, timeline_svg
from orchestrator._handoff_graph import build_graph, graph_svg
from orchestrator.result import RunResult

REPORT_HTML = "report.html"
DELIVERABLE_CHARS = 40_000
"""Characters of one deliverable the page shows; the file on disk keeps the rest."""
_TEMPLATES = Path(__file__).resolve().parent / "templates"


@cache
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def _markdown() -> MarkdownIt:
    """CommonMark with tables; raw HTML is shown as text, images are not loaded (no request)."""
    return MarkdownIt("commonmark", {"html": False}).enable("table").disable("image")


def markdown_html(text: str) -> Markup:
    """Model-written markdown as safe HTML."""
    return Markup(_markdown().render(text))


def render_html(result: RunResult) -> str:
    """The whole page for `result`, deliverables read from its run folder.

    A run read back from its checkpoint (`runs show`) does not know the budget its last
    command ran under; the `manifest.json` that command wrote does, so it is taken from there.
    """
    manifest = result.model_dump(mode="json")
    run_dir = Path(result.run_dir) if result.run_dir else None
    if manifest.get("budget") is None and run_dir is not None:
        manifest["budget"] = _recorded_budget(run_dir)
    return render_manifest(manifest, run_dir)


def _recorded_budget(run_dir: Path) -> dict[str, Any] | None:
    from orchestrator.artifacts import read_manifest
    from orchestrator.errors import NotFound

    try:
        budget = read_manifest(run_dir).budget
    except NotFound:
        return None
    return budget.model_dump(mode="json") if budget is not None else None


def render_fragment(result: RunResult) -> str:
    """The graph, the timeline and the spending: what a notebook cell shows."""
    manifest = result.model_dump(mode="json")
    return _env().get_template("report.html.j2").render(_context(manifest, None), full=False)


def render_manifest(manifest: Mapping[str, Any], run_dir: Path | None) -> str:
    """The page from a manifest's JSON (`RunResult.model_dump(mode="json")`)."""
    return _env().get_template("report.html.j2").render(_context(manifest, run_dir), full=True)


def _context(manifest: Mapping[str, Any], run_dir: Path | None) -> dict[str, Any]:
    """What the template draws from: the drawings are built here, every other value is escaped there."""
    graph = build_graph(manifest)
    svg, layout_note = graph_svg(graph)
    colours = phase_colours(manifest)
    rows = call_rows(manifest)
    budget = manifest.get("budget")
    phases = manifest.get("phases") or []
    phase_usage = {f"{p.get('label')} · {p.get('key')}": p.get("usage") or {} for p in phases}
    return {
        "m": manifest,
        "graph_svg": Markup(svg),
        "layout_note": layout_note,
        "timeline_svg": Markup(timeline_svg(rows, colours)) if rows else None,
        "calls": rows,
        "untimed": any(not r.timed for r in rows),
        "colours": colours,
        "by_agent": spend_rows(agent_totals(manifest), budget),
        "by_phase": spend_rows(phase_usage, budget),
        "budget": budget,
        "texts": _texts(manifest, run_dir),
        "markdown": markdown_html,
        "failures_first": _failures_first,
        "failed_tests": _failed_tests,
        "change_stat": _change_stat,
    }


def _texts(manifest: Mapping[str, Any], run_dir: Path | None) -> dict[str, str]:
    """Deliverable path -> its text (cut at `DELIVERABLE_CHARS`), for the paths that can be read."""
    from orchestrator.artifacts import read_deliverable, safe_join
    from orchestrator.errors import UnsafePath

    if run_dir is None:
        return {}
    texts: dict[str, str] = {}
    for phase in manifest.get("phases") or []:
        for agent in phase.get("agents") or []:
            for d in agent.get("deliverables") or []:
                try:
                    text = read_deliverable(safe_join(run_dir, d["path"]))
                except (OSError, UnsafePath, UnicodeDecodeError):
                    continue
                texts[d["path"]] = _cut(text)
    return texts


def _cut(text: str) -> str:
    """`text` cut at `DELIVERABLE_CHARS`, its final check results (`checks.final`) kept whole and
    their marker (an HTML comment the page would show escaped) left out."""
    from orchestrator.checks.final import MARKER

    head, _, section = text.partition(MARKER)
    cut = head[:DELIVERABLE_CHARS]
    return cut + ("\n\n… (cut here; the file has the rest)\n\n" if cut != head else "") + section


def _failures_first(checks: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Checks with the failed, errored and timed-out ones first."""
    return sorted(checks, key=lambda c: c.get("status") == "passed")


def _failed_tests(check: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The tests of a check that failed or errored (its JUnit `tests`), in the tool's order."""
    return [t for t in check.get("tests") or [] if t.get("status") in ("failed", "error")]


def _change_stat(changes: list[Mapping[str, Any]]) -> str:
    """`3 written, 1 deleted, 1 refused`: one agent's changes in a line."""
    written = sum(1 for c in changes if c.get("action") == "write" and c.get("status") != "refused")
    deleted = sum(1 for c in changes if c.get("action") == "delete" and c.get("status") != "refused")
    refused = sum(1 for c in changes if c.get("status") == "refused")
    return f"{written} written, {deleted} deleted, {refused} refused"
