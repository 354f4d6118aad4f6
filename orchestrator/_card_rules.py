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
from orchestrator.cards import GENERIC_TECH, AgentCard

_NOT_NAMES = GENERIC_TECH | {"apache", "google", "microsoft", "amazon", "open", "the", "new", "my"}
"""First words that do not name a technology on their own."""
_PARENS = re.compile(r"\([^)]*\)")
_SKILL_WORDS = 3
"""A skill item of two to this many words is a name (`Active Record`), not a sentence; a single
word (`Combine`, `Transitions`) is too often an ordinary word, so it stays an implied word."""

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
    """For a card without task triggers: the technologies it names (`laravel`), its short
    skill items (`active record`) and the words of its use clauses (`coverage`), matched
    like keywords at their own weights. The use words' points are divided by their df when
    the router is built."""
    names = list(dict.fromkeys([*tech, *_leading_names(card)]))
    terms = [Term(words, "stated", "stated:tech", " ".join(words), weights.stated_tech) for words in names]
    for skill in card.skills:
        words = term(_PARENS.sub("", skill))
        if 1 < len(words) <= _SKILL_WORDS and words not in tech:
            terms.append(Term(words, "stated", "stated:skill", " ".join(words), weights.stated_skill))
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


def _leading_names(card: AgentCard) -> list[tuple[str, ...]]:
    """The leading proper name of a multi-word technology: `Slack Web API` -> `slack`,
    `Swift Package Manager` -> `swift`; a capitalised first word that is not a stop word, a
    generic word (`Core Data`) or a vendor (`Apache Airflow`: the vendor names many products)."""
    found: list[tuple[str, ...]] = []
    for item in card.tech_stack:
        for part in re.split(r",|\s[+&/]\s|\sand\s", item):
            words = part.split()
            if len(words) < 2 or not words[0][:1].isupper() or words[0].lower() in _NOT_NAMES:
                continue
            if content_words(words[0]) == list(term(words[0])):
                found.append(term(words[0]))
    return found


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
