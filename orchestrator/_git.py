"""Running git for a run's workspace: a clean environment, a fixed identity, no surprises.

Private to `orchestrator.workspace` and `orchestrator.changes`. git is the one tool
that knows worktrees, merges and patches; it runs as a subprocess with an
environment that carries no secret of the parent process (no API keys, no
tokens), with the user's and the system's git configuration off (no signing
prompts, no hooks, no fsmonitor), and with the author and committer set to
`phasegraph <agent-id>`, so a workspace's history is the same on every machine.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from orchestrator.errors import WorkspaceError

_KEPT_ENV = ("PATH", "HOME", "TMPDIR", "SYSTEMROOT")
"""The only variables of the parent's environment git gets: enough to find itself and a temp folder."""

_SAFE_CONFIG = (
    "-c", "core.hooksPath=/dev/null",
    "-c", "commit.gpgsign=false",
    "-c", "tag.gpgsign=false",
    "-c", "core.autocrlf=false",
    "-c", "core.safecrlf=false",
    "-c", "core.fsmonitor=false",
    "-c", "core.quotepath=false",
    "-c", "advice.detachedHead=false",
    "-c", "init.defaultBranch=main",
    "-c", "merge.conflictStyle=merge",
)  # fmt: skip
"""Settings that make git do the same thing everywhere, whatever config it would otherwise read."""

EMAIL = "phasegraph@localhost"
"""The e-mail of every commit phasegraph makes (the name is the agent's id)."""


def clean_env(
    identity: str | None = None, *, user_config: bool = False, alone: Path | None = None
) -> dict[str, str]:
    """The environment git runs with: `_KEPT_ENV` only, plain C locale, no prompts.

    With `user_config` the user's own git configuration (identity, merge settings) is
    read, as when bringing a run home into their repository; otherwise none is. With
    `alone`, git does not look for a repository above that folder (a patch applied to a
    project that is not one, even inside another repository).
    """
    env = {k: os.environ[k] for k in _KEPT_ENV if k in os.environ}
    if alone is not None:
        env["GIT_CEILING_DIRECTORIES"] = str(alone.resolve().parent)
    env.update(LC_ALL="C", LANG="C", GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0")
    env["GIT_LITERAL_PATHSPECS"] = "1"  # a path a model wrote is a path, never a glob
    if not user_config:
        env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    if identity is not None:
        env.update(
            GIT_AUTHOR_NAME=identity,
            GIT_AUTHOR_EMAIL=EMAIL,
            GIT_COMMITTER_NAME=identity,
            GIT_COMMITTER_EMAIL=EMAIL,
        )
    return env


def run_git(
    cwd: Path,
    args: Sequence[str],
    *,
    identity: str | None = None,
    user_config: bool = False,
    stdin: bytes | None = None,
    alone: bool = False,
) -> subprocess.CompletedProcess[bytes]:
    """Run `git ARGS` in `cwd` and return the finished process, whatever its exit code;
    `alone`: as if `cwd` were in no repository (see `clean_env`)."""
    try:
        return subprocess.run(
            ["git", *_SAFE_CONFIG, *args],
            cwd=cwd,
            env=clean_env(identity, user_config=user_config, alone=cwd if alone else None),
            input=stdin,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        raise WorkspaceError("git is not on PATH; a run that writes code needs it") from None
    except OSError as exc:
        raise WorkspaceError(f"cannot run git in {cwd}: {exc.strerror or exc}") from None


def git(
    cwd: Path,
    *args: str,
    identity: str | None = None,
    user_config: bool = False,
    stdin: bytes | None = None,
    alone: bool = False,
) -> str:
    """`git ARGS` in `cwd`, its output as text; a failure is a `WorkspaceError` with git's first line."""
    done = run_git(cwd, args, identity=identity, user_config=user_config, stdin=stdin, alone=alone)
    if done.returncode != 0:
        raise WorkspaceError(f"git {args[0]} failed in {cwd}: {first_line(done.stderr or done.stdout)}")
    return done.stdout.decode("utf-8", errors="surrogateescape")


def first_line(output: bytes) -> str:
    """The first non-empty line git printed, for a one-line error."""
    for line in output.decode("utf-8", errors="replace").splitlines():
        if line.strip():
            return line.strip()
    return "(no message)"


def toplevel(path: Path) -> Path | None:
    """The root of the git repository `path` is in, or None when it is in none."""
    done = run_git(path, ["rev-parse", "--show-toplevel"])
    if done.returncode != 0:
        return None
    return Path(done.stdout.decode("utf-8", errors="surrogateescape").strip()).resolve()
