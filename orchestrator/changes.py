"""Changes: the files an agent's turn writes or deletes, checked item by item and committed.

A writing phase's output model has a `changes` list next to its deliverables (see
`deliverables.output_spec`): `{path, action: write|delete|edit, content, edits,
deliverable}`, whole-file content for a write, search/replace pairs for an edit (each
search found exactly once). What a model answers is untrusted input, so each item is
checked before anything is written:

- the path is relative, stays inside the project folder of the workspace (no `..`,
  no absolute path, no symlink on the way, nothing under `.git/` or `.phasegraph/`);
- a turn writes at most `max_change_files` files and `max_change_bytes` bytes;
- a write is text (no NUL byte, valid UTF-8); a path named twice in one turn is
  refused every time (which one was meant cannot be known);
- a write keeps the file's line endings and its final-newline convention.

A refused item is reported (in the deliverable's markdown and in `manifest.json`);
the rest of the turn still applies. A turn's accepted changes become one commit
on the run's branch, whose message names the phase, the agent, the deliverables
and (as trailers) the turn and a digest of its changes. The commit is part of the
run's journal: a turn replayed from the journal after a crash finds its commit by
those trailers and makes no second one (`commit_turn`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from orchestrator._git import git, run_git
from orchestrator.state import ChangeRecord
from orchestrator.workspace import Workspace

_TURN_TRAILER = "Phasegraph-Turn"
_DIGEST_TRAILER = "Phasegraph-Changes"
_FORBIDDEN_DIRS = frozenset({".git", ".phasegraph"})
_MAX_NAME_BYTES = 255
"""The longest file or folder name common file systems take."""
Action = Literal["write", "delete", "edit"]
Before = Callable[[str], bytes | None]
"""Reads a project file as a turn found it: bytes, or None when there was no such file."""
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


@dataclass(frozen=True)
class ChangeLimits:
    """What one turn may write (`Settings.max_change_files`, `Settings.max_change_bytes`)."""

    max_files: int
    max_bytes: int


@dataclass(frozen=True)
class TurnChanges:
    """A turn's changes as committed: one record per item the model answered, and the commit."""

    records: list[ChangeRecord]
    commit: str | None
    """The turn's commit on the run's branch; None when it changed nothing."""


