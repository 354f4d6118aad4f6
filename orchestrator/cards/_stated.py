"""What a card states about itself outside any Triggers section: skills, stack values, use clauses.

Most cards people bring have no Triggers and no phase-numbered deliverables; what they
know sits in competency bullet lists, a fenced YAML/TOML Tech Stack block, a table, a
toon list, or a front-matter `description` whose "Use for ..." clause says when to call
the agent. These readers turn each of those into plain strings; `orchestrator.routing`
decides what they are worth.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from typing import Any

import yaml

from orchestrator.cards._body import Body, Section
from orchestrator.cards._markdown import (
    as_list,
    bold_label,
    is_table_rule,
    list_item,
    plain,
    split_items,
    strip_inline,
    table_cells,
)

_ITEM_SPLIT = re.compile(r"\s+[-–—]\s+|:\s")
"""`Eloquent ORM - Database modeling` / `Eloquent ORM: modeling` -> the part before is the skill."""
_NAME_SPLIT = re.compile(r",|;|\s/\s|/|\s[+&]\s|\sand\s")
_VERSION = re.compile(r"^[v~^>=<]*\d[\w.+*-]*$|^\d.*|^[\w.]*\d+\.[\dx]+\+?$", re.IGNORECASE)
_USE_CLAUSE = re.compile(
    r"\buse(?:\s+(?:it|this agent|proactively|immediately|only))*"
    r"\s+(?:for|when|after|to|on|with|in|whenever)\s+([^.]*)",
    re.IGNORECASE,
)
_TECH_COLUMNS = (
    "technology",
    "technologies",
    "tech",
    "tool",
    "tools",
    "library",
    "framework",
    "name",
    "stack",
)
_SKILL_COLUMNS = ("skill", "skills", "competency", "capability", "area", "name")


def skills(body: Body, section: Section | None) -> list[str]:
    """Competency list items at any depth and under any sub-heading (`- **Eloquent ORM** - ...`
    -> `Eloquent ORM`), and the first column of a competency table."""
    if section is None:
        return []
    found: list[str] = []
    for i in body.line_indices(section):
        line = body.lines[i]
        item = list_item(line)
        if item is not None:
            label = bold_label(line.strip()[1:].strip()) if item[1].startswith("**") else None
            text = label[0] if label else _ITEM_SPLIT.split(strip_inline(item[1]), maxsplit=1)[0]
            found.append(text.strip(" .:"))
    found.extend(_table_column(body, section, _SKILL_COLUMNS))
    return _unique(found)


def stated_tech(body: Body, section: Section | None) -> list[str]:
    """Technologies a Tech Stack section names as values: a fenced YAML or TOML block
    (`framework: Laravel 10.x / 11.x` -> `Laravel`) and a table's technology column."""
    if section is None:
        return []
    found: list[str] = []
    for start, end, info in body.doc.fences:
        if not section.start <= start < section.end:
            continue
        data = _config_block(body.lines[start + 1 : end], info)
        if isinstance(data, dict | list):  # a lone scalar is prose or a diagram, not a stack
            found.extend(tech_names(_values(data)))
    found.extend(tech_names(_table_column(body, section, _TECH_COLUMNS)))
    return _unique(found)


def tech_names(values: Iterable[str]) -> list[str]:
    """Each value split into names with versions dropped: `PHP 8.2+` -> `PHP`, `Vue 3, Nuxt 3` ->
    `Vue`, `Nuxt`."""
    names: list[str] = []
    for value in values:
        for part in _NAME_SPLIT.split(plain(str(value))):
            words = [w for w in part.split() if not _VERSION.match(w)]
            name = " ".join(words).strip(" .:()")
            if name and any(c.isalpha() for c in name):
                names.append(name)
    return _unique(names)


def use_clauses(description: str) -> list[str]:
    """The clauses that say when to call the agent: `Use for writing tests, improving coverage`
    -> `writing tests, improving coverage`; also `Use PROACTIVELY when ...`."""
    return [m.group(1).strip(" ,;") for m in _USE_CLAUSE.finditer(description) if m.group(1).strip()]


def usage_items(body: Body, section: Section | None) -> list[str]:
    """A "When to Use" section's list items and `**Primary:**` / `**Secondary:**` values."""
    if section is None:
        return []
    found: list[str] = []
    for i in body.line_indices(section):
        line = body.lines[i]
        label = bold_label(line)
        if label is not None and label[1]:
            found.extend(split_items(label[1]))
            continue
        item = list_item(line)
        if item is not None and item[1]:
            found.append(strip_inline(item[1]))
    return _unique(found)


def toon_values(metadata: dict[str, Any], keys: Iterable[str]) -> list[str]:
    """The first column of toon lists a card declares under `keys` (`competencies[3]: a, b, c`,
    or `{skill,detail}` rows)."""
    found: list[str] = []
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            found.extend(str(next(iter(row.values()))) for row in value if row)
        else:
            found.extend(as_list(value))
    return _unique(found)


def _config_block(lines: list[str], info: str) -> Any:
    """A fenced block read as YAML or TOML (by its info string, else YAML then TOML); None otherwise."""
    text = "\n".join(lines)
    kind = info.split()[0].lower() if info.split() else ""
    if kind not in ("", "yaml", "yml", "toml"):
        return None
    if kind != "toml":
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            if kind:
                return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None


def _values(data: Any) -> list[str]:
    """The leaf values of a parsed block (keys name categories, values name technologies)."""
    if isinstance(data, dict):
        return [v for item in data.values() for v in _values(item)]
    if isinstance(data, list):
        return [v for item in data for v in _values(item)]
    if isinstance(data, str | int | float) and not isinstance(data, bool):
        return [str(data)] if isinstance(data, str) else []
    return []


def _table_column(body: Body, section: Section, columns: tuple[str, ...]) -> list[str]:
    """The cells of the column named like one of `columns` (else the first) of tables in the section."""
    found: list[str] = []
    column: int | None = None
    for i in body.line_indices(section):
        cells = table_cells(body.lines[i])
        if cells is None:
            column = None
            continue
        if is_table_rule(cells):
            continue
        if column is None:
            names = [plain(c).lower() for c in cells]
            column = next((names.index(n) for n in columns if n in names), 0)
            continue
        if column < len(cells) and strip_inline(cells[column]):
            found.append(strip_inline(cells[column]))
    return found


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for item in items:
        text = " ".join(item.split())
        if text:
            seen.setdefault(text.lower(), text)
    return list(seen.values())
