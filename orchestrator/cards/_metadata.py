"""A card's one-value fields: id, name, priority, version, status, category, tags, purpose.

The seed format states them as bold lines (`**Priority:** 90`) in a header under
the title and a footer after the last rule; front matter and toon blocks state
them as keys. A card may say the same thing in several places: the first
statement wins, in the order front matter, toon block, header, footer, and a
later one that disagrees is reported with both lines. Header and footer keys
that are not identity fields (`**Last Updated:**`) are kept in `metadata`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.cards._body import AGENT_TITLE, Body, Section
from orchestrator.cards._deliverables import parse_phase_label
from orchestrator.cards._draft import Draft
from orchestrator.cards._frontmatter import FrontMatter
from orchestrator.cards._markdown import (
    Heading,
    as_list,
    bold_label,
    is_rule,
    is_slug,
    plain,
    slugify,
    snake,
    strip_inline,
    title_from_slug,
)
from orchestrator.cards._toon import ToonBlock
from orchestrator.errors import CardError

_ID_KEYS = ("agent_id", "id", "agent")
_HEADER_KEYS = frozenset(
    {"agent_id", "id", "agent", "name", "priority", "version", "status", "category", "tags"}
)
_PLAIN_HEADER = re.compile(r"(?:[-*+][ \t]+)?([A-Za-z][A-Za-z _-]{0,20}):[ \t]+(\S.*)$")
_INT = re.compile(r"[ \t]*([+-]?\d{1,9})(?![\d.])")

Norm = Callable[[Any], object]
"""What two statements of a field are compared by (`"V1.0"` and `"1.0"` agree on version)."""


def priority_problem(raw: object) -> str:
    """The message for a priority that is not a whole number (a lint error)."""
    return f"priority {str(raw)[:40]!r} is not a whole number"


@dataclass(frozen=True, slots=True)
class Value:
    """A metadata value, the line it came from and the place (`header`, `front matter`...)."""

    value: Any
    line: int
    origin: str


def read_footer(body: Body) -> tuple[int, dict[str, Value]]:
    """Trailing `**Key:** value` lines after the card's last rule -> (index of the rule, values)."""
    lines, fenced = body.lines, body.doc.fenced
    found: dict[str, Value] = {}
    i = len(lines) - 1
    while i >= body.first_section:
        line = lines[i]
        if fenced[i]:
            break
        if not line.strip():
            i -= 1
            continue
        label = bold_label(line)
        if label is None or parse_phase_label(label[0]) is not None or not label[1]:
            break
        found.setdefault(snake(label[0]), Value(label[1], i + 1, "footer"))
        i -= 1
    if found and i >= body.first_section and is_rule(lines[i]) and not fenced[i]:
        return i, found
    return len(lines), {}


def read_header(body: Body, start: int, end: int, draft: Draft) -> tuple[dict[str, Value], str]:
    """Metadata lines between the title and the first section, and any prose among them.

    Metadata is `**Key:** value`, or `Key: value` for the known keys. The prose
    (the whole body of a front-matter-only card) is returned as markdown.
    """
    found: dict[str, Value] = {}
    prose: list[str] = []
    for i in range(start, end):
        line = body.lines[i]
        if not body.doc.fenced[i]:
            if is_rule(line) or (line.startswith("#") and i in body.heading_at):
                continue
            label = bold_label(line)
            if label is None:
                plain_label = _PLAIN_HEADER.match(line.strip())
                if plain_label and snake(plain_label.group(1)) in _HEADER_KEYS:
                    label = (plain_label.group(1), plain_label.group(2))
            if label is not None and label[1]:
                draft.seed_body = True
                found.setdefault(snake(label[0]), Value(label[1], i + 1, "header"))
                continue
        prose.append(line)
    return found, "\n".join(prose).strip("\n")


@dataclass
class Statements:
    """Every place a card can state a one-value field."""

    front: FrontMatter
    toon: list[ToonBlock]
    header: dict[str, Value]
    footer: dict[str, Value]
    lines: list[str]

    def of(self, field: str) -> list[Value]:
        """Where the card states `field`, in precedence order: front matter, toon, header, footer."""
        keys = _ID_KEYS if field == "id" else (field,)
        out: list[Value] = []
        front = self.front.data
        for key in keys:
            if key != "agent" and front.get(key) not in (None, "", []):
                out.append(Value(front[key], self.front.lines.get(key, 1), "front matter"))
                break
        for block in self.toon:
            scoped = block.identity()
            for key in keys:
                if key != "agent" and isinstance(scoped.get(key), str | int | float | list):
                    out.append(Value(scoped[key], block.line_of(self.lines, key), "toon block"))
                    break
        for source in (self.header, self.footer):
            for key in keys:
                if key in source:
                    out.append(source[key])
                    break
        return out


def resolve(draft: Draft, field: str, candidates: list[Value], norm: Norm) -> Value | None:
    """First candidate wins; a later one that disagrees is reported with both lines."""
    if not candidates:
        return None
    chosen = candidates[0]
    for other in candidates[1:]:
        if norm(other.value) != norm(chosen.value):
            draft.warn(
                chosen.line,
                f"{chosen.origin} {field} {str(chosen.value)!r} (line {chosen.line}) and "
                f"{other.origin} {field} {str(other.value)!r} (line {other.line}) disagree; "
                f"using the {chosen.origin}",
            )
    draft.line_of[field] = chosen.line
    return chosen