def digest(changes: Sequence[Mapping[str, Any]]) -> str:
    """A short fingerprint of a turn's changes: the same answer gives the same digest."""
    blob = json.dumps(list(changes), sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return hashlib.sha256(blob).hexdigest()[:16]


def _lock(ws: Workspace) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(ws.root.resolve(), threading.Lock())


def commit_turn(
    ws: Workspace,
    changes: Sequence[Mapping[str, Any]],
    limits: ChangeLimits,
    *,
    phase: str,
    agent: str,
    turn: str,
    run_id: str,
    partial: frozenset[str] = frozenset(),
) -> TurnChanges:
    """Check, write and commit one turn's changes: the internal API a fix loop calls too.

    `turn` names the turn uniquely within the run (`build/backend-python/0`); with the
    digest of `changes` it finds a commit an earlier, interrupted attempt already made.
    `partial` are project paths the turn was shown only the start of: a write would cut them.
    Agents' turns of one run commit one after the other (a lock per workspace).
    """
    with _lock(ws):
        mark = digest(changes)
        found = _find_commit(ws, turn, mark)
        if found is not None:  # judged again against the files as they were before that commit
            return TurnChanges(review(ws, changes, limits, partial, _at_commit(ws, f"{found}^")), found)
        plan = review(ws, changes, limits, partial)
        if not any(r["status"] == "applied" for r in plan):
            return TurnChanges(plan, None)
        written: list[Mapping[str, Any]] = []
        for change, record in zip(changes, plan, strict=True):
            if record["status"] != "applied":
                continue
            try:
                _apply_one(ws.path, change)
            except OSError as exc:  # a file where a folder must be, a name the file system refuses
                record["status"] = "refused"
                record["reason"] = f"cannot be written: {exc.strerror or exc}"
                continue
            written.append(change)
        if not written:
            return TurnChanges(plan, None)
        _stage(ws, written)
        if not git(ws.path, "diff", "--cached", "--name-only").strip():
            return TurnChanges(plan, None)
        message = _message(phase, agent, written, turn, mark, run_id)
        git(ws.path, "commit", "-q", "--no-verify", "-m", message, identity=agent)
        return TurnChanges(plan, git(ws.root, "rev-parse", "HEAD").strip())


def _stage(ws: Workspace, accepted: Sequence[Mapping[str, Any]]) -> None:
    """Stage exactly the turn's files (ignored ones too: the agent meant them)."""
    written = sorted({clean_path(str(c["path"])) for c in accepted if c.get("action") != "delete"})
    deleted = sorted({clean_path(str(c["path"])) for c in accepted if c.get("action") == "delete"})
    if written:
        git(ws.path, "add", "-f", "--", *written)
    if deleted:
        git(ws.path, "rm", "-q", "--cached", "--ignore-unmatch", "--", *deleted)


def review(
    ws: Workspace,
    changes: Sequence[Mapping[str, Any]],
    limits: ChangeLimits,
    partial: frozenset[str] = frozenset(),
    before: Before | None = None,
) -> list[ChangeRecord]:
    """One record per item, in order: `applied` for those that may be written, `refused` with why.

    `before` reads a file as the turn found it (default: the workspace's working tree)."""
    read = before or _on_disk(ws)
    counts = Counter(clean_path(str(c.get("path", ""))) for c in changes)
    records: list[ChangeRecord] = []
    files = 0
    used = 0
    for change in changes:
        raw = str(change.get("path", ""))
        action = str(change.get("action", "write"))
        path = clean_path(raw)
        reason = _path_problem(ws.path, raw)
        size = 0
        if reason is None and counts[path] > 1:
            reason = f"the path is named {counts[path]} times in this turn; none of them was applied"
        if reason is None and action == "write" and _cuts(ws, path, partial):
            reason = "the turn saw only the start of this file; writing it whole would cut the rest"
        if reason is None and action == "write":
            reason, size = _content_problem(str(change.get("content", "")))
        if reason is None and action == "edit":
            reason, size = _edit_problem(read(path), change.get("edits") or [])
        if reason is None and files >= limits.max_files:
            reason = f"more than {limits.max_files} files in one turn (PHASEGRAPH_MAX_CHANGE_FILES)"
        if reason is None and used + size > limits.max_bytes:
            reason = f"the turn's writes would pass {limits.max_bytes} bytes (PHASEGRAPH_MAX_CHANGE_BYTES)"
        if reason is None:
            files += 1
            used += size
        records.append(
            ChangeRecord(
                path=raw,
                action=action_of(change),
                deliverable=str(change.get("deliverable", "")),
                status="refused" if reason else "applied",
                reason=reason or "",
            )
        )
    return records


def action_of(change: Mapping[str, Any]) -> Action:
    """The change's action as a record keeps it (anything unknown is a write, as the schema's default)."""
    action = change.get("action")
    return "delete" if action == "delete" else "edit" if action == "edit" else "write"


def _on_disk(ws: Workspace) -> Before:
    def read(rel: str) -> bytes | None:
        path = ws.path / rel
        return path.read_bytes() if path.is_file() and not path.is_symlink() else None

    return read


def _at_commit(ws: Workspace, commit: str) -> Before:
    def read(rel: str) -> bytes | None:
        done = run_git(ws.path, ["cat-file", "blob", f"{commit}:./{rel}"])
        return done.stdout if done.returncode == 0 else None

    return read


def edited(text: str, edits: Sequence[Mapping[str, Any]]) -> tuple[str | None, str]:
    """`text` with `edits` applied in order (each `search` must occur exactly once), or None and why.

    The edits take the file's line endings: in a CRLF file, their LF become CRLF."""
    crlf = "\r\n" in text
    for n, one in enumerate(edits, start=1):
        search = str(one.get("search", "")).replace("\r\n", "\n")
        replace = str(one.get("replace", "")).replace("\r\n", "\n")
        if crlf:
            search, replace = search.replace("\n", "\r\n"), replace.replace("\n", "\r\n")
        found = text.count(search) if search else 0
        if not search:
            return None, f"edit {n}: empty search text"
        if found != 1:
            where = "is not in the file" if not found else f"occurs {found} times; it must occur once"
            return None, f"edit {n}: the search text {where}"
        text = text.replace(search, replace, 1)
    return text, ""


def _edit_problem(old: bytes | None, edits: Sequence[Mapping[str, Any]]) -> tuple[str | None, int]:
    """Why these edits cannot be made to a file holding `old` (None when they can), and the bytes
    they write."""
    if old is None:
        return "no such file to edit (write it whole instead)", 0
    if not edits:
        return "an edit without edits", 0
    try:
        text = old.decode("utf-8")
    except UnicodeDecodeError:
        return "the file is not UTF-8 text", 0
    size = 0
    for one in edits:
        reason, bytes_ = _content_problem(str(one.get("replace", "")))
        if reason is not None:
            return reason, 0
        size += bytes_
    new, why = edited(text, edits)
    return (why, 0) if new is None else (None, size)


def _cuts(ws: Workspace, path: str, partial: frozenset[str]) -> bool:
    """Whether writing `path` whole would cut a file the turn was shown only the start of."""
    return path in partial and (ws.path / path).is_file()


def clean_path(raw: str) -> str:
    """The path as git and the file system see it (`./a//b` is `a/b`)."""
    return PurePosixPath(raw).as_posix() if raw else ""


def _path_problem(root: Path, raw: str) -> str | None:
    """Why `raw` may not be written under `root`, or None when it may."""
    if not raw.strip() or raw != raw.strip():
        return "empty path, or spaces around it"
    if "\0" in raw or "\\" in raw or any(ord(ch) < 32 for ch in raw):
        return "control characters or backslashes in the path"
    pure = PurePosixPath(raw)
    if pure.is_absolute() or raw.startswith("~"):
        return "absolute path; paths are relative to the project"
    if ".." in pure.parts:
        return "'..' in the path; paths stay inside the project"
    if any(part.lower() in _FORBIDDEN_DIRS for part in pure.parts):  # `.GIT` is `.git` on macOS
        return "inside .git/ or .phasegraph/, which a run never writes"
    if pure.as_posix() in ("", "."):
        return "the path names the project folder itself"
    if any(len(part.encode("utf-8", "surrogateescape")) > _MAX_NAME_BYTES for part in pure.parts):
        return f"a name in the path is longer than {_MAX_NAME_BYTES} bytes"
    here = root
    for part in pure.parts:
        here = here / part
        if here.is_symlink():
            return f"{here.relative_to(root).as_posix()} is a symbolic link; a run never writes through one"
    target = root / pure
    if target.is_dir():
        return "a folder is at this path"
    if not target.resolve().is_relative_to(root.resolve()):
        return "the path leads outside the project"
    return None


def _content_problem(content: str) -> tuple[str | None, int]:
    """Why `content` is not a text file's content (None when it is), and its size in bytes."""
    if "\0" in content:
        return "NUL bytes in the content; only text files are written", 0
    try:
        size = len(content.encode("utf-8"))
    except UnicodeEncodeError:
        return "the content is not valid UTF-8 text", 0
    return None, size


def conform(new: str, old: bytes | None) -> str:
    """`new` with the line endings and the final-newline convention of the file it replaces.

    A new file ends with a newline; an existing one keeps CRLF if it used CRLF, and keeps
    ending (or not ending) with a newline as it did.
    """
    text = new.replace("\r\n", "\n")
    ended = True if not old else old.endswith(b"\n")
    if ended and text and not text.endswith("\n"):
        text += "\n"
    if not ended:
        text = text.rstrip("\n")
    return text.replace("\n", "\r\n") if old and b"\r\n" in old else text


def _apply_one(root: Path, change: Mapping[str, Any]) -> None:
    target = root / clean_path(str(change["path"]))
    if change.get("action") == "delete":
        target.unlink(missing_ok=True)
        return
    old = target.read_bytes() if target.is_file() else None
    if change.get("action") == "edit" and old is not None:
        new, _ = edited(old.decode("utf-8"), change.get("edits") or [])
        if new is not None:  # checked by `review` a moment ago, under the same lock
            _atomic_bytes(target, new.encode("utf-8"))
        return
    data = conform(str(change.get("content", "")), old).encode("utf-8")
    _atomic_bytes(target, data)


def _atomic_bytes(path: Path, data: bytes) -> None:
    """Write `data` so a crash leaves the old file or the new one, never half of one; the mode is kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.is_file() else None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".phasegraph-tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        else:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _message(
    phase: str, agent: str, accepted: Sequence[Mapping[str, Any]], turn: str, mark: str, run_id: str
) -> str:
    covered = list(dict.fromkeys(str(c.get("deliverable", "")) for c in accepted if c.get("deliverable")))
    subject = f"{phase}: {agent} — {', '.join(covered) or 'changes'}"
    files = "\n".join(f"- {c.get('action', 'write')} {clean_path(str(c['path']))}" for c in accepted)
    return (
        f"{subject[:200]}\n\n{files}\n\n"
        f"Phasegraph-Run: {run_id}\n{_TURN_TRAILER}: {turn}\n{_DIGEST_TRAILER}: {mark}\n"
    )


def _find_commit(ws: Workspace, turn: str, mark: str) -> str | None:
    """The commit an earlier attempt of this very turn (same changes) already made, if any."""
    out = git(ws.root, "log", "--format=%H%x00%B%x01", f"{ws.base}..refs/heads/{ws.branch}")
    want = {f"{_TURN_TRAILER}: {turn}", f"{_DIGEST_TRAILER}: {mark}"}
    for entry in out.split("\x01"):
        sha, _, body = entry.strip().partition("\0")
        if sha and want <= {line.strip() for line in body.splitlines()}:
            return sha
    return None
