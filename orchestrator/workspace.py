"""Workspace: where a run writes code, never the user's own working tree.

A run with a phase that writes (`writes: true` in its YAML: build, polish,
write-tests) works in a git workspace under `<project>/.phasegraph/workspaces/<run_id>`:

- a git project gets a `git worktree` on a new branch `phasegraph/<run_id>` from
  its `HEAD`; uncommitted changes are refused (one line naming the files) unless
  `--include-uncommitted` carries them over as the workspace's first commit;
- any other project gets a copy (`.gitignore` honoured, `.phasegraph/` and the
  run's own artifacts left out), made a git repository so every change is a commit;
- `--in-place` (for disposable CI checkouts of a git project) works in the project
  itself, on the same new branch.

Every agent turn's accepted changes are one commit (`orchestrator.changes`).
`diff` shows the run's changes; `bring_home` (`phasegraph apply`) cherry-picks the
run's commits onto the user's branch, or patches a project that is not a git
repository, and refuses with one line when that would clash with local changes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from orchestrator._git import first_line, git, run_git, toplevel
from orchestrator._private import private_dir
from orchestrator.errors import WorkspaceError
from orchestrator.result import FileStat

PRIVATE_DIR = ".phasegraph"
"""phasegraph's folder in a project: runs, state, workspaces; ignored by git through its own `.gitignore`."""
BRANCH_PREFIX = "phasegraph/"
BOT = "phasegraph"
"""The author of the commits phasegraph makes for no agent (the copy's first commit, carried-over changes)."""
_SHOWN_DIRTY = 5
"""Dirty files named in the refusal; the rest are counted."""

Kind = Literal["worktree", "copy", "in-place"]


class Workspace(BaseModel):
    """Where a run writes: recorded in the run's stored configuration, so a resume reopens it."""

    path: Path
    """The project folder inside the workspace: agents' paths are relative to it, later phases read it."""
    root: Path
    """The workspace's git working tree (the project's folder, or the repository it sits in)."""
    branch: str
    """`phasegraph/<run_id>`: the run's commits, one per agent turn."""
    base: str
    """The commit the run started from (after carried-over changes, if any)."""
    kind: Kind
    in_place: bool = False


def ensure_private_dir(project_dir: Path) -> Path:
    """`<project>/.phasegraph/`, owner-only, with a `.gitignore` of `*` so git never lists it."""
    folder = project_dir / PRIVATE_DIR
    ignore = folder / ".gitignore"
    try:
        private_dir(folder)
        if folder.is_dir() and not ignore.exists():
            ignore.write_text("# phasegraph's runs, state and workspaces: never part of the project\n*\n")
    except OSError:
        pass  # what cannot be written here is reported by the check of the folder a run writes to
    return folder


def workspace_dir(project_dir: Path, run_id: str) -> Path:
    return project_dir / PRIVATE_DIR / "workspaces" / run_id


def create_workspace(
    project_dir: Path,
    run_id: str,
    *,
    in_place: bool = False,
    include_uncommitted: bool = False,
    leave_out: tuple[Path, ...] = (),
) -> Workspace:
    """Make the run's workspace; `leave_out` are folders a copy skips (the run's artifacts)."""
    project_dir = project_dir.resolve()
    ensure_private_dir(project_dir)
    branch = f"{BRANCH_PREFIX}{run_id}"
    top = toplevel(project_dir)
    if top is not None and not _in_head(top, project_dir):
        top = None  # a folder git does not track (ignored, or no commit yet): copied like any other
    if top is None:
        if in_place:
            raise WorkspaceError(
                f"--in-place needs a git repository and {project_dir} is not in one; "
                "run without --in-place to work in a copy"
            )
        return _copy(project_dir, run_id, branch, leave_out)
    head = git(top, "rev-parse", "HEAD").strip()
    skipped = [p.resolve() for p in leave_out]
    dirty = [d for d in dirty_files(project_dir) if not _under(top / d, skipped)]
    if dirty and not include_uncommitted:
        raise WorkspaceError(_dirty_message(project_dir, dirty))
    sub = project_dir.relative_to(top)
    if _has_branch(top, branch):
        raise WorkspaceError(f"--run-id {run_id}: branch {branch} already exists (use `phasegraph resume`)")
    if in_place:
        git(top, "checkout", "-q", "-b", branch)
        ws = Workspace(path=project_dir, root=top, branch=branch, base=head, kind="in-place", in_place=True)
    else:
        target = workspace_dir(project_dir, run_id)
        if target.exists():
            raise WorkspaceError(f"--run-id {run_id}: workspace {target} already exists")
        target.parent.mkdir(parents=True, exist_ok=True)
        git(top, "worktree", "add", "-q", "-b", branch, str(target), head)
        ws = Workspace(path=target / sub, root=target, branch=branch, base=head, kind="worktree")
    if dirty:
        ws = _carry_over(ws, project_dir, dirty)
    return ws


