"""Artifacts: deliverable files, `manifest.json` and `report.md`, written atomically.

Layout: `<out>/<run_id>/<phase>/<agent>/<deliverable-slug>.md`. Every path is
built from slugs and checked to stay inside the run folder: whatever a card or a
model says, nothing is written elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from orchestrator.checks.results import markdown as checks_markdown
from orchestrator.deliverables import slug
from orchestrator.errors import NotFound, UnsafePath, WriteFailed
from orchestrator.result import PhaseResult, RunResult

MANIFEST = "manifest.json"
REPORT = "report.md"
_HEADER_END = "\n<!-- /phasegraph -->\n"
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def safe_join(root: Path, *parts: str) -> Path:
    """`root/part/...`, refusing absolute parts, `..`, odd names and symlinks on the way."""
    root = root.resolve()
    path = root
    for part in parts:
        for seg in Path(part).parts:
            if seg in ("..", ".") or os.path.isabs(seg) or not _SAFE_SEGMENT.match(seg):
                raise UnsafePath(f"refused path segment {seg!r} under {root}")
            path = path / seg
            if path.is_symlink():
                raise UnsafePath(f"refused symlink {path} inside the run folder")
    if root != path and root not in path.parents:
        raise UnsafePath(f"refused path {path}: outside {root}")
    return path


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` so a reader (or a crash) never sees half a file; `WriteFailed` if it cannot."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise WriteFailed(f"cannot write {path}: {_reason(exc)}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise WriteFailed(f"cannot write {path}: {_reason(exc)}") from None
        raise


def check_writable(folder: Path, what: str) -> None:
    """Create `folder` and write a scratch file in it: a run finds out before it pays for a model call.

    `what` names the folder in the error (`--out`).
    """
    reason = _cannot_write_in(folder)
    if reason is not None:
        raise WriteFailed(f"{what} {folder}: cannot write there ({reason})")


def check_file_writable(path: Path, what: str) -> None:
    """Like `check_writable`, for a file that will be written at `path` (`--junit`)."""
    reason = "Is a directory" if path.is_dir() else _cannot_write_in(path.parent)
    if reason is not None:
        raise WriteFailed(f"{what} {path}: cannot write there ({reason})")


def _cannot_write_in(folder: Path) -> str | None:
    """Why no file can be created in `folder` (created if missing), or None when one can."""
    if folder.exists() and not folder.is_dir():
        return "Not a directory"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".phasegraph-check-"):
            return None
    except OSError as exc:
        return _reason(exc)


def _reason(exc: OSError) -> str:
    """`Permission denied`, `Not a directory`, `No space left on device`: the OS's words, no traceback."""
    return exc.strerror or type(exc).__name__


def deliverable_relpath(phase: str, agent: str, name: str) -> str:
    """The run-relative path of one deliverable (posix)."""
    return f"{slug(phase)}/{agent_segment(agent)}/{slug(name)}.md"


def agent_segment(agent: str) -> str:
    """An agent id as a folder name (ids are slugs already; anything else is slugged)."""
    return agent if _SAFE_SEGMENT.match(agent) and ".." not in agent else slug(agent).replace("_", "-")


def write_deliverable(run_dir: Path, phase: str, agent: str, name: str, text: str, *, run_id: str) -> str:
    """Write one deliverable with a short provenance header; return its run-relative path."""
    rel = deliverable_relpath(phase, agent, name)
    path = safe_join(run_dir, rel)
    header = f"# {name}\n\n_{agent} · {phase} · run {run_id}_{_HEADER_END}\n"
    atomic_write(path, header + text.rstrip() + "\n")
    return rel


def read_deliverable(path: Path) -> str:
    """A deliverable's text without the provenance header."""
    text = path.read_text(encoding="utf-8")
    _, sep, body = text.partition(_HEADER_END)
    return body.lstrip("\n").rstrip("\n") if sep else text


