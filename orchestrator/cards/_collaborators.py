"""Collaborators: the agents (or groups, "backend agents") a card says it works with.

One entry is written many ways: `**database-specialist** - Schema design`,
`[Database Specialist](database.md): schemas`, `qa-automation (tests)`, a table
row, a front-matter or toon mapping (`{id: ..., note: ...}`). `collaborator_from_text`
reads one entry; the readers below find the entries in front matter, toon blocks
and the Works-with section. A collaborator listed twice is kept once, with a warning.
"""

from __future__ import annotations

from typing import Any

from orchestrator.cards._body import Body, Section
from orchestrator.cards._draft import Draft
from orchestrator.cards._markdown import (
    bold_label,
    is_slug,
    is_table_rule,
    list_item,
    plain,
    slugify,
    snake,
    split_items,
    strip_inline,
    table_cells,
)
from orchestrator.cards._model import Collaborator

_GROUP_NOUNS = frozenset({"agents", "team", "teams", "everyone", "everybody"})
_GROUP_PREFIXES = ("all ", "any ", "other ", "the ")
_COLLAB_SEPARATORS = (" - ", " – ", " — ", ": ", " (")
_TABLE_HEADERS = ("agent", "id", "agent_id", "collaborator", "who")


def _normalise_group(text: str) -> str:
    words = " ".join(plain(text).lower().split())
    for prefix in _GROUP_PREFIXES:
        rest = words[len(prefix) :]
        if words.startswith(prefix) and rest not in ("agents", "agent", ""):
            words = rest
    return words


def _is_group(text: str) -> bool:
    words = plain(text).lower().split()
    if not words:
        return False
    return words[-1] in _GROUP_NOUNS or (len(words) > 1 and words[0] == "all")


def _name_and_note(body: str) -> tuple[str, str]:
    """Split an entry into the collaborator's name and the note after it."""
    name, note = "", ""
    for opener, closer in (("**", "**"), ("`", "`"), ("[", "]")):
        if body.startswith(opener):
            end = body.find(closer, len(opener))
            if end > 0:
                name = body[len(opener) : end]
                rest = body[end + len(closer) :]
                if opener == "[" and rest.startswith("("):
                    close = rest.find(")")
                    rest = rest[close + 1 :] if close >= 0 else ""
                note = rest.strip().lstrip("-–—:").strip()
                break
    if not name:
        cut = min((body.find(sep) for sep in _COLLAB_SEPARATORS if body.find(sep) > 0), default=-1)
        name, note = (body[:cut], body[cut:].strip().lstrip("-–—:").strip()) if cut > 0 else (body, "")
    if note.startswith("(") and note.endswith(")"):
        note = note[1:-1].strip()
    name = strip_inline(name).strip().rstrip(":").strip()
    if name.endswith(")") and "(" in name:
        name, extra = name[: name.index("(")].strip(), name[name.index("(") + 1 : -1]
        note = f"{extra}; {note}" if note else extra
    return name, note


def collaborator_from_text(text: str) -> Collaborator | None:
    """One Works-with entry (`**database-specialist** - Schema design`) -> Collaborator."""
    name, note = _name_and_note(text.strip())
    if not name:
        return None
    if is_slug(name):
        return Collaborator(id=name, kind="agent", note=note)
    if _is_group(name):
        return Collaborator(id=_normalise_group(name), kind="group", note=note)
    slug = slugify(name)
    return Collaborator(id=slug, kind="agent", note=note) if slug else None


def collaborators_from_data(draft: Draft, value: Any, line: int) -> None:
    """A front-matter or toon value: entries as text (`"a, b"`) or mappings (`{id, note}`)."""
    entries = value if isinstance(value, list) else [value] if isinstance(value, str | dict) else []
    for entry in entries:
        if isinstance(entry, dict):
            ident = next((entry[k] for k in ("id", "agent", "name", "group") if entry.get(k)), None)
            note = next(
                (entry[k] for k in ("note", "notes", "for", "why", "role", "reason") if entry.get(k)), ""
            )
            if ident is None:
                continue
            found = collaborator_from_text(str(ident))
            if found is not None and note:
                found = found.model_copy(update={"note": str(note)})
            draft.add_collaborator(found, line)
        elif isinstance(entry, str):
            for part in split_items(entry) if "," in entry and " - " not in entry else [entry]:
                draft.add_collaborator(collaborator_from_text(part), line)


def collaborators_from_section(draft: Draft, body: Body, section: Section | None) -> None:
    """The Works-with section: top-level list items, `**Label:** a, b` lines and table rows."""
    item_indent: int | None = None
    for i in body.line_indices(section):
        line = body.lines[i]
        label = bold_label(line)
        if label is not None and list_item(line) is None:
            draft.seed_body = True
            if label[1]:
                for part in split_items(label[1]):
                    draft.add_collaborator(collaborator_from_text(part), i + 1)
            item_indent = None
            continue
        item = list_item(line)
        if item is not None:
            if item_indent is None:
                item_indent = item[0]
            if item[0] <= item_indent:
                draft.add_collaborator(collaborator_from_text(item[1]), i + 1)
            continue
        cells = table_cells(line)
        if cells and len(cells) >= 1 and not is_table_rule(cells) and snake(cells[0]) not in _TABLE_HEADERS:
            entry = f"{cells[0]} - {cells[1]}" if len(cells) > 1 else cells[0]
            draft.add_collaborator(collaborator_from_text(entry), i + 1)