def read_id(draft: Draft, stated: Statements, body: Body) -> str:
    """The agent id, a slug; CardError when the card states none (then it is not a card)."""
    for key, value in [*stated.header.items(), *stated.footer.items()]:
        if key not in _HEADER_KEYS:
            draft.metadata.setdefault(key, value.value)
    candidates = [c for c in stated.of("id") if c.origin != "footer" or is_slug(strip_inline(str(c.value)))]
    front_name = stated.front.data.get("name")
    if not candidates and isinstance(front_name, str) and front_name.strip():
        candidates = [Value(front_name, stated.front.lines.get("name", 1), "front matter")]
    if not candidates:
        candidates = _id_anywhere(body)
    chosen = resolve(draft, "id", candidates, lambda v: slugify(strip_inline(str(v))))
    if chosen is None:
        raise CardError(
            "not an agent card: no agent id (add `**Agent ID:** your-id` or front matter `name: your-id`)",
            draft.source,
            1,
        )
    raw = strip_inline(str(chosen.value))
    if is_slug(raw):
        return raw
    slug = slugify(raw)
    if not slug:
        raise CardError(f"agent id {raw[:40]!r} has no letters or digits", draft.source, chosen.line)
    front = stated.front.data
    if not (chosen.origin == "front matter" and "id" not in front and "agent_id" not in front):
        draft.warn(chosen.line, f"agent id {raw[:40]!r} is not a slug; using {slug!r}")
    return slug


def _id_anywhere(body: Body) -> list[Value]:
    """Last resort: an `**Agent ID:**` line outside the header (a card without a title)."""
    for i in range(body.doc.start, len(body.lines)):
        if not body.doc.fenced[i]:
            label = bold_label(body.lines[i])
            if label is not None and label[1] and snake(label[0]) in ("agent_id", "id"):
                return [Value(label[1], i + 1, "body")]
    return []


def read_name(draft: Draft, stated: Statements, title: Heading | None, card_id: str) -> str:
    """The title's words after `Agent:`, else a stated name, else one made from the id."""
    if title is not None:
        words = plain(title.text)
        prefix = AGENT_TITLE.match(words)
        if prefix:
            words = words[prefix.end() :].strip()
        if words:
            draft.line_of["name"] = title.index + 1
            return words
    for value in stated.of("name"):
        text = plain(str(value.value))
        if text:
            draft.line_of["name"] = value.line
            return title_from_slug(text) if is_slug(text) else text
    draft.warn(1, f"no `# Agent:` title; named the card {title_from_slug(card_id)!r}")
    return title_from_slug(card_id)


def read_grouping(draft: Draft, stated: Statements) -> None:
    """`category` and `tags`, wherever the card states them, for group resolution."""
    category = resolve(draft, "category", stated.of("category"), lambda v: plain(str(v)).lower())
    if category is not None:
        value = category.value
        draft.metadata["category"] = (
            [plain(str(v)).lower() for v in value] if isinstance(value, list) else (plain(str(value)).lower())
        )
    tags = resolve(draft, "tags", stated.of("tags"), lambda v: sorted(t.lower() for t in as_list(v)))
    if tags is not None:
        draft.metadata["tags"] = [plain(t).lower() for t in as_list(tags.value)]


def read_priority(draft: Draft, stated: Statements) -> int | None:
    """A whole number; anything else is kept in metadata with a warning."""
    chosen = resolve(draft, "priority", stated.of("priority"), lambda v: str(v).strip().lower())
    if chosen is None:
        return None
    value = chosen.value
    if isinstance(value, bool):
        value = str(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    match = _INT.match(strip_inline(str(value)))
    if match:
        return int(match.group(1))
    draft.metadata["priority"] = str(value)
    draft.warn(chosen.line, f"{priority_problem(value)}; ignored")
    return None


def read_version(draft: Draft, stated: Statements) -> str | None:
    chosen = resolve(
        draft, "version", stated.of("version"), lambda v: strip_inline(str(v)).lower().lstrip("v")
    )
    if chosen is None:
        return None
    return strip_inline(str(chosen.value)) or None


def read_status(draft: Draft, stated: Statements) -> str | None:
    chosen = resolve(draft, "status", stated.of("status"), lambda v: plain(str(v)).lower())
    if chosen is None:
        return None
    return plain(str(chosen.value)).lower() or None


def read_purpose(
    draft: Draft, front: FrontMatter, section: Section | None, texts: dict[str, str], preamble: str
) -> str:
    """The Purpose (Role, Overview...) section, else the front matter's description, else the preamble."""
    description = front.data.get("description")
    if section is not None:
        draft.line_of["purpose"] = section.heading.index + 1
        return texts.get(section.heading.key or "", "").strip()
    if isinstance(description, str) and description.strip():
        draft.line_of["purpose"] = front.lines.get("description", 1)
        return description.strip()
    return preamble