def write_manifest(run_dir: Path, result: RunResult, *, html: bool = True) -> None:
    """Write `manifest.json` and `report.md` beside the deliverables, and `report.html` unless
    `html` is False (a gate's interim manifest: the page is drawn once, when the command ends)."""
    data = result.model_dump(mode="json", exclude={"run_dir"})
    atomic_write(run_dir / MANIFEST, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    atomic_write(run_dir / REPORT, render_report(result))
    if html:
        from orchestrator.report_html import REPORT_HTML, render_manifest

        atomic_write(run_dir / REPORT_HTML, render_manifest(data, run_dir))


def read_manifest(run_dir: Path) -> RunResult:
    """Load a run's manifest; `NotFound` when the folder holds none."""
    path = run_dir / MANIFEST
    if not path.is_file():
        raise NotFound(f"no {MANIFEST} in {run_dir}")
    try:
        result = RunResult.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise NotFound(f"{path}: not a phasegraph manifest ({str(exc).splitlines()[0]})") from None
    return _with_run_dir(result, run_dir)


def _with_run_dir(result: RunResult, run_dir: Path) -> RunResult:
    result.run_dir = str(run_dir)
    for ph in result.phases:
        ph.run_dir = str(run_dir)
    return result


def render_phase_markdown(phase: PhaseResult, *, excerpt_chars: int = 0) -> str:
    """A phase as markdown: who was chosen and why, deliverables, usage.

    With `excerpt_chars`, each deliverable shows the start of its text and each
    collaborator the brief it was handed (what a notebook shows; `report.md` links
    to the files instead).
    """
    lines = [f"### Phase {phase.label} · {phase.name or phase.key} — {phase.status}", ""]
    if phase.primary:
        why = (
            ", ".join(f"{r.trigger} `{r.matched}` (+{r.points:g})" for r in phase.reasons[:6])
            or "highest score"
        )
        lines.append(f"**Primary:** `{phase.primary}` — {why}")
    texts: dict[str, dict[str, str]] = {}
    if excerpt_chars > 0:
        try:
            texts = phase.deliverables
        except OSError:
            texts = {}
    for agent in phase.agents:
        by = f", handed off by `{agent.handed_off_by}`" if agent.handed_off_by else ""
        lines.append(f"- `{agent.id}` ({agent.role}{by})")
        if excerpt_chars > 0 and agent.brief:
            lines.append(f"  - _brief:_ {_excerpt(agent.brief, excerpt_chars)}")
        for d in agent.deliverables:
            fixed = " (repaired)" if d.repaired else ""
            lines.append(f"  - {d.name}: `{d.path}` ({d.chars} chars){fixed}")
            text = texts.get(agent.id, {}).get(d.name, "")
            if text:
                lines.append(f"    > {_excerpt(text, excerpt_chars)}")
    for agent_id, items in phase.missing.items():
        lines.append(f"- **missing from `{agent_id}`:** {', '.join(items)}")
    checks = checks_markdown(phase.checks, phase.checks_python, phase.checks_note, phase.fix_rounds)
    if checks:
        lines.extend(["", *checks])
    if phase.message:
        lines.append(f"\n{phase.message}")
    u = phase.usage
    lines.append(
        f"\n_usage: {u.calls} calls, {u.prompt_tokens} prompt + {u.completion_tokens} completion tokens "
        f"({u.cached_tokens} cached), ${u.cost_usd:.4f}_"
    )
    return "\n".join(lines) + "\n"


def _excerpt(text: str, limit: int) -> str:
    """The start of `text` on one line, cut at a word boundary."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + " …"


def render_report(result: RunResult) -> str:
    """`report.md`: the run for people."""
    u = result.usage
    lines = [
        f"# phasegraph run {result.run_id}",
        "",
        f"- **Task:** {result.task}",
        f"- **Status:** {result.status}" + (f" — {result.message}" if result.message else ""),
        f"- **Pipeline:** {result.pipeline}",
        f"- **Provider:** {result.provider} ({result.model})",
        f"- **Usage:** {u.calls} calls, {u.prompt_tokens} prompt / {u.completion_tokens} completion / "
        f"{u.cached_tokens} cached tokens, ${u.cost_usd:.4f}",
        "",
        *_mermaid_section(result),
    ]
    lines += _workspace_lines(result)
    for phase in result.phases:
        lines.append(render_phase_markdown(phase))
    return "\n".join(lines)


def _workspace_lines(result: RunResult) -> list[str]:
    """The run's code: its branch and diff stat, or why it wrote none."""
    ws = result.workspace
    if ws is None:
        return []
    lines = ["## Code", "", f"- **Branch:** `{ws.branch}` (base `{ws.base[:12]}`, head `{ws.head[:12]}`)"]
    lines.append(f"- **Workspace:** `{ws.path}`" + (" (in place)" if ws.in_place else ""))
    if ws.head == ws.base:
        why = (
            " because the provider is offline (it never invents code)" if result.provider == "offline" else ""
        )
        lines.append(f"- No code was written{why}.")
    else:
        added, removed = sum(f.added for f in ws.files), sum(f.removed for f in ws.files)
        lines.append(f"- **Diff stat:** {len(ws.files)} file(s) changed, +{added} -{removed}")
        lines += [f"  - `{f.path}` +{f.added} -{f.removed}" for f in ws.files]
        lines.append(
            f"- Review: `phasegraph diff {result.run_id}`; bring home: `phasegraph apply {result.run_id}`."
        )
    return [*lines, ""]


def _mermaid_section(result: RunResult) -> list[str]:
    """The handoff graph as a Mermaid block (GitHub, GitLab and JupyterLab draw it); `report.html`
    has the same graph as SVG."""
    from orchestrator._handoff_graph import build_graph, mermaid

    graph = build_graph(result.model_dump(mode="json", include={"phases"}))
    if not graph.clusters:
        return []
    return ["## Handoffs", "", "```mermaid", mermaid(graph), "```", ""]


def find_run_dir(out_dir: Path, run_id: str) -> Path:
    """The folder of `run_id` under `out_dir`."""
    path = safe_join(out_dir, run_id)
    if not (path / MANIFEST).is_file():
        raise NotFound(f"run {run_id!r} has no manifest under {out_dir}")
    return path
