"""Catalog: every agent card phasegraph can use, loaded from folders in precedence order.

Folders are searched in this order, and the first card with a given id wins:
the `agents_dirs` the caller passes (the CLI's `--agents-dir` flags, then
`PHASEGRAPH_AGENTS_DIRS`), the project's own `agents/` folder, then the built-in
catalogue. A card that overrides a lower folder's card is recorded in
`overrides`, not reported as a problem; the same id twice in one folder is a lint
error naming both files. Files that cannot be cards (README.md, non-markdown) are
skipped; markdown files that fail to parse become lint errors, never exceptions.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from orchestrator._log import get_logger
from orchestrator._resources import builtin_dir
from orchestrator._roles import card_roles
from orchestrator.cards import (
    AgentCard,
    is_card_file,
    load_card,
    plain,
    priority_problem,
    slugify,
    warning_location,
)
from orchestrator.errors import CardError, ConfigError, NotFound

_GROUP_LEADS = frozenset({"all", "any", "other", "the", "every"})
_GROUP_TAILS = frozenset(
    {
        "agents",
        "agent",
        "team",
        "teams",
        "developers",
        "developer",
        "engineers",
        "engineer",
        "specialists",
        "experts",
        "people",
        "folks",
    }
)
_EVERYONE = frozenset({"", "everyone", "everybody", "all"})


Origin = Literal["user", "builtin"]
"""Where a card came from: a user folder (`--agents-dir`, `PHASEGRAPH_AGENTS_DIRS`, the
project's `agents/`) or the built-in catalogue."""


def card_origin(card: AgentCard) -> Origin:
    """`builtin` for a card read from the built-in folder, else `user`."""
    if not card.source or card.source.startswith("<"):
        return "user"
    try:
        inside = Path(card.source).resolve().is_relative_to(builtin_dir("agents").resolve())
    except OSError:
        inside = False
    return "builtin" if inside else "user"


class LintProblem(BaseModel):
    """One thing wrong with a card or the catalogue, at a file and line."""

    path: str
    line: int
    severity: Literal["error", "warning"]
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class CardOverride(BaseModel):
    """A card in a higher-precedence folder that hides one with the same id further down."""

    id: str
    path: str
    """The card in use."""
    shadowed: str
    """The card it hides."""

    def __str__(self) -> str:
        return f"{self.path} overrides {self.shadowed} (agent {self.id})"


def group_topic(group: str) -> str:
    """The words that pick a group's members: `all frontend agents` -> `frontend`, `all agents` -> ``."""
    words = re.split(r"[\s\-_/]+", plain(group).lower())
    words = [w for w in words if w]
    while words and words[0] in _GROUP_LEADS:
        words.pop(0)
    while words and words[-1] in _GROUP_TAILS:
        words.pop()
    return " ".join(words)


def _terms(card: AgentCard) -> set[str]:
    """The words a group name is matched against: id parts, name words, category, tags, aliases."""
    terms: set[str] = set(card.id.split("-")) | {card.id.replace("-", "")}
    terms |= {w for w in re.split(r"[\s\-_/&,]+", plain(card.name).lower()) if w}
    for key in ("category", "tags", "aliases"):
        value = card.metadata.get(key)
        values = value if isinstance(value, list) else [value] if value else []
        for item in values:
            text = plain(str(item)).lower()
            terms.add(text.replace(" ", "").replace("-", ""))
            terms |= {w for w in re.split(r"[\s\-_/&,]+", text) if w}
    return terms


def _matches(topic: str, terms: set[str]) -> bool:
    words = topic.split()
    joined = "".join(words)
    if joined in terms:
        return True
    return all(w in terms or (w.endswith("s") and w[:-1] in terms) for w in words)


class Catalog:
    """The loaded cards, keyed and sorted by id, with what went wrong while loading them."""

    def __init__(
        self,
        cards: Iterable[AgentCard] = (),
        *,
        problems: Iterable[LintProblem] = (),
        overrides: Iterable[CardOverride] = (),
        dirs: Iterable[Path] = (),
    ) -> None:
        self.problems: list[LintProblem] = list(problems)
        """Errors found while loading: unreadable cards, duplicate ids within one folder."""
        self.overrides: list[CardOverride] = list(overrides)
        self.dirs: list[Path] = list(dirs)
        """The folders searched, highest precedence first."""
        unique: dict[str, AgentCard] = {}
        for card in cards:
            if card.id in unique:
                self.problems.append(_duplicate(card, unique[card.id]))
            else:
                unique[card.id] = card
        self.cards: dict[str, AgentCard] = dict(sorted(unique.items()))
        self._aliases = self._build_aliases()
        self._terms: dict[str, set[str]] | None = None
        self._groups: dict[str, list[str]] = {}
        self._suggestions: dict[str, str] = {}

    @classmethod
    def load(
        cls,
        agents_dirs: Sequence[Path] = (),
        *,
        project_dir: Path | None = None,
        include_builtin: bool = True,
    ) -> Catalog:
        """Load every card from the folders in precedence order (see the module docstring)."""
        dirs: list[Path] = []
        for folder in agents_dirs:
            if not folder.is_dir():
                what = "is not a directory" if folder.exists() else "does not exist"
                raise ConfigError(f"agents directory {folder} {what}")
            dirs.append(folder)
        if project_dir is not None and (project_dir / "agents").is_dir():
            dirs.append(project_dir / "agents")
        if include_builtin and builtin_dir("agents").is_dir():
            dirs.append(builtin_dir("agents"))
        searched: list[Path] = []
        seen: set[Path] = set()
        for folder in dirs:
            if folder.resolve() not in seen:
                seen.add(folder.resolve())
                searched.append(folder)
        chosen: dict[str, AgentCard] = {}
        problems: list[LintProblem] = []
        overrides: list[CardOverride] = []
        log = get_logger("phasegraph.catalog")
        for folder in searched:
            local: dict[str, AgentCard] = {}
            for path in sorted(folder.iterdir()):
                if not is_card_file(path):
                    continue
                try:
                    card = load_card(path)
                except CardError as exc:
                    problems.append(
                        LintProblem(
                            path=exc.path or str(path),
                            line=exc.line or 1,
                            severity="error",
                            message=exc.reason,
                        )
                    )
                    continue
                if card.id in local:
                    problems.append(_duplicate(card, local[card.id]))
                    continue
                local[card.id] = card
            for agent_id, card in local.items():
                if agent_id in chosen:
                    overrides.append(
                        CardOverride(id=agent_id, path=chosen[agent_id].source, shadowed=card.source)
                    )
                    log.info(
                        "card overridden", agent=agent_id, path=chosen[agent_id].source, shadowed=card.source
                    )
                else:
                    chosen[agent_id] = card
        return cls(chosen.values(), problems=problems, overrides=overrides, dirs=searched)

    def check(self) -> Catalog:
        """This catalogue, or `CardError` (`PATH:LINE: message`) for its first card that could not load.

        Loading collects problems so that `agents list` and `agents lint` can show them all;
        whatever routes (run, verify, plan, route) calls this first, because routing around
        a card the user wrote would pick other agents and spend money without a word. A file
        in a card folder that is not meant as a card is left out by its name (`_draft.md`,
        `README.md`; see `is_card_file`).
        """
        errors = [p for p in self.problems if p.severity == "error"]
        if not errors:
            return self
        first = errors[0]
        more = f" ({len(errors) - 1} more: `phasegraph agents lint`)" if len(errors) > 1 else ""
        raise CardError(
            f"{first.message} — fix it, or name it _{Path(first.path).name} to leave it out{more}",
            first.path,
            first.line,
        )

    # -- lookup ------------------------------------------------------------

    def _build_aliases(self) -> dict[str, str]:
        """Other names a card answers to: its id in any case, its name as a slug, declared aliases."""
        claims: dict[str, set[str]] = {}
        for card in self.cards.values():
            declared = card.metadata.get("aliases")
            names = declared if isinstance(declared, list) else [declared] if declared else []
            for alias in [card.id, card.name, *names]:
                key = slugify(str(alias))
                if key:
                    claims.setdefault(key, set()).add(card.id)
        return {
            alias: next(iter(ids))
            for alias, ids in claims.items()
            if len(ids) == 1 and alias not in self.cards
        }

    def find(self, agent_id: str) -> AgentCard | None:
        """The card with this id or alias, or None."""
        card = self.cards.get(agent_id)
        if card is not None:
            return card
        alias = self._aliases.get(slugify(agent_id))
        if alias is not None:
            return self.cards[alias]
        return self.cards.get(slugify(agent_id))

    def get(self, agent_id: str) -> AgentCard:
        """The card with this id or alias; NotFound (with a suggestion) otherwise."""
        card = self.find(agent_id)
        if card is not None:
            return card
        raise NotFound(f"no agent {agent_id!r} in the catalogue{self._suggest(agent_id)}")

    def _suggest(self, agent_id: str) -> str:
        if agent_id not in self._suggestions:
            self._suggestions[agent_id] = self._closest(agent_id)
        return self._suggestions[agent_id]

    def _closest(self, agent_id: str) -> str:
        names = [*self.cards, *self._aliases]
        close = difflib.get_close_matches(slugify(agent_id) or agent_id, names, n=1, cutoff=0.6)
        if close:
            target = self.cards[close[0]].id if close[0] in self.cards else self._aliases[close[0]]
            return f"; did you mean {target!r}?"
        return f" ({len(self.cards)} agents; see `phasegraph agents list`)"

    def __iter__(self) -> Iterator[AgentCard]:
        return iter(self.cards.values())

    def __len__(self) -> int:
        return len(self.cards)

    def __contains__(self, agent_id: object) -> bool:
        return isinstance(agent_id, str) and agent_id in self.cards

    def __repr__(self) -> str:
        return f"Catalog({len(self.cards)} cards from {len(self.dirs)} folders)"

    # -- groups and collaborators -------------------------------------------

    def group_members(self, group: str) -> list[str]:
        """Ids of the cards a group such as "backend agents" names, sorted.

        The group's topic is its words without leading all/any/other/the and trailing
        agents/team/engineers...; an empty topic ("all agents") is every card.
        Otherwise a card belongs when every topic word appears among its id parts,
        name words, `category`, `tags` or `aliases` (a trailing plural "s" may be
        dropped), or when the topic written as one word does (`front-end` = `frontend`).
        """
        topic = group_topic(group)
        if topic in _EVERYONE:
            return list(self.cards)
        if topic not in self._groups:
            if self._terms is None:
                self._terms = {card.id: _terms(card) for card in self}
            self._groups[topic] = [i for i, terms in self._terms.items() if _matches(topic, terms)]
        return list(self._groups[topic])

    def resolve_collaborators(self, card: AgentCard) -> list[str]:
        """The agent ids `card` may hand work to, in card order: groups expanded, unknown ids
        dropped, the card itself excluded, each id once."""
        out: list[str] = []
        for collaborator in card.collaborators:
            if collaborator.kind == "group":
                ids = self.group_members(collaborator.id)
            else:
                found = self.find(collaborator.id)
                ids = [found.id] if found is not None else []
            out.extend(i for i in ids if i != card.id and i not in out)
        return out

    # -- lint -----------------------------------------------------------------

    def lint(
        self, phase_labels: Sequence[str] = (), *, phases_source: str = "<pipeline>"
    ) -> list[LintProblem]:
        """Everything worth fixing, errors first within each file, sorted by file and line.

        Errors: cards that could not be read (no id, binary...), a non-numeric
        priority, the same id twice in one folder. Warnings: whatever the parser
        repaired or could not read, collaborators no card provides, groups that match
        no card, cards without deliverables, cards whose keywords duplicate another
        card's. With `phase_labels` (a pipeline's phases) also cards that serve none
        of them and phases that no card serves.
        """
        problems = list(self.problems)
        keyword_owner: dict[tuple[str, ...], AgentCard] = {}
        for card in self:
            problems.extend(self._lint_card(card, phase_labels))
            keywords = tuple(sorted(k.lower() for k in card.triggers.get("keywords", [])))
            if keywords:
                other = keyword_owner.setdefault(keywords, card)
                if other is not card:
                    problems.append(
                        _warning(
                            card,
                            card.lines.get("triggers", 1),
                            f"same keywords as {other.id} ({other.source}); "
                            "only priority can tell the two apart",
                        )
                    )
        for label in phase_labels:
            if not any(card.serves(label) for card in self):
                problems.append(
                    LintProblem(
                        path=phases_source,
                        line=1,
                        severity="warning",
                        message=f"no agent has deliverables for phase {label}",
                    )
                )
        return sorted(problems, key=lambda p: (p.path, p.line, p.severity != "error", p.message))

    def _lint_card(self, card: AgentCard, phase_labels: Sequence[str]) -> list[LintProblem]:
        problems: list[LintProblem] = []
        id_line = card.lines.get("id", 1)
        priority_line = card.lines.get("priority")
        if card.priority is None and priority_line is not None:
            problems.append(
                LintProblem(
                    path=card.source,
                    line=priority_line,
                    severity="error",
                    message=priority_problem(card.metadata.get("priority", "")),
                )
            )
        for warning in card.warnings:
            line, message = warning_location(warning)
            if line is not None and line == priority_line and card.priority is None and "priority" in message:
                continue
            problems.append(_warning(card, line or 1, message))
        if not card.deliverables:
            roles = ", ".join(card_roles(card))
            problems.append(
                _warning(
                    card,
                    id_line,
                    f"no deliverables: serves only the phases its role ({roles}) fits, "
                    "with their default deliverables",
                )
            )
        elif phase_labels and not any(card.serves(label) for label in phase_labels):
            problems.append(
                _warning(
                    card,
                    id_line,
                    f"no deliverables for any pipeline phase "
                    f"({', '.join(phase_labels)}); no phase can reach this agent",
                )
            )
        for collaborator in card.collaborators:
            line = card.lines.get(
                f"collaborators.{collaborator.id}", card.lines.get("collaborators", id_line)
            )
            if collaborator.kind == "group":
                if not [m for m in self.group_members(collaborator.id) if m != card.id]:
                    problems.append(
                        _warning(
                            card,
                            line,
                            f"collaborator group {collaborator.id!r} matches no other agent in the catalogue",
                        )
                    )
                continue
            found = self.find(collaborator.id)
            if found is None:
                problems.append(
                    _warning(
                        card,
                        line,
                        f"collaborator {collaborator.id!r} is not in the catalogue"
                        f"{self._suggest(collaborator.id)}",
                    )
                )
            elif found.id == card.id:
                problems.append(_warning(card, line, "the card lists itself as a collaborator"))
        return problems


def _warning(card: AgentCard, line: int, message: str) -> LintProblem:
    return LintProblem(path=card.source, line=line, severity="warning", message=message)


def _duplicate(card: AgentCard, first: AgentCard) -> LintProblem:
    first_line = first.lines.get("id", 1)
    return LintProblem(
        path=card.source,
        line=card.lines.get("id", 1),
        severity="error",
        message=f"duplicate agent id {card.id!r}: already defined in {first.source}:{first_line}; "
        "this card is ignored",
    )
