"""The card's markdown body: its title, its sections and the part each section plays.

`read_body` locates code fences and headings once, picks the title (`# Agent:
Name`, else the first level-1 heading) and the level the sections are written
at; `Body.sections` cuts the body into sections, `section_texts` keeps each one's
markdown for prompts, and `section_roles` says which section holds the triggers,
the collaborators, the deliverables... by the words in its heading. The field
readers (`_triggers`, `_collaborators`, `_deliverables`, `_expertise`) then walk
only the lines of their section, never those inside code fences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from orchestrator.cards._draft import Draft
from orchestrator.cards._markdown import Heading, Markdown, is_rule, plain, scan

AGENT_TITLE = re.compile(r"agent\s*(?::|\s[-–—])\s*", re.IGNORECASE)
"""The `Agent:` (or `Agent -`) that starts a card's title."""

_SECTION_ROLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("usage", ("when to use", "use when", "use cases", "usage", "when to call")),
    ("triggers", ("triggers", "trigger", "activation")),
    ("collaboration", ("collaboration", "collaborators", "works with", "handoffs", "hand-offs")),
    ("deliverables", ("deliverables", "deliverable", "outputs", "phase outputs")),
    ("competencies", ("competencies", "competency", "capabilities", "expertise", "skills")),
    ("tech_stack", ("tech stack", "technology stack", "technologies", "stack")),
    ("purpose", ("purpose", "role", "overview", "mission", "summary", "about", "description")),
)
"""Which section plays which part, by the words in its heading (first match wins)."""


def role(key: str) -> str | None:
    """The part a section (or a toon key) plays, from its words: `"works with"` -> `collaboration`."""
    words = f" {key.replace('-', ' ')} "
    for name, phrases in _SECTION_ROLES:
        if any(f" {phrase.replace('-', ' ')} " in words for phrase in phrases):
            return name
    return None


class Section(NamedTuple):
    """One section: its heading and the span of lines under it."""

    heading: Heading
    start: int
    """Index of the first line after the heading."""
    end: int
    """Index just past its last line (the next section, the footer or the end)."""


@dataclass
class Body:
    """A card's lines after the front matter, with fences, headings and title located."""

    lines: list[str]
    doc: Markdown
    heading_at: dict[int, Heading]
    title: Heading | None
    level: int
    """Heading level the sections are written at (2, unless the card has no level-2 heading)."""
    first_section: int
    """Index of the first section heading (len(lines) when there is none)."""

    def line_indices(self, section: Section | None) -> list[int]:
        """The section's lines outside code fences (none for a missing section)."""
        if section is None:
            return []
        fenced = self.doc.fenced
        return [i for i in range(section.start, section.end) if not fenced[i]]

    def sections(self, footer_start: int) -> list[Section]:
        """The sections, each running to the next heading at its level or above, or to the footer."""
        found: list[Section] = []
        current: Heading | None = None
        for heading in self.doc.headings:
            if heading.level <= self.level:
                if current is not None:
                    found.append(Section(current, current.index + 1, min(heading.index, footer_start)))
                current = heading if heading.level == self.level and heading is not self.title else None
        if current is not None:
            found.append(Section(current, current.index + 1, footer_start))
        return found


def read_body(lines: list[str], start: int, draft: Draft) -> Body:
    """Locate fences, headings, the title and the section level of the lines from `start`."""
    doc = scan(lines, start)
    if doc.unclosed_fence is not None:
        draft.warn(doc.unclosed_fence + 1, "code fence is never closed; it runs to the end")
    title = _title(doc)
    level = _section_level(doc, title)
    sections = [h for h in doc.headings if h.level == level and h is not title]
    first_section = sections[0].index if sections else len(lines)
    return Body(lines, doc, {h.index: h for h in doc.headings}, title, level, first_section)


def _title(doc: Markdown) -> Heading | None:
    """The `# Agent: Name` heading (any level), else the first level-1 heading."""
    for heading in doc.headings:
        if AGENT_TITLE.match(plain(heading.text)):
            return heading
    return next((h for h in doc.headings if h.level == 1), None)


def _section_level(doc: Markdown, title: Heading | None) -> int:
    levels = {h.level for h in doc.headings if h is not title}
    if 2 in levels or not levels:
        return 2
    return min(levels)


def section_texts(body: Body, sections: list[Section]) -> dict[str, str]:
    """Each section's markdown, keyed by its heading words (repeated keys are joined)."""
    texts: dict[str, str] = {}
    fenced = body.doc.fenced
    for heading, start, end in sections:
        lines = body.lines[start:end]
        while lines and (
            not lines[-1].strip() or (is_rule(lines[-1]) and not fenced[start + len(lines) - 1])
        ):
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
        key = heading.key or f"section {heading.index + 1}"
        text = "\n".join(lines)
        texts[key] = f"{texts[key]}\n\n{text}" if key in texts else text
    return texts


def section_roles(sections: list[Section]) -> dict[str, Section]:
    """Role (see `role`) -> the first section that plays it."""
    roles: dict[str, Section] = {}
    for section in sections:
        name = role(section.heading.key)
        if name is not None and name not in roles:
            roles[name] = section
    return roles
