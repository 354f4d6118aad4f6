"""What a writing phase's turn does with its file changes: commit them, report them, show files.

Private to `orchestrator._turn` and `orchestrator._phase`. The rules for a change are in
`orchestrator.changes`, the workspace in `orchestrator.workspace`; this module ties
them to a run's context: which workspace, which limits, which files an agent sees.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from orchestrator._git import git, run_git
from orchestrator.changes import ChangeLimits, TurnChanges, action_of, clean_path, commit_turn
from orchestrator.prompts import data_block
from orchestrator.state import ChangeRecord
from orchestrator.workspace import Workspace, diff_stat, head, render_stat

if TYPE_CHECKING:
    from orchestrator._turn import RunContext

_SHOWN_REFUSALS = 50
"""Refused changes a deliverable's markdown lists one by one (the manifest has them all)."""


def limits(ctx: RunContext) -> ChangeLimits:
    return ChangeLimits(max_files=ctx.settings.max_change_files, max_bytes=ctx.settings.max_change_bytes)


def apply_turn(
    ctx: RunContext,
    phase: str,
    agent: str,
    seq: str,
    changes: Sequence[dict[str, Any]],
    partial: frozenset[str] = frozenset(),
) -> TurnChanges:
    """Commit one turn's changes to the run's workspace (none without a workspace: nothing to write to);
    `partial` are the files the turn was shown only the start of."""
    ws = ctx.workspace
    if ws is None:
        refused = "the run has no workspace, so no file was written"
        return TurnChanges([_refused(c, refused) for c in changes], None)
    turn = f"{phase}/{agent}/{seq}"
    return commit_turn(
        ws, changes, limits(ctx), phase=phase, agent=agent, turn=turn, run_id=ctx.run_id, partial=partial
    )


def _refused(change: dict[str, Any], reason: str) -> ChangeRecord:
    return ChangeRecord(
        path=str(change.get("path", "")),
        action=action_of(change),
        deliverable=str(change.get("deliverable", "")),
        status="refused",
        reason=reason,
    )


def files_section(ws: Workspace | None, done: TurnChanges, deliverable: str) -> str:
    """The markdown a deliverable gains: the files the turn changed for it, with a diff stat,
    and the changes that were refused, with why. Empty when the turn named no file for it."""
    mine = [r for r in done.records if r["deliverable"] == deliverable]
    if not mine:
        return ""
    lines = ["", "## Files changed", ""]
    applied = {clean_path(r["path"]) for r in mine if r["status"] == "applied"}
    if ws is not None and done.commit is not None and applied:
        stats = [s for s in diff_stat(ws, f"{done.commit}^", done.commit) if s.path in applied]
        lines += render_stat(stats)
        lines.append(f"\n_commit `{done.commit[:12]}` on branch `{ws.branch}`_")
    elif applied:
        lines.append("- no file changed (the content was already there)")
    refused = [r for r in mine if r["status"] == "refused"]
    if refused:
        lines += ["", "### Refused changes", ""]
        lines += [
            f"- `{_shown(r['path'])}` ({r['action']}): {r['reason']}" for r in refused[:_SHOWN_REFUSALS]
        ]
        if len(refused) > _SHOWN_REFUSALS:
            lines.append(f"- ... and {len(refused) - _SHOWN_REFUSALS} more (see manifest.json)")
    return "\n".join(lines) + "\n"


def _shown(path: str) -> str:
    """A refused path as markdown can show it: escapes for control characters, no backticks, short."""
    return path.encode("unicode_escape").decode("ascii")[:200].replace("`", "'")


def refresh_snapshot(ctx: RunContext) -> None:
    """Scan the workspace again when a commit changed it since the last scan: later phases
    route on, and read, the code the run wrote."""
    from orchestrator.project import ProjectSnapshot
    from orchestrator.routing import Router

    ws = ctx.workspace
    if ws is None:
        return
    now = head(ws)
    if now == ctx.scanned_head:
        return
    ctx.snapshot = ProjectSnapshot.scan(ws.path)
    ctx.router = Router(ctx.catalog, ctx.snapshot)
    ctx.scanned_head = now


class Files(Protocol):
    """What a turn reads of the project: its file list and the files' text."""

    files: list[str]

    def matching(self, patterns: Sequence[str]) -> list[str]: ...

    def read_text(self, rel: str, limit: int) -> str: ...


class TreeAt:
    """The workspace's files as they were at one commit (`git ls-tree`, `git show`).

    A turn reads the project as it was when its phase started, not as the turns before
    it left it: the same turn, replayed after a crash, gets the same prompt (and finds
    its answer in the journal) however many commits the phase has made since.
    """

    def __init__(self, ws: Workspace, commit: str) -> None:
        from orchestrator.project import SKIP_DIRS, ProjectSnapshot

        self.ws, self.commit = ws, commit
        listed = git(ws.path, "ls-tree", "-r", "-z", "--name-only", commit).split("\0")
        self.files = sorted(f for f in listed if f and not SKIP_DIRS.intersection(f.split("/")[:-1]))
        self._index = ProjectSnapshot(root=ws.path, files=self.files)

    def matching(self, patterns: Sequence[str]) -> list[str]:
        return self._index.matching(patterns)

    def read_text(self, rel: str, limit: int) -> str:
        done = run_git(self.ws.path, ["cat-file", "blob", f"{self.commit}:./{rel}"])
        if done.returncode != 0:
            return ""
        return done.stdout[: max(limit, 0) * 4].decode("utf-8", errors="replace")[: max(limit, 0)]


def files_at(ctx: RunContext, commit: str | None) -> Files:
    """What a turn reads: the workspace at its phase's first commit, else the run's one project scan."""
    if ctx.workspace is None or not commit:
        return ctx.snapshot
    tree = ctx.trees.get(commit)
    if tree is None:
        tree = ctx.trees[commit] = TreeAt(ctx.workspace, commit)
    return tree


def phase_head(ctx: RunContext) -> str | None:
    """The workspace's commit as a phase starts (kept in its status, so a resumed turn reads the same)."""
    return head(ctx.workspace) if ctx.workspace is not None else None


def named_files(files: Files, texts: Iterable[str]) -> list[str]:
    """Project files whose path appears in `texts` (the task, earlier deliverables), shallowest first."""
    blob = "\n".join(texts)
    found = [f for f in files.files if "/" in f or "." in f]
    return sorted((f for f in found if f in blob), key=lambda p: (p.count("/"), p))


CUT_NOTE = (
    "\n[... the file goes on: only its start is shown, so this turn cannot write it whole "
    "(a write is refused); change it with `edit` ...]"
)
"""Ends a file a writing turn sees only the start of (`changes.review` refuses writes to it)."""


def file_blocks_for(
    files: Files, paths: Sequence[str], budget: int, per_file: int, *, mark_cut: bool = False
) -> tuple[list[str], list[str]]:
    """Data blocks of `paths` (whole files, when they fit), and the paths shown only in part;
    `mark_cut` ends such a file with `CUT_NOTE` (a phase that writes)."""
    blocks: list[str] = []
    cut: list[str] = []
    used = 0
    for rel in paths:
        if used >= budget:
            break
        limit = min(per_file, budget - used)
        text = files.read_text(rel, limit + 1)
        if not text.strip():
            continue
        if len(text) > limit:
            text = text[:limit]
            cut.append(rel)
            if mark_cut:
                text += CUT_NOTE
        used += len(text)
        blocks.append(data_block("project-file", rel, text))
    return blocks, cut