def discard_unstarted(project_dir: Path, run_id: str) -> None:
    """Remove what a start killed before its first checkpoint left (its worktree or copy, its branch).

    Only called under the run's lease for a run id without a started checkpoint: no agent turn
    can have written there (turns come after that checkpoint), so the next start makes it again.
    An in-place branch is the user's checkout and is left alone.
    """
    project_dir = project_dir.resolve()
    target = workspace_dir(project_dir, run_id)
    top = toplevel(project_dir)
    if top is not None and target.exists():
        run_git(top, ["worktree", "remove", "--force", str(target)])
    if target.exists():
        shutil.rmtree(target)
    if top is not None:
        run_git(top, ["worktree", "prune"])
        branch = f"{BRANCH_PREFIX}{run_id}"
        current = run_git(top, ["symbolic-ref", "-q", "HEAD"]).stdout.decode().strip()
        if current != f"refs/heads/{branch}" and _has_branch(top, branch):
            run_git(top, ["branch", "-D", branch])


def _under(path: Path, folders: list[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved == f or f in resolved.parents for f in folders)


def _in_head(top: Path, project_dir: Path) -> bool:
    """Whether the repository's last commit holds the project folder (a worktree of it holds the project)."""
    sub = project_dir.relative_to(top).as_posix()
    spec = "HEAD^{tree}" if sub == "." else f"HEAD:{sub}"
    return run_git(top, ["rev-parse", "--verify", "-q", spec]).returncode == 0


def _has_branch(top: Path, branch: str) -> bool:
    return run_git(top, ["rev-parse", "--verify", "-q", f"refs/heads/{branch}"]).returncode == 0


def dirty_files(project_dir: Path) -> list[str]:
    """Files of the project (its folder only) that differ from `HEAD` or are untracked, not ignored."""
    out = git(project_dir, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", ".")
    entries = out.split("\0")
    files: list[str] = []
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        files.append(entry[3:])
        if entry[0] in "RC" and i < len(entries):  # a rename's (or copy's) source follows it
            files.append(entries[i])
            i += 1
    return sorted(dict.fromkeys(files))


def _dirty_message(project_dir: Path, dirty: list[str]) -> str:
    shown = ", ".join(dirty[:_SHOWN_DIRTY])
    more = f" and {len(dirty) - _SHOWN_DIRTY} more" if len(dirty) > _SHOWN_DIRTY else ""
    return (
        f"{project_dir} has uncommitted changes ({shown}{more}); commit or stash them, "
        "or pass --include-uncommitted to carry them into the run's workspace"
    )


def _carry_over(ws: Workspace, project_dir: Path, dirty: list[str]) -> Workspace:
    """Copy the user's uncommitted files into the workspace as its first commit; it becomes the base."""
    top = toplevel(project_dir)
    assert top is not None
    for rel in dirty:
        source = top / rel
        target = ws.root / rel
        if ws.in_place:
            continue
        if source.is_symlink() or source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)
        elif target.is_file() or target.is_symlink():
            target.unlink()
    git(ws.root, "add", "-A", "-f", "--", *dirty)
    _commit(ws.root, "phasegraph: uncommitted changes carried over")
    return ws.model_copy(update={"base": head(ws)})


def _copy(project_dir: Path, run_id: str, branch: str, leave_out: tuple[Path, ...]) -> Workspace:
    """A copy of a project that is not a git repository, made one: the first commit is the base."""
    from orchestrator.project import list_files

    target = workspace_dir(project_dir, run_id)
    if target.exists():
        raise WorkspaceError(f"--run-id {run_id}: workspace {target} already exists")
    skipped = [p.resolve() for p in leave_out]
    files, truncated = list_files(project_dir)
    if truncated:
        raise WorkspaceError(f"{project_dir}: too many files to copy; make it a git repository")
    target.mkdir(parents=True)
    for rel in files:
        source = project_dir / rel
        if _under(source, skipped):
            continue
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest, follow_symlinks=False)
    git(target, "init", "-q", "-b", branch)
    git(target, "add", "-A", "-f", "--", ".")
    _commit(target, "phasegraph: the project as the run found it")
    base = git(target, "rev-parse", "HEAD").strip()
    return Workspace(path=target, root=target, branch=branch, base=base, kind="copy")


