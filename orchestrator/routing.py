"""Router: picks the agents for a phase by the rules written on their cards, and says why.

Deterministic: the same catalogue, project and task give the same route, byte for byte.
Every point of a score comes with a `Reason` naming the rule and what it matched. The
weights live in `orchestrator._weights` and are explained in docs/routing.md.

Work is split so a run pays for each thing once: the project is scanned once (the
`ProjectSnapshot`), each card's rules are compiled and matched against the project once
(`Router.__init__`), and a route only tokenizes the task and looks its words up in an
index of every card's terms.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from orchestrator._card_rules import CardRules, Term, compile_card
from orchestrator._terms import Token, mentions, tokenize
from orchestrator._weights import WEIGHTS, Weights
from orchestrator.cards import AgentCard
from orchestrator.catalog import Origin, card_origin
from orchestrator.checks.model import CheckOptions, PlannedCheck
from orchestrator.phases import PhaseSpec, Pipeline, card_deliverables, own_deliverables, serves
from orchestrator.project import ProjectSnapshot

Tier = Literal["primary", "secondary", "optional", "none"]


class CardSource(Protocol):
    """What the router needs from a catalogue; `orchestrator.catalog.Catalog` provides it."""

    @property
    def cards(self) -> Mapping[str, AgentCard]: ...

    def resolve_collaborators(self, card: AgentCard) -> list[str]: ...


class Reason(BaseModel):
    """One rule of a card that matched, and the points it added."""

    model_config = ConfigDict(frozen=True)

    trigger: str
    """The kind of rule: `agent`, `tech`, `keyword` (or the card's own task trigger type),
    `implied:id|name|tech_stack|competency|purpose`, `file`, `import`, `structure`, `config`, `script`."""
    pattern: str
    """The rule as the card writes it (`django`, `*.py`, `Backend Python Developer`)."""
    matched: str
    """What it matched: the words of the task as written, or a project path or name."""
    points: float
    """Points added to the score, after the decay within its group."""


class Candidate(BaseModel):
    """One card that serves the phase, with its score and the reasons for it."""

    id: str
    score: float
    """Sum of the reasons' points (two decimals)."""
    priority: int | None
    """The card's priority; breaks ties between equal scores (after the card's origin)."""
    tier: Tier
    reasons: list[Reason] = Field(default_factory=list)
    origin: Origin = "builtin"
    """Where the card came from: `user` (`--agents-dir`, `PHASEGRAPH_AGENTS_DIRS`, the project's
    `agents/`) or `builtin`. A user card wins a tie against a built-in."""
    default_deliverables: bool = False
    """True when the card lists no deliverables and serves this phase with the phase's defaults."""


class Route(BaseModel):
    """Who works on a task in one phase."""

    phase: str
    """Phase key (`design`)."""
    primary: str | None
    """The best candidate, or None when no card serves the phase or none scored enough."""
    collaborators: list[str] = Field(default_factory=list)
    """The primary's Works-with agents that serve the phase, best score first."""
    required_collaborators: list[str] = Field(default_factory=list)
    """Collaborators at tier `secondary` (the task or project points at them): a run consults
    each one, handed off by the primary or, if it did not, by the plan."""
    chosen_by: Literal["evidence", "fallback"] | None = None
    """`evidence`: the primary scored at least the floor; `fallback`: the phase fallback chose it."""
    note: str = ""
    """Why the phase fallback chose the primary, for people (empty when evidence did)."""
    candidates: list[Candidate] = Field(default_factory=list)
    """Every card serving the phase, the primary first, then by score, origin (user cards
    first), priority and id."""


class PlannedPhase(BaseModel):
    """One phase of a plan: who works on it and what each of them must deliver."""

    phase: str
    label: str
    primary: str | None
    collaborators: list[str] = Field(default_factory=list)
    required_collaborators: list[str] = Field(default_factory=list)
    """Collaborators the run consults whether or not the primary hands off to them."""
    deliverables: dict[str, list[str]] = Field(default_factory=dict)
    """Agent id -> the deliverable items its card lists for this phase (primary first); the
    phase's defaults for a card that lists none."""
    checks: list[PlannedCheck] = Field(default_factory=list)
    """The project's real checks the phase would run (`checks:` in its phase file), and why."""
    checks_note: str = ""
    """Why a phase that runs checks would run none (nothing declared or detected)."""
    checks_python: str = ""
    """The Python environment its Python checks would run with, in words."""
    message: str | None = Field(default=None, exclude=True)
    """Why the phase has no primary, for people; None when it has one."""
    route: Route | None = Field(default=None, exclude=True)
    """The full route behind this phase (candidates and reasons)."""


@dataclass(frozen=True)
class _Match:
    """A rule that matched, before the decay within its group decides its points."""

    group: str
    trigger: str
    pattern: str
    matched: str
    points: float


_GROUPS = ("agent", "explicit", "stated", "implied", "phase", "project")


class Router:
    """Scores every card for a task and a phase against one project snapshot."""

    def __init__(self, catalog: CardSource, snapshot: ProjectSnapshot, *, weights: Weights = WEIGHTS) -> None:
        self.catalog = catalog
        self.snapshot = snapshot
        self.weights = weights
        self._rules = {card.id: compile_card(card, weights) for card in catalog.cards.values()}
        self._origin: dict[str, Origin] = {card.id: card_origin(card) for card in catalog.cards.values()}
        _divide_use_terms(self._rules)
        self._ids = {card_id.lower(): card_id for card_id in self._rules}
        df = Counter(word for rules in self._rules.values() for word in rules.implied)
        self._terms: dict[str, list[tuple[str, Term]]] = defaultdict(list)
        self._implied: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
        for card_id, rules in self._rules.items():
            for item in rules.terms:
                self._terms[item.words[0]].append((card_id, item))
            for word, (source, points) in rules.implied.items():
                self._implied[word].append((card_id, f"implied:{source}", points / df[word]))
        self._project: dict[str, list[Reason]] = {}
        self._project_score: dict[str, float] = {}
        for card_id, rules in self._rules.items():
            self._project[card_id] = self._decay(self._match_project(rules))
            self._project_score[card_id] = round(sum(r.points for r in self._project[card_id]), 2)
        # When the project alone gives some card enough points, every task counts as understood.
        self._project_alone = any(score >= weights.optional for score in self._project_score.values())
        self._serving: dict[tuple[str, ...], list[tuple[AgentCard, bool]]] = {}
        self._affinity: dict[str, dict[str, list[_Match]]] = {}

    def route(self, task: str, phase: PhaseSpec) -> Route:
        """The candidates for `phase`, best first, with the primary and its collaborators."""
        tokens = tokenize(task)
        term_hits, implied_hits = self._task_hits(tokens)
        named = mentions(task)
        serving = self._serving_cards(phase)
        affinity = self._phase_affinity(phase)
        candidates = [
            self._candidate(
                card,
                task,
                tokens,
                named,
                term_hits.get(card.id, []),
                implied_hits.get(card.id, []),
                affinity.get(card.id, []),
                default,
            )
            for card, default in serving
        ]
        candidates.sort(key=self._rank)
        understood = bool(candidates) and (
            candidates[0].score >= self.weights.optional
            or self._understood(task, tokens, named, term_hits, implied_hits)
        )
        return self._finish(phase, candidates, understood)

    def _finish(self, phase: PhaseSpec, candidates: list[Candidate], understood: bool) -> Route:
        """Pick the primary (by evidence, else by the phase fallback), set tiers, collaborators."""
        primary: Candidate | None = None
        chosen_by: Literal["evidence", "fallback"] | None = None
        note = ""
        if candidates and candidates[0].score >= self.weights.primary_floor:
            primary, chosen_by = candidates[0], "evidence"
        elif understood:
            own = [c for c in candidates if not c.default_deliverables]
            primary, chosen_by = (own or candidates)[0], "fallback"
            note = (
                f"best score {candidates[0].score:g} is below the floor of {self.weights.primary_floor:g}: "
                f"phase fallback chose {primary.id}"
                + (" (it lists deliverables for this phase)" if own else " (best-ranked card)")
            )
        if primary is not None:
            candidates.remove(primary)
            candidates.insert(0, primary)
        for candidate in candidates:
            candidate.tier = "primary" if candidate is primary else self._tier(candidate.score)
        collaborators = self._collaborators(primary.id if primary else None, candidates)
        tiers = {c.id: c.tier for c in candidates}
        return Route(
            phase=phase.key,
            primary=primary.id if primary else None,
            collaborators=collaborators,
            required_collaborators=[c for c in collaborators if tiers[c] == "secondary"],
            chosen_by=chosen_by,
            note=note,
            candidates=candidates,
        )

    def _phase_affinity(self, phase: PhaseSpec) -> dict[str, list[_Match]]:
        """Card keywords the phase's own text uses, per card; computed once per phase."""
        if phase.key not in self._affinity:
            text = f"{phase.name} {phase.purpose} {phase.instructions}"
            tokens = tokenize(text)
            hits, _ = self._task_hits(tokens)
            found: dict[str, list[_Match]] = {}
            for card_id, items in hits.items():
                for item, start, end in items:
                    if item.group != "explicit":
                        continue
                    matched = text[tokens[start].start : tokens[end - 1].end]
                    found.setdefault(card_id, []).append(
                        _Match("phase", f"phase:{item.trigger}", item.pattern, matched, self.weights.phase)
                    )
            self._affinity[phase.key] = {
                card_id: list({m.pattern: m for m in matches}.values()) for card_id, matches in found.items()
            }
        return self._affinity[phase.key]

    def _serving_cards(self, phase: PhaseSpec) -> list[tuple[AgentCard, bool]]:
        """The cards serving the phase, each with True when it serves with the phase's defaults."""
        key = (phase.key, *phase.collects)
        if key not in self._serving:
            self._serving[key] = [
                (card, not own_deliverables(card, phase))
                for card in self.catalog.cards.values()
                if serves(card, phase)
            ]
        return self._serving[key]

    def _understood(
        self,
        task: str,
        tokens: list[Token],
        named: dict[str, tuple[int, int]],
        term_hits: dict[str, list[tuple[Term, int, int]]],
        implied_hits: dict[str, list[tuple[str, str, float, int]]],
    ) -> bool:
        """True when any card of the catalogue, serving this phase or not, scores enough.

        Then a phase whose own cards all scored too little still gets its best-ranked card:
        the task is real, and the phase (documenting, sharing, reviewing) needs someone.
        """
        if self._project_alone:
            return True
        for card_id in {*term_hits, *implied_hits, *(self._ids[m] for m in named if m in self._ids)}:
            card = self._rules[card_id].card
            candidate = self._candidate(
                card, task, tokens, named, term_hits.get(card_id, []), implied_hits.get(card_id, [])
            )
            if candidate.score >= self.weights.optional:
                return True
        return False

    def _rank(self, candidate: Candidate) -> tuple[bool, float, bool, float, str]:
        """User cards with the floor's evidence first; then score, user before built-in, priority, id."""
        priority = -candidate.priority if candidate.priority is not None else math.inf
        user = candidate.origin == "user"
        leads = user and candidate.score >= self.weights.primary_floor
        return (not leads, -candidate.score, not user, priority, candidate.id)

    def _tier(self, score: float) -> Tier:
        if score >= self.weights.secondary:
            return "secondary"
        return "optional" if score >= self.weights.optional else "none"

    def _collaborators(self, primary: str | None, candidates: list[Candidate]) -> list[str]:
        if primary is None:
            return []
        rank = {c.id: index for index, c in enumerate(candidates)}
        listed = self.catalog.resolve_collaborators(self.catalog.cards[primary])
        return sorted({i for i in listed if i in rank and i != primary}, key=rank.__getitem__)

    def _task_hits(
        self, tokens: list[Token]
    ) -> tuple[dict[str, list[tuple[Term, int, int]]], dict[str, list[tuple[str, str, float, int]]]]:
        words = [t.word for t in tokens]
        term_hits: dict[str, list[tuple[Term, int, int]]] = defaultdict(list)
        implied_hits: dict[str, list[tuple[str, str, float, int]]] = defaultdict(list)
        for start, word in enumerate(words):
            for card_id, item in self._terms.get(word, ()):
                end = start + len(item.words)
                if tuple(words[start:end]) == item.words:
                    term_hits[card_id].append((item, start, end))
            for card_id, trigger, points in self._implied.get(word, ()):
                implied_hits[card_id].append((word, trigger, points, start))
        return term_hits, implied_hits

    def _candidate(
        self,
        card: AgentCard,
        task: str,
        tokens: list[Token],
        named: dict[str, tuple[int, int]],
        term_hits: list[tuple[Term, int, int]],
        implied_hits: list[tuple[str, str, float, int]],
        affinity: Sequence[_Match] = (),
        default: bool = False,
    ) -> Candidate:
        mention = named.get(card.id.lower())
        project = self._project[card.id]

        def candidate(reasons: list[Reason], score: float | None = None) -> Candidate:
            return Candidate(
                id=card.id,
                score=round(sum(r.points for r in reasons), 2) if score is None else score,
                priority=card.priority,
                tier="none",
                reasons=reasons,
                origin=self._origin[card.id],
                default_deliverables=default,
            )

        if not term_hits and not implied_hits and mention is None:
            if project and affinity:
                return candidate([*self._decay(list(affinity)), *project])
            return candidate(list(project), self._project_score[card.id])
        matches: list[_Match] = []
        used: set[int] = set()
        if mention is not None:
            matches.append(
                _Match("agent", "agent", card.id, task[mention[0] : mention[1]], self.weights.agent)
            )
            used |= {i for i, t in enumerate(tokens) if mention[0] <= t.start and t.end <= mention[1]}
        seen: set[tuple[str, ...]] = set()
        for item, start, end in sorted(term_hits, key=lambda h: (h[0].group != "agent", h[1] - h[2], h[1])):
            span = set(range(start, end))
            if span & used or item.words in seen:
                continue
            used |= span
            seen.add(item.words)
            text = task[tokens[start].start : tokens[end - 1].end]
            matches.append(_Match(item.group, item.trigger, item.pattern, text, item.points))
        counted: set[str] = set()
        for word, trigger, points, position in implied_hits:
            if position in used or word in counted:
                continue
            counted.add(word)
            text = task[tokens[position].start : tokens[position].end]
            matches.append(_Match("implied", trigger, word, text, points))
        matches.extend(affinity)
        return candidate([*self._decay(matches), *project])

    def _decay(self, matches: list[_Match]) -> list[Reason]:
        """The k-th best match of a group earns `decay ** k` of its points; one agent mention counts."""
        groups: dict[str, list[_Match]] = {}
        for match in matches:
            groups.setdefault(match.group, []).append(match)
        reasons: list[Reason] = []
        for group in _GROUPS:
            ranked = sorted(groups.get(group, ()), key=_by_points)
            for k, match in enumerate(ranked[:1] if group == "agent" else ranked):
                points = round(match.points * self.weights.decay**k, 2)
                reasons.append(
                    Reason(trigger=match.trigger, pattern=match.pattern, matched=match.matched, points=points)
                )
        return reasons

    def _match_project(self, rules: CardRules) -> list[_Match]:
        """The card's project triggers that match the snapshot; each project file or name counts once."""
        found: list[_Match] = []
        for trigger, pattern in dict.fromkeys(rules.project):
            hit = self._project_hit(trigger, pattern)
            if hit is not None:
                found.append(_Match("project", trigger, pattern, hit[0], hit[1]))
        found.sort(key=lambda m: -m.points)
        unique: dict[str, _Match] = {}
        for match in found:
            unique.setdefault(match.matched, match)
        return list(unique.values())

    def _project_hit(self, trigger: str, pattern: str) -> tuple[str, float] | None:
        weights, snap = self.weights.project, self.snapshot
        if trigger == "file":
            literal = not any(c in pattern for c in "*?[\\")
            path = snap.first_match(pattern)
            return (path, weights["file_name" if literal else "file"]) if path else None
        if trigger == "structure":
            path = snap.first_match(pattern)
            return (path, weights["structure"]) if path else None
        if trigger == "import":
            name = snap.first_name("imports", pattern)
            return (name, weights["import"]) if name else None
        if trigger == "config":
            if "/" in pattern.strip("/"):
                name = snap.first_match(pattern)
            else:
                name = snap.first_name("config", pattern) or snap.first_name("names", pattern)
            return (name, weights["config"]) if name else None
        name = snap.first_name("scripts", pattern)
        return (name, weights["script"]) if name else None


def plan(
    router: Router, task: str, pipeline: Pipeline, checks: CheckOptions | None = None
) -> list[PlannedPhase]:
    """The whole run as it would happen, phase by phase, without calling a model; `checks` are
    the run's `--check*` options."""
    from orchestrator.checks.selection import options_for, plan_checks

    planned: list[PlannedPhase] = []
    for phase in pipeline.phases:
        options = options_for(phase, checks)
        found = plan_checks(router.snapshot.root, options) if options is not None else None
        route = router.route(task, phase)
        deliverables: dict[str, list[str]] = {}
        message = None
        if route.primary is None:
            message = _no_primary(route, phase)
        else:
            for agent_id in [route.primary, *route.collaborators]:
                deliverables[agent_id] = card_deliverables(router.catalog.cards[agent_id], phase)
        planned.append(
            PlannedPhase(
                phase=phase.key,
                label=phase.label,
                primary=route.primary,
                collaborators=route.collaborators,
                required_collaborators=route.required_collaborators,
                deliverables=deliverables,
                checks=found.checks if found else [],
                checks_note=found.note if found else "",
                checks_python=found.python if found and found.checks else "",
                message=message,
                route=route,
            )
        )
    return planned


def plan_json(pipeline: Pipeline, planned: Iterable[PlannedPhase]) -> dict[str, Any]:
    """The plan as `phasegraph plan --json` prints it."""
    return {"pipeline": pipeline.name, "phases": [p.model_dump(mode="json") for p in planned]}


def no_primary_message(route: Route, phase: PhaseSpec) -> str | None:
    """Why a route has no primary, in one sentence; None when it has one."""
    return None if route.primary is not None else _no_primary(route, phase)


def _no_primary(route: Route, phase: PhaseSpec) -> str:
    where = f"phase {phase.key} ({phase.label})"
    if not route.candidates:
        labels = ", ".join(phase.collects)
        return f"{where}: no agent serves this phase (no card lists deliverables for {labels})"
    best = route.candidates[0]
    return f"{where}: no agent matched the task (best was {best.id} with {best.score:g} points)"


def _by_points(match: _Match) -> float:
    return -match.points


def _divide_use_terms(rules: Mapping[str, CardRules]) -> None:
    """A use word stated by several cards says less about each: its points are divided by its df."""
    df = Counter(t.words for r in rules.values() for t in r.terms if t.trigger == "stated:use")
    for r in rules.values():
        r.terms = [
            replace(t, points=t.points / df[t.words]) if t.trigger == "stated:use" else t for t in r.terms
        ]
