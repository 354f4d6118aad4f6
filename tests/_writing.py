"""A small git project and an offline provider whose writing turns answer with real code.

Shared by the workspace tests and their crash child (`tests/_crash_writes_child.py`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

from orchestrator.providers.base import ModelRequest
from orchestrator.providers.offline import OfflineProvider

TASK = "Add JWT authentication to the FastAPI notes service"
FILES = {
    "pyproject.toml": '[project]\nname = "notes"\ndependencies = ["fastapi", "sqlalchemy"]\n',
    "app/__init__.py": "",
    "app/main.py": (
        'from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get("/notes")\n'
        "def notes() -> list[str]:\n    return []\n"
    ),
    "README.md": "# notes\n",
}
GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "PATH": os.environ.get("PATH", ""),
    "HOME": os.environ.get("HOME", "/tmp"),
}


def git(cwd: Path, *args: str) -> str:
    """git as the test's user (a repository-local identity, no global configuration)."""
    done = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True)
    return done.stdout


def make_git_project(root: Path, files: dict[str, str] | None = None) -> Path:
    """`root` as a committed git repository of `files` (default: a small FastAPI service)."""
    make_plain_project(root, files)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test User")
    git(root, "config", "user.email", "user@example.com")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def make_plain_project(root: Path, files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in (FILES if files is None else files).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under `root` but `.git/` and `.phasegraph/`, by path, as a sha256 of its bytes."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in (".git", ".phasegraph") or not path.is_file():
            continue
        out[rel.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def deliverables_of(model: type[Any]) -> list[str]:
    """The enum of `changes[].deliverable` in a writing turn's output model."""
    for definition in model.model_json_schema().get("$defs", {}).values():
        prop = definition.get("properties", {}).get("deliverable")
        if prop:
            return list(prop.get("enum") or [prop.get("const")])
    return []


def code_for(agent: str) -> str:
    return f'"""Written by {agent}."""\n\n\ndef {agent.replace("-", "_")}() -> str:\n    return "{agent}"\n'


def writing_provider(extra: dict[str, list[dict[str, Any]]] | None = None) -> OfflineProvider:
    """Offline answers, except that every writing turn writes `src/<agent>.py` (and, for the agents
    in `extra`, those changes too) for its first deliverable."""

    def answer(request: ModelRequest[Any]) -> dict[str, Any] | None:
        if "changes" not in request.output_model.model_fields:
            return None
        first = deliverables_of(request.output_model)[0]
        own = {"path": f"src/{request.agent}.py", "action": "write", "content": code_for(request.agent)}
        more = (extra or {}).get(request.agent, [])
        return {"changes": [{"content": "", "edits": [], **c, "deliverable": first} for c in [own, *more]]}

    return OfflineProvider(custom_output=answer)
