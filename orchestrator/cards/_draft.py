"""The card as the reading steps fill it in: its lists, metadata, field lines and warnings.

Every format adds to one draft, so a trigger or deliverable stated twice (in the
front matter and again in the body) is kept once, at its first line, and the
warnings come out in the order the steps ran.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.cards._model import CardFormat, Collaborator

IDENTITY_KEYS = frozenset({"id", "agent_id", "name", "priority", "version", "status", "category", "tags"})
"""Keys that become AgentCard fields (or normalised `category`/`tags`) rather than plain metadata."""


def warn(line: int, message: str) -> str:
    """A parser warning, worded so `warning_location` can split off its line."""
    return f"line {line}: {message}"


@dataclass
class Draft:
    """What one card's reading steps have found so far."""

    source: str
    warnings: list[str]
    """Shared with the decoding step, which may already have added some."""
    metadata: dict[str, Any] = field(default_factory=dict)
    line_of: dict[str, int] = field(default_factory=dict)
    """Field (`id`, `triggers`, `deliverables.5b`, `collaborators.<id>`) -> 1-based line."""
    triggers: dict[str, list[str]] = field(default_factory=dict)
    collaborators: list[Collaborator] = field(default_factory=list)
    deliverables: dict[str, list[str]] = field(default_factory=dict)
    phase_names: dict[str, str] = field(default_factory=dict)
    toon_used: bool = False
    """A ```toon block or a `| Phase | Output |` table was read."""
    seed_body: bool = False
    """Bold `**Key:** value` lines (the seed format) were read."""
    seen: dict[str, set[str]] = field(default_factory=dict)
    """Items already in each triggers/deliverables list, so adding stays linear."""

    def warn(self, line: int, message: str) -> None:
        self.warnings.append(warn(line, message))

    def _seen_in(self, key: str, bucket: list[str]) -> set[str]:
        seen = self.seen.get(key)
        if seen is None:
            seen = self.seen[key] = set(bucket)
        return seen

    def add_triggers(self, kind: str, values: list[str], line: int) -> None:
        if not values:
            return
        self.line_of.setdefault("triggers", line)
        bucket = self.triggers.setdefault(kind, [])
        seen = self._seen_in(f"triggers.{kind}", bucket)
        for value in values:
            if value not in seen:
                seen.add(value)
                bucket.append(value)

    def add_collaborator(self, collaborator: Collaborator | None, line: int) -> None:
        if collaborator is None:
            return
        self.line_of.setdefault("collaborators", line)
        if f"collaborators.{collaborator.id}" in self.line_of:
            self.warn(line, f"collaborator {collaborator.id!r} is listed twice; kept the first")
            return
        self.line_of[f"collaborators.{collaborator.id}"] = line
        self.collaborators.append(collaborator)

    def add_deliverables(self, label: str, name: str, items: list[str], line: int) -> None:
        self.line_of.setdefault(f"deliverables.{label}", line)
        if name:
            self.phase_names.setdefault(label, name)
        bucket = self.deliverables.setdefault(label, [])
        seen = self._seen_in(f"deliverables.{label}", bucket)
        for item in items:
            if item and item not in seen:
                seen.add(item)
                bucket.append(item)

    def format(self, has_front: bool) -> CardFormat:
        """Which format the card is written in, from what the steps read."""
        if has_front:
            if self.toon_used:
                return "frontmatter+toon"
            return "frontmatter+seed" if self.seed_body else "frontmatter"
        return "toon" if self.toon_used else "seed"
