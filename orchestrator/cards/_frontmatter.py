"""YAML front matter (`---` ... `---` at the top of a card): read safely, line numbers kept.

The block is loaded with the safe loader and turned into plain JSON types within a
budget, so anchors and aliases cannot nest or explode; a block that is not valid
YAML is read line by line (`key: value`, `- item`) with a warning rather than lost.
`front_lists` files the triggers, collaborators and deliverables it declares and
keeps every other key in `metadata`; identity keys (`name`, `priority`, ...) are
read with the other formats' statements of them in `_metadata`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from orchestrator.cards._collaborators import collaborators_from_data
from orchestrator.cards._deliverables import deliverables_from_front
from orchestrator.cards._draft import IDENTITY_KEYS, Draft
from orchestrator.cards._markdown import unquote
from orchestrator.cards._triggers import triggers_from_front

_FRONT_KEY = re.compile(r"([A-Za-z_][\w-]*)[ \t]*:")
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CONSUMED = IDENTITY_KEYS | {
    "triggers",
    "keywords",
    "file_patterns",
    "imports",
    "collaborators",
    "works_with",
    "deliverables",
}
"""Front-matter keys the parser reads into fields; the rest are kept in `metadata` as they are."""


@dataclass
class FrontMatter:
    """The card's front matter, if it has any."""

    data: dict[str, Any] = field(default_factory=dict)
    """Keys lower-case with `-` as `_`; values as plain JSON types."""
    lines: dict[str, int] = field(default_factory=dict)
    """Key -> 1-based line where it is declared."""
    present: bool = False
    end: int = 0
    """Index of the first body line after the closing `---` (0 without front matter)."""


def _key(raw: str) -> str:
    return raw.lower().replace("-", "_")


def read_front_matter(lines: list[str], draft: Draft) -> FrontMatter:
    """Read YAML front matter if the card starts with it."""
    if not lines or lines[0].strip() != "---":
        return FrontMatter()
    close = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if close is None:
        return FrontMatter()
    block = lines[1:close]
    first = next((ln for ln in block if ln.strip() and not ln.lstrip().startswith("#")), None)
    if first is not None and not _FRONT_KEY.match(first):
        return FrontMatter()
    front = FrontMatter(present=True, end=close + 1)
    for offset, line in enumerate(block):
        key = _FRONT_KEY.match(line)
        if key:
            front.lines.setdefault(_key(key.group(1)), offset + 2)
    data: Any = None
    problem = ""
    try:
        data = yaml.load("\n".join(block), Loader=_YAML_LOADER)
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as exc:
        problem = str(getattr(exc, "problem", None) or type(exc).__name__)
    if data is None and not problem:
        data = {}
    if isinstance(data, dict):
        front.data = {_key(str(k)): v for k, v in _jsonable(data, [20_000]).items()}
    else:
        problem = problem or "not a mapping"
        front.data = _by_lines(block)
        draft.warn(1, f"front matter is not valid YAML ({problem}); read it line by line")
    return front


def _by_lines(block: list[str]) -> dict[str, Any]:
    """`key: value` and `- item` lines, for front matter YAML cannot read."""
    data: dict[str, Any] = {}
    current: str | None = None
    for line in block:
        key = _FRONT_KEY.match(line)
        if key:
            current = _key(key.group(1))
            value = line[key.end() :].strip()
            data[current] = unquote(value) if value else []
        elif current is not None and line.strip().startswith("- ") and isinstance(data.get(current), list):
            data[current].append(unquote(line.strip()[2:]))
    return data


def _jsonable(value: Any, budget: list[int], depth: int = 0) -> Any:
    """Front-matter data as plain JSON types, bounded (YAML aliases can nest or explode)."""
    budget[0] -= 1
    if budget[0] < 0 or depth > 20:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v, budget, depth + 1) for k, v in list(value.items())[:200]}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v, budget, depth + 1) for v in list(value)[:500]]
    return str(value)


def front_lists(draft: Draft, front: FrontMatter) -> None:
    """Triggers, collaborators and deliverables the front matter declares; other keys to metadata."""
    triggers_from_front(draft, front.data, front.lines)
    for key in ("collaborators", "works_with"):
        if key in front.data:
            collaborators_from_data(draft, front.data[key], front.lines.get(key, 1))
    deliverables_from_front(draft, front.data, front.lines)
    for key, value in front.data.items():
        if key not in _CONSUMED:
            draft.metadata.setdefault(key, value)
