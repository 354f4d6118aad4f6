"""Triggers: the keywords, file patterns and imports that make the router pick a card.

A card states them in any of its formats: a front-matter `triggers:` mapping or
list (or top-level `keywords:`, `file_patterns:`, `imports:`), a toon
`triggers[N]{type,pattern}:` table, or a Triggers section with bold labels
(`**Keywords:** django, orm`), sub-headings with list items under them, or a
`| Type | Pattern |` table. Each reader here turns one of those into
`AgentCard.triggers`, under the canonical TRIGGER_TYPES names.
"""

from __future__ import annotations

from typing import Any

from orchestrator.cards._body import Body, Section
from orchestrator.cards._draft import Draft
from orchestrator.cards._markdown import (
    as_list,
    bold_label,
    is_rule,
    is_table_rule,
    list_item,
    snake,
    split_items,
    table_cells,
)

TRIGGER_ALIASES: dict[str, str] = {
    "keyword": "keywords",
    "keywords": "keywords",
    "key_words": "keywords",
    "file": "file_patterns",
    "files": "file_patterns",
    "file_pattern": "file_patterns",
    "file_patterns": "file_patterns",
    "filepattern": "file_patterns",
    "filepatterns": "file_patterns",
    "glob": "file_patterns",
    "globs": "file_patterns",
    "import": "imports",
    "imports": "imports",
    "structure": "structure",
    "structures": "structure",
    "project_structure": "structure",
    "directory": "structure",
    "directories": "structure",
    "config": "config",
    "configs": "config",
    "config_file": "config",
    "config_files": "config",
    "configuration": "config",
    "script": "scripts",
    "scripts": "scripts",
}
"""Trigger labels and toon row types -> canonical TRIGGER_TYPES names."""


def trigger_type(label: str) -> str:
    """`File Patterns`, `globs`, `file` -> `file_patterns`; unknown types keep their snake_case name."""
    key = snake(label)
    return TRIGGER_ALIASES.get(key, key)


def triggers_from_front(draft: Draft, front: dict[str, Any], lines: dict[str, int]) -> None:
    """`triggers:` (a type -> patterns mapping, or a list of keywords) and the top-level lists."""
    triggers = front.get("triggers")
    line = lines.get("triggers", 1)
    if isinstance(triggers, dict):
        for kind, values in triggers.items():
            draft.add_triggers(trigger_type(str(kind)), as_list(values), line)
    elif triggers is not None:
        draft.add_triggers("keywords", as_list(triggers), line)
    for key in ("keywords", "file_patterns", "imports"):
        if key in front:
            draft.add_triggers(key, as_list(front[key]), lines.get(key, 1))


def triggers_from_toon(draft: Draft, value: Any, line: int) -> None:
    """A toon `triggers` value: a type -> patterns mapping, or rows (`{type,pattern}` or keywords)."""
    if isinstance(value, dict):
        for kind, patterns in value.items():
            draft.add_triggers(trigger_type(str(kind)), as_list(patterns), line)
        return
    if not isinstance(value, list):
        return
    for row in value:
        if isinstance(row, dict):
            kind = _first(row, ("type", "kind", "trigger"))
            patterns = _first(row, ("pattern", "patterns", "value", "values", "match"))
            if kind is not None and patterns is not None:
                draft.add_triggers(trigger_type(str(kind)), as_list(patterns), line)
        elif row is not None:
            draft.add_triggers("keywords", as_list(row), line)


def _first(row: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """The row's value under the first of `keys` it has (not None)."""
    return next((row[k] for k in keys if row.get(k) is not None), None)


def triggers_from_section(draft: Draft, body: Body, section: Section | None) -> None:
    """The Triggers section: `**Keywords:** a, b`, a label or sub-heading over list items, table rows."""
    current: str | None = None
    current_line = 0
    for i in body.line_indices(section):
        line = body.lines[i]
        if line.startswith("#"):
            heading = body.heading_at.get(i)
            current = trigger_type(heading.key) if heading is not None and heading.key else None
            current_line = i + 1
            continue
        label = bold_label(line)
        if label is not None:
            draft.seed_body = True
            kind = trigger_type(label[0])
            if label[1]:
                draft.add_triggers(kind, split_items(label[1]), i + 1)
                current = None
            else:
                current, current_line = kind, i + 1
            continue
        item = list_item(line)
        if item is not None and current is not None:
            draft.add_triggers(current, split_items(item[1]), current_line)
        elif line.strip() and item is None and not is_rule(line):
            cells = table_cells(line)
            if (
                cells
                and len(cells) >= 2
                and not is_table_rule(cells)
                and snake(cells[0]) not in ("type", "trigger")
            ):
                draft.add_triggers(trigger_type(cells[0]), split_items(cells[1]), i + 1)