def _commit(root: Path, message: str) -> None:
    git(root, "commit", "-q", "--no-verify", "--allow-empty", "-m", message, identity=BOT)


def _count(field: str) -> int:
    """A numstat count; `-` (a binary file) counts as 0 lines."""
    return int(field) if field.isdigit() else 0


def head(ws: Workspace) -> str:
    """The latest commit on the run's branch."""
    return git(ws.root, "rev-parse", f"refs/heads/{ws.branch}").strip()


def reopen(ws: Workspace) -> None:
    """Before a resumed run writes again: the workspace exists, and nothing half-done is left in it.

    A turn killed between writing its files and committing them leaves files no commit
    holds; they go (`reset --hard`, `clean`), and the turn, replayed from the journal,
    writes them again. In the project's own checkout (`--in-place`) changes to tracked files
    are stashed instead (`git stash list` shows them), in case someone edited files there
    meanwhile, and untracked files stay (the run's own `--out` may be one); the replayed turn
    writes its new files again, whole.
    """
    if not ws.root.is_dir():
        raise WorkspaceError(f"the run's workspace {ws.root} is gone; it cannot be resumed")
    if ws.in_place:
        if git(ws.root, "status", "--porcelain", "--untracked-files=no").strip():
            message = f"phasegraph: left uncommitted when run {ws.branch.removeprefix(BRANCH_PREFIX)} stopped"
            git(ws.root, "stash", "push", "-q", "-m", message, identity=BOT)
        return
    git(ws.root, "reset", "-q", "--hard", f"refs/heads/{ws.branch}")
    git(ws.root, "clean", "-q", "-f", "-d")


def rewind(ws: Workspace, to: str, label: str) -> None:
    """Put the run's branch back at commit `to` (a rejected phase runs again from where it started);
    the commits left behind stay reachable as `refs/phasegraph/<run_id>/<label>-<their tip>`, which
    `git branch` does not list."""
    tip = head(ws)
    if tip == to:
        return
    keep = f"refs/phasegraph/{ws.branch.removeprefix(BRANCH_PREFIX)}/{label}-{tip[:12]}"
    if run_git(ws.root, ["rev-parse", "--verify", "-q", keep]).returncode != 0:
        git(ws.root, "update-ref", keep, tip)
    if ws.in_place:
        git(ws.root, "reset", "-q", "--keep", to)
    else:
        git(ws.root, "reset", "-q", "--hard", to)


def diff_stat(ws: Workspace, since: str, until: str) -> list[FileStat]:
    """What changed between two commits of the workspace, paths relative to the project."""
    out = git(ws.path, "diff", "--numstat", "-z", "--relative", "--no-renames", since, until)
    stats: list[FileStat] = []
    for entry in out.split("\0"):
        parts = entry.split("\t", 2)
        if len(parts) != 3:
            continue
        added, removed, path = parts
        stats.append(FileStat(path=path, added=_count(added), removed=_count(removed)))
    return stats


def diff(ws: Workspace) -> str:
    """The run's changes as a unified diff (base .. head), paths relative to the project."""
    return git(ws.path, "diff", "--relative", "--no-color", ws.base, head(ws))


def commits_diff(path: Path, base: str, head: str, commits: list[str]) -> str:
    """The diff that `commits` (some of the commits base .. head, say one phase's) made together:
    from before the first of them to the last, paths relative to the project."""
    order = git(path, "rev-list", "--reverse", f"{base}..{head}").split()
    mine = [c for c in order if c in set(commits)]
    if not mine:
        return ""
    return git(path, "diff", "--relative", "--no-color", f"{mine[0]}^", mine[-1])


