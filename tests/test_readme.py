"""The README's card examples parse as the README says they do."""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator.cards import parse_card

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _card_examples() -> list[str]:
    section = README.split("## Agent cards", 1)[1].split("\n## Routing weights", 1)[0]
    return [m.group(2) for m in re.finditer(r"(?ms)^(`{3,4})markdown\n(.*?)^\1$", section)]


def test_readme_shows_one_example_of_each_card_format() -> None:
    assert len(_card_examples()) == 3


def test_readme_seed_example_parses_with_its_triggers_collaborator_and_phases() -> None:
    card = parse_card(_card_examples()[0])
    assert (card.id, card.priority, card.format) == ("backend-python", 90, "seed")
    assert card.triggers["keywords"] == ["python", "fastapi", "api"]
    assert [c.id for c in card.collaborators] == ["database-specialist"]
    assert card.deliverables == {"2": ["API architecture"], "5b": ["Working API endpoints"]}


def test_readme_toon_example_parses_its_typed_triggers_and_table() -> None:
    card = parse_card("# Agent: Backend Python\n\n**Agent ID:** backend-python\n\n" + _card_examples()[1])
    assert card.triggers["imports"] == ["django", "fastapi"]
    assert card.deliverables["5b"] == ["API endpoints", "migrations", "services"]


def test_readme_front_matter_example_parses_alone() -> None:
    card = parse_card(_card_examples()[2])
    assert card.id == "backend-python" and card.format == "frontmatter"
    assert card.metadata["tools"] == ["Read", "Edit", "Bash"]
