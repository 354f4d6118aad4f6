"""A card compiled into the rules the router matches: task terms, implied words, project patterns.

Private to `orchestrator.routing`, which matches them; docs/routing.md explains each rule
and its weight. Compiling is done once per card and run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from orchestrator._terms import content_words, term
from orchestrator._weights import Weights
from orchestrator.cards import AgentCard

PROJECT_TRIGGERS: dict[str, str] = {
    "file_patterns": "file",
    "files": "file",
    "file": "file",
    "imports": "import",
    "import": "import",
    "structure": "structure",
    "config": "config",
    "configs": "config",
    "scripts": "script",
    "script": "script",
}
"""Card trigger types matched against the project (card type -> reason trigger). Every
other type (`keywords`, or anything a card invents) is matched against the task text."""


@dataclass(frozen=True)
class Term:
    """A card term matched against the task's words."""

    words: tuple[str, ...]
    group: Literal["agent", "explicit", "stated"]
    trigger: str
    pattern: str
    points: float


@dataclass
class CardRules:
    """One card's rules, compiled once."""

    card: AgentCard
    terms: list[Term]
    implied: dict[str, tuple[str, float]]
    """Implied word -> (source, base points before the 1/df factor)."""
    project: list[tuple[str, str]]
    """(reason trigger, pattern) for every project trigger."""


def compile_card(card: AgentCard, weights: Weights) -> CardRules:
    """Turn a card into the terms and patterns the router matches."""
    tech = list(dict.fromkeys(_tech_names(card)))
    terms: list[Term] = []
    for name in [card.name, *_aliases(card)]:
        words = term(name)
        if words:
            terms.append(Term(words, "agent", "agent", name, weights.agent))
    project: list[tuple[str, str]] = []
    for kind, patterns in card.triggers.items():
        project_kind = PROJECT_TRIGGERS.get(kind)
        for pattern in patterns:
            if not pattern.strip():
                continue
            if project_kind is not None:
                project.append((project_kind, pattern.strip()))
                continue
            words = term(pattern)
            if not words:
                continue
            if kind == "keywords":
                is_tech = any(words == item[: len(words)] for item in tech)
                trigger, points = ("tech", weights.tech) if is_tech else ("keyword", weights.keyword)
            else:
                trigger, points = kind, weights.keyword
            terms.append(Term(words, "explicit", trigger, pattern.strip(), points))
    if not any(t.group == "explicit" for t in terms):
        terms.extend(_stated(card, tech, weights))
    return CardRules(card=card, terms=terms, implied=_implied(card, weights), project=project)


def _stated(card: AgentCard, tech: list[tuple[str, ...]], weights: Weights) -> list[Term]:
    """For a card without task triggers: the technologies it names (`laravel`) and the words
    of its use clauses (`coverage`), matched like keywords at their own weights. The use
    words' points are divided by their df when the router is built."""
    terms = [Term(words, "stated", "stated:tech", " ".join(words), weights.stated_tech) for words in tech]
    named = {word for words in tech for word in words}
    for word in dict.fromkeys(content_words(" ".join(card.uses))):
        if word not in named:
            terms.append(Term((word,), "stated", "stated:use", word, weights.stated_use))
    return terms


def _implied(card: AgentCard, weights: Weights) -> dict[str, tuple[str, float]]:
    """Each content word of the card's id, name, tech stack, competency headings and items, and
    purpose, with its strongest source."""
    sources = {
        "id": card.id.replace("-", " ").replace("_", " "),
        "name": card.name,
        "tech_stack": " ".join(card.tech_stack),
        "competency": " ".join(card.competencies),
        "skill": " ".join(card.skills),
        "purpose": card.purpose,
    }
    implied: dict[str, tuple[str, float]] = {}
    for source, text in sources.items():
        points = weights.implied[source]
        for word in content_words(text):
            if word not in implied or implied[word][1] < points:
                implied[word] = (source, points)
    return implied


def _tech_names(card: AgentCard) -> list[tuple[str, ...]]:
    """The technologies the card's Tech Stack names, one term each (`Vite + React` is two)."""
    names: list[tuple[str, ...]] = []
    for item in card.tech_stack:
        for part in re.split(r",|\s[+&/]\s|\sand\s", item):
            words = term(part)
            if words:
                names.append(words)
    return names


def _aliases(card: AgentCard) -> list[str]:
    declared = card.metadata.get("aliases")
    values = declared if isinstance(declared, list) else [declared] if declared else []
    return [str(v) for v in values if str(v).strip()]
