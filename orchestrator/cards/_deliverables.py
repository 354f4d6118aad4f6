"""Deliverables: what a card produces in each phase (`Phase 5b (Build)` -> its items).

Phase labels are read by `parse_phase_label` wherever they appear: front-matter
and toon mappings, bold labels or sub-headings in the Deliverables section (with
the list items under each; nested items join their parent), and `| Phase |
Output |` tables anywhere in the body outside code fences. A row or label that
names no phase number is skipped with a warning.
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator.cards._body import Body, Section
from orchestrator.cards._draft import Draft
from orchestrator.cards._markdown import (
    as_list,
    bold_label,
    is_table_rule,
    list_item,
    plain,
    snake,
    split_items,
    strip_inline,
    table_cells,
)

_PHASE = re.compile(r"(phase[ \t]*)?(\d{1,3})([a-z]?)(?![a-z0-9])[ \t]*(.*)$", re.IGNORECASE)


def parse_phase_label(text: str) -> tuple[str, str] | None:
    """`Phase 5b (Build)` -> ("5b", "Build"); `8 (Docs)` -> ("8", "Docs"); `7` -> ("7", "").

    Also `Phase 2: Design`, `Phase 2 - Design` and `Phase 2 Design`; without the word
    "Phase" a name must be in parentheses or after a dash or colon.
    """
    cleaned = strip_inline(text).strip().rstrip(":").strip()
    match = _PHASE.match(cleaned)
    if not match:
        return None
    number, letter, rest = match.group(2), match.group(3).lower(), match.group(4).strip()
    if rest.startswith("("):
        close = rest.find(")")
        name = rest[1:close] if close > 0 else rest[1:]
    elif rest[:1] in ("-", "–", "—", ":"):
        name = rest[1:]
    elif not rest or match.group(1):
        name = rest
    else:
        return None
    return f"{int(number)}{letter}", plain(name).strip(" :")


_PHASE_LIST = re.compile(r"\s*(?:/|&|,|;|\band\b)\s*(?=phase\b|\d)", re.IGNORECASE)


def parse_phase_labels(text: str) -> list[tuple[str, str]]:
    """Every phase a label names: `Phase 9 (Share) / Phase 10 (Deployment)` -> [("9", "Share"),
    ("10", "Deployment")]; one label gives one phase, no phase number gives none."""
    parts = [p for p in _PHASE_LIST.split(strip_inline(text).strip().rstrip(":")) if p.strip()]
    parsed = [parse_phase_label(p) for p in parts]
    if len(parts) > 1 and all(p is not None for p in parsed):
        return [p for p in parsed if p is not None]
    single = parse_phase_label(text)
    return [single] if single is not None else []


def deliverables_from_front(draft: Draft, front: dict[str, Any], lines: dict[str, int]) -> None:
    """`deliverables:` as a phase label -> items mapping; labels without a phase number are ignored."""
    deliverables = front.get("deliverables")
    if not isinstance(deliverables, dict):
        return
    for raw_label, items in deliverables.items():
        parsed = parse_phase_label(str(raw_label))
        if parsed is not None:
            draft.add_deliverables(parsed[0], parsed[1], as_list(items), lines.get("deliverables", 1))


def deliverables_from_toon(draft: Draft, value: Any, line: int) -> None:
    """A toon `deliverables` value: a label -> items mapping or `{phase,output}` rows."""
    rows: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        rows = list(value.items())
    elif isinstance(value, list):
        for row in value:
            if isinstance(row, dict):
                label = next((row[k] for k in ("phase", "label", "stage") if row.get(k) is not None), None)
                items = next(
                    (
                        row[k]
                        for k in ("output", "outputs", "items", "deliverables", "deliverable")
                        if row.get(k) is not None
                    ),
                    None,
                )
                rows.append((label, items))
    for label, items in rows:
        parsed = parse_phase_label(str(label)) if label is not None else None
        if parsed is None:
            draft.warn(line, f"deliverables row {str(label)!r} names no phase number; skipped")
            continue
        draft.add_deliverables(parsed[0], parsed[1], as_list(items), line)


class _SectionReader:
    """Walks the Deliverables section, remembering the current phase and its pending item."""

    def __init__(self, draft: Draft, body: Body) -> None:
        self.draft = draft
        self.body = body
        self.phases: list[tuple[str, str]] = []
        self.phase_line = 0
        self.item_indent: int | None = None
        self.pending: list[str] = []
        """The current top-level item followed by its nested items."""

    def flush(self) -> None:
        """File the pending item, its nested items joined in: `Scripts (forward; rollback)`."""
        if self.phases and self.pending:
            text, subs = self.pending[0], self.pending[1:]
            if subs and text.endswith(")") and " (" in text:
                text = f"{text[:-1]}; {'; '.join(subs)})"
            elif subs:
                text = f"{text} ({'; '.join(subs)})"
            for label, name in self.phases:
                self.draft.add_deliverables(label, name, [text], self.phase_line)
        self.pending.clear()

    def heading(self, i: int) -> None:
        """A sub-heading starts a phase when it names one (`### Phase 5b (Build)`), else ends it."""
        self.flush()
        heading = self.body.heading_at.get(i)
        self.phases = parse_phase_labels(heading.text) if heading is not None else []
        self.phase_line, self.item_indent = i + 1, None
        for label, name in self.phases:
            self.draft.add_deliverables(label, name, [], self.phase_line)

    def label(self, i: int, line: str, label: tuple[str, str]) -> bool:
        """`**Phase 2:** a, b` or `**Phase 2:**` over a list; True when the line is used up."""
        parsed = parse_phase_labels(label[0])
        if parsed:
            self.flush()
            self.draft.seed_body = True
            items = split_items(label[1]) if label[1] else []
            if list_item(line) is None or not label[1]:
                self.phases, self.phase_line, self.item_indent = parsed, i + 1, None
            for number, name in parsed:
                self.draft.add_deliverables(number, name, items, i + 1)
            return True
        if not label[1]:
            self.flush()
            self.phases = []
            self.draft.warn(
                i + 1, f"deliverables label {label[0]!r} names no phase number; its items are skipped"
            )
            return True
        return False

    def item(self, line: str) -> None:
        """A list item under the current phase: a new item, or one nested in the pending one."""
        item = list_item(line)
        if item is None or not self.phases:
            return
        text = strip_inline(item[1])
        if self.item_indent is None:
            self.item_indent = item[0]
        if item[0] > self.item_indent and self.pending:
            if text:
                self.pending.append(text)
        elif text:
            self.flush()
            self.pending.append(text)

    def read(self, section: Section | None) -> None:
        for i in self.body.line_indices(section):
            line = self.body.lines[i]
            if line.startswith("#"):
                self.heading(i)
                continue
            label = bold_label(line)
            if label is not None and self.label(i, line, label):
                continue
            self.item(line)
        self.flush()


def deliverables_from_section(draft: Draft, body: Body, section: Section | None) -> None:
    """Phase labels (bold or sub-heading) and the list items under each; nested items
    join their parent: `Migration scripts (forward migration; rollback script)`."""
    _SectionReader(draft, body).read(section)


def deliverables_from_tables(draft: Draft, body: Body) -> None:
    """`| Phase | Output |` tables anywhere outside code fences."""
    lines, fenced = body.lines, body.doc.fenced
    i = body.doc.start
    while i < len(lines):
        cells = table_cells(lines[i]) if not fenced[i] and "|" in lines[i] else None
        if not cells or snake(cells[0]) not in ("phase", "phases", "stage") or len(cells) < 2:
            i += 1
            continue
        draft.toon_used = True
        i += 1
        while i < len(lines) and not fenced[i]:
            row = table_cells(lines[i])
            if row is None:
                break
            if not is_table_rule(row):
                _table_row(draft, row, i + 1)
            i += 1


def _table_row(draft: Draft, row: list[str], line: int) -> None:
    parsed = parse_phase_label(row[0])
    if parsed is None:
        draft.warn(line, f"deliverables row {row[0][:40]!r} names no phase number; skipped")
        return
    items = [x for cell in row[1:] for x in split_items(cell.replace("<br>", ";"))]
    draft.add_deliverables(parsed[0], parsed[1], [strip_inline(x) for x in items], line)
