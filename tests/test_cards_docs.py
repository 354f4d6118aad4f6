"""The examples in docs/cards.md are real cards that parse as the page says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator.cards import AgentCard, parse_card

DOC = Path(__file__).resolve().parent.parent / "docs" / "cards.md"
_BLOCK = re.compile(r"^(`{3,})markdown\n(.*?)^\1$", re.MULTILINE | re.DOTALL)


def _examples() -> dict[str, AgentCard]:
    cards = [
        parse_card(m.group(2), "docs/cards.md") for m in _BLOCK.finditer(DOC.read_text(encoding="utf-8"))
    ]
    return {card.id: card for card in cards}


@pytest.mark.parametrize(
    ("agent_id", "fmt", "deliverables", "collaborators"),
    [
        ("backend-python", "seed", ["2", "5b", "7"], ["database-specialist", "frontend agents"]),
        ("frontend-react", "toon", ["2", "5b", "7"], ["backend-python", "qa-automation"]),
        ("code-reviewer", "frontmatter", [], []),
        ("database-specialist", "frontmatter+seed", ["2"], []),
    ],
)
def test_doc_example_parses_as_described(
    agent_id: str, fmt: str, deliverables: list[str], collaborators: list[str]
) -> None:
    card = _examples()[agent_id]
    assert card.format == fmt
    assert list(card.deliverables) == deliverables
    assert [c.id for c in card.collaborators] == collaborators
    assert card.warnings == []


def test_doc_seed_example_keeps_code_out_of_headings() -> None:
    card = _examples()["backend-python"]
    assert card.tech_stack == ["FastAPI"]
    assert card.status == "active"
    assert card.metadata == {"last_updated": "2024-11-26"}
