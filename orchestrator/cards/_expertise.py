"""What a card says it is good at: the Core Competencies and Tech Stack sections.

Competencies are the section's sub-headings (or, without any, its top-level list
items). The tech stack is the technologies its bold labels and sub-headings
name, with generic words (`Frameworks`, `Testing`, `Primary`) left out.
"""

from __future__ import annotations

import bisect

from orchestrator.cards._body import Body, Section
from orchestrator.cards._markdown import bold_label, heading_title, list_item, plain, strip_inline

GENERIC_TECH = frozenset(
    {
        "primary",
        "secondary",
        "supported",
        "optional",
        "recommended",
        "required",
        "preferred",
        "legacy",
        "version",
        "versions",
        "frameworks",
        "framework",
        "libraries",
        "library",
        "tools",
        "tooling",
        "testing",
        "languages",
        "language",
        "orms",
        "orm",
        "databases",
        "database",
        "other",
        "others",
        "core",
        "misc",
        "infrastructure",
        "runtime",
        "runtimes",
        "platforms",
        "platform",
        "services",
        "and",
        "&",
    }
)
"""Words that name a kind of technology, not a technology."""


def competencies(body: Body, section: Section | None) -> list[str]:
    """The Core Competencies section's sub-headings, numbering removed, or its top-level items."""
    if section is None:
        return []
    subs = [
        h for h in body.doc.headings if section.start <= h.index < section.end and h.level == body.level + 1
    ]
    if subs:
        return [t for t in (heading_title(h.text) for h in subs) if t]
    items = []
    for i in body.line_indices(section):
        item = list_item(body.lines[i])
        if item is not None and item[0] == 0:
            label = bold_label(body.lines[i])
            items.append(label[0] if label else strip_inline(item[1]))
    return [i for i in items if i]


def tech_stack(body: Body, section: Section | None) -> list[str]:
    """Technologies named by the section's bold labels (`**Django:**`) and sub-headings.

    A sub-heading with named labels under it is a category (`### ORMs`) and is
    skipped; generic words (`Frameworks`, `Testing`, `Primary`) never count, so
    `### Python Versions` (whose labels are `Primary`, `Supported`) gives `Python`.
    """
    if section is None:
        return []
    found: list[tuple[int, str]] = []
    labels: list[int] = []
    for i in body.line_indices(section):
        label = bold_label(body.lines[i])
        name = plain(label[0]) if label is not None else ""
        if name and name.lower() not in GENERIC_TECH:
            found.append((i, name))
            labels.append(i)
    subs = [h for h in body.doc.headings if section.start <= h.index < section.end and h.level > body.level]
    stops = [h.index for h in subs[1:]] + [section.end]
    for heading, stop in zip(subs, stops[: len(subs)], strict=True):
        words = [w for w in heading_title(heading.text).split() if w.lower() not in GENERIC_TECH]
        if words and bisect.bisect_right(labels, heading.index) == bisect.bisect_left(labels, stop):
            found.append((heading.index, " ".join(words)))
    names: dict[str, str] = {}
    for _index, name in sorted(found):
        names.setdefault(name.lower(), name)
    return list(names.values())
