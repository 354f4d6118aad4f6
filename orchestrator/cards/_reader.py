"""One card's text in, one AgentCard out: the reading steps, in the order they run.

The order is part of the result: it fixes the order of the warnings and of the
keys in `metadata` and `lines`, and which statement of a field counts as first.
Each step lives in the module named after what it reads.
"""

from __future__ import annotations

from orchestrator.cards._body import read_body, section_roles, section_texts
from orchestrator.cards._collaborators import collaborators_from_section
from orchestrator.cards._deliverables import deliverables_from_section, deliverables_from_tables
from orchestrator.cards._draft import Draft
from orchestrator.cards._expertise import competencies, tech_stack
from orchestrator.cards._frontmatter import front_lists, read_front_matter
from orchestrator.cards._markdown import split_items
from orchestrator.cards._metadata import (
    Statements,
    read_footer,
    read_grouping,
    read_header,
    read_id,
    read_name,
    read_priority,
    read_purpose,
    read_status,
    read_version,
)
from orchestrator.cards._model import AgentCard
from orchestrator.cards._stated import skills, stated_tech, tech_names, toon_values, usage_items, use_clauses
from orchestrator.cards._toon import toon_blocks, toon_lists
from orchestrator.cards._triggers import triggers_from_section

_SKILL_KEYS = ("competencies", "skills", "capabilities")
_TECH_KEYS = ("tech_stack", "stack", "technologies")


def read_card(text: str, source: str, warnings: list[str]) -> AgentCard:
    """Read clean card text (see `_mojibake`); CardError only when it cannot be a card."""
    draft = Draft(source, warnings)
    lines = text.split("\n")
    front = read_front_matter(lines, draft)
    body = read_body(lines, front.end, draft)
    footer_start, footer = read_footer(body)
    sections = body.sections(footer_start)
    title = body.title
    header_start = (title.index + 1) if title is not None and title.index < body.first_section else front.end
    header, preamble = read_header(body, header_start, min(body.first_section, footer_start), draft)
    toon = toon_blocks(body, sections, draft)
    texts = {"preamble": preamble} if preamble.strip() else {}
    texts.update(section_texts(body, sections))
    roles = section_roles(sections)
    stated = Statements(front, toon, header, footer, lines)
    card_id = read_id(draft, stated, body)
    name = read_name(draft, stated, title, card_id)
    read_grouping(draft, stated)
    purpose = read_purpose(draft, front, roles.get("purpose"), texts, preamble)
    headings = competencies(body, roles.get("competencies"))
    tech = tech_stack(body, roles.get("tech_stack"))
    front_lists(draft, front)
    toon_lists(draft, toon, lines)
    triggers_from_section(draft, body, roles.get("triggers"))
    keywords = header.get("keywords")
    if keywords is not None and not draft.triggers.get("keywords"):
        draft.add_triggers("keywords", split_items(str(keywords.value)), keywords.line)
    description = front.data.get("description")
    uses = [*use_clauses(description if isinstance(description, str) else purpose)]
    uses += usage_items(body, roles.get("usage"))
    collaborators_from_section(draft, body, roles.get("collaboration"))
    deliverables_from_section(draft, body, roles.get("deliverables"))
    deliverables_from_tables(draft, body)
    draft.line_of.update({"id": draft.line_of.get("id", 1), "name": draft.line_of.get("name", 1)})
    return AgentCard(
        id=card_id,
        name=name,
        priority=read_priority(draft, stated),
        version=read_version(draft, stated),
        status=read_status(draft, stated),
        purpose=purpose,
        sections=texts,
        competencies=headings,
        skills=list(
            dict.fromkeys(
                [*skills(body, roles.get("competencies")), *toon_values(draft.metadata, _SKILL_KEYS)]
            )
        ),
        uses=list(dict.fromkeys(uses)),
        tech_stack=list(
            dict.fromkeys(
                [
                    *tech,
                    *stated_tech(body, roles.get("tech_stack")),
                    *tech_names(toon_values(draft.metadata, _TECH_KEYS)),
                ]
            )
        ),
        triggers={k: v for k, v in draft.triggers.items() if v},
        collaborators=draft.collaborators,
        deliverables={k: v for k, v in draft.deliverables.items() if v},
        phase_names=draft.phase_names,
        metadata=draft.metadata,
        lines=draft.line_of,
        source=source,
        format=draft.format(front.present),
        warnings=draft.warnings,
    )