def render_stat(stats: list[FileStat]) -> list[str]:
    """Markdown lines: one per file (`+12 -3 app/auth.py`) and a total."""
    if not stats:
        return []
    lines = [f"- `{s.path}` +{s.added} -{s.removed}" for s in stats]
    added, removed = sum(s.added for s in stats), sum(s.removed for s in stats)
    lines.append(f"- {len(stats)} file(s) changed, +{added} -{removed}")
    return lines


@dataclass(frozen=True)
class ApplyOutcome:
    """What `bring_home` did: `applied` False means there was nothing to apply."""

    applied: bool
    message: str


def bring_home(ws: Workspace, project_dir: Path) -> ApplyOutcome:
    """Apply the run's commits to the user's working tree; `WorkspaceError` (one line) on a clash."""
    project_dir = project_dir.resolve()
    tip = head(ws)
    if tip == ws.base:
        return ApplyOutcome(False, f"run wrote no code: {ws.branch} has no commit after its base")
    if ws.in_place:
        return ApplyOutcome(False, f"the run worked in place: its changes are on {ws.branch} in {ws.root}")
    top = toplevel(project_dir)
    if top is not None and ws.kind != "copy" and _has_branch(top, ws.branch):
        return _cherry_pick(top, ws, tip)
    return _patch(project_dir, ws, tip)


def _cherry_pick(top: Path, ws: Workspace, tip: str) -> ApplyOutcome:
    """The run's commits, replayed on the user's branch (their authors kept, the user committing)."""
    pending = [
        line[2:] for line in git(top, "cherry", "HEAD", tip, ws.base).splitlines() if line.startswith("+ ")
    ]
    if not pending:
        return ApplyOutcome(False, f"every commit of {ws.branch} is already on the current branch")
    touched = _touched(top, ws.base, tip)
    clash = sorted(set(touched) & set(dirty_files(top)))
    if clash:
        raise WorkspaceError(
            f"local changes to {', '.join(clash[:_SHOWN_DIRTY])} would be overwritten by run "
            f"{ws.branch.removeprefix(BRANCH_PREFIX)}; commit or stash them, then apply again"
        )
    done = run_git(top, ["cherry-pick", "--allow-empty", *pending], user_config=True)
    if done.returncode != 0:
        run_git(top, ["cherry-pick", "--abort"], user_config=True)
        said = (done.stderr + done.stdout).decode("utf-8", errors="replace")
        if "tell me who you are" in said or "empty ident" in said:
            raise WorkspaceError(
                "git needs your name and e-mail to commit the run's changes "
                '(git config user.name "..." and git config user.email ...); nothing was changed'
            )
        raise WorkspaceError(
            f"applying {ws.branch} conflicts with the current branch "
            f"({first_line(done.stderr or done.stdout)}); nothing was changed; "
            f"merge it yourself: git merge {ws.branch}"
        )
    return ApplyOutcome(True, f"applied {len(pending)} commit(s) of {ws.branch} to the current branch")


def _touched(root: Path, since: str, until: str) -> list[str]:
    out = git(root, "diff", "--name-only", "-z", "--no-renames", since, until)
    return [p for p in out.split("\0") if p]


def _patch(project_dir: Path, ws: Workspace, tip: str) -> ApplyOutcome:
    """A project that is not a git repository: the run's diff, applied as a patch after a dry run."""
    patch = git(ws.path, "diff", "--binary", "--relative", "--no-renames", ws.base, tip).encode(
        "utf-8", errors="surrogateescape"
    )
    if run_git(project_dir, ["apply", "--check", "--reverse", "-"], stdin=patch, alone=True).returncode == 0:
        return ApplyOutcome(False, f"the changes of {ws.branch} are already in {project_dir}")
    check = run_git(project_dir, ["apply", "--check", "-"], stdin=patch, alone=True)
    if check.returncode != 0:
        raise WorkspaceError(
            f"the run's changes do not apply to {project_dir} ({first_line(check.stderr)}); "
            "nothing was changed; see them with `phasegraph diff` and apply by hand"
        )
    git(project_dir, "apply", "-", stdin=patch, alone=True)
    files = len(_touched(ws.root, ws.base, tip))
    return ApplyOutcome(True, f"applied the changes of {ws.branch} to {project_dir} ({files} file(s))")
