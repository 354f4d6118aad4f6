"""The card as data: `AgentCard` and `Collaborator`, the types the reading steps fill in.

They live in a module of their own so the reading steps (which build them) need
not import the package root (which imports the steps); `orchestrator.cards`
re-exports everything here, and that is where callers import it from.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

CardFormat = Literal["seed", "toon", "frontmatter", "frontmatter+seed", "frontmatter+toon"]

TRIGGER_TYPES = ("keywords", "file_patterns", "imports", "structure", "config", "scripts")
"""Canonical trigger type names, in display order. Other types keep their own name."""


class Collaborator(BaseModel):
    """One Works-with entry: an agent id or a group such as "backend agents"."""

    id: str
    """Agent id (`database-specialist`) or normalised group name (`backend agents`)."""
    kind: Literal["agent", "group"]
    note: str = ""
    """What the card says this collaborator helps with."""


class AgentCard(BaseModel):
    """The parsed card. Sections stay markdown so prompts can quote them verbatim."""

    id: str
    name: str
    priority: int | None = None
    version: str | None = None
    status: str | None = None
    """Lower-case (`active`, `deprecated`, ...); emoji and decoration removed."""
    purpose: str = ""
    sections: dict[str, str] = Field(default_factory=dict)
    """Level-2 sections keyed by their heading words, lower-case, emoji removed
    (`"core competencies"`, `"tech stack"`, `"best practices"`, ...)."""
    competencies: list[str] = Field(default_factory=list)
    """Level-3 headings under Core Competencies, numbering removed (`"Django Framework"`)."""
    tech_stack: list[str] = Field(default_factory=list)
    """Named technologies from the Tech Stack section's sub-headings and bold labels, the values
    of a fenced YAML/TOML block or a table's technology column in it, and a toon `tech_stack`
    list (versions dropped: `Laravel 10.x / 11.x` -> `Laravel`)."""
    skills: list[str] = Field(default_factory=list)
    """Competency list items at any depth (`Eloquent ORM`), competency table rows, toon
    `competencies`/`skills` lists: what the card says it can do, item by item."""
    uses: list[str] = Field(default_factory=list)
    """When to call the agent, in the card's words: the description's "Use for ..." /
    "Use PROACTIVELY when ..." clauses, then a "When to Use" section's items and
    `**Primary:**` values."""
    triggers: dict[str, list[str]] = Field(default_factory=dict)
    """Trigger type (see TRIGGER_TYPES) -> patterns in card order."""
    collaborators: list[Collaborator] = Field(default_factory=list)
    deliverables: dict[str, list[str]] = Field(default_factory=dict)
    """Phase label (`"2"`, `"5b"`, `"7"`) -> deliverable items in card order."""
    phase_names: dict[str, str] = Field(default_factory=dict)
    """Phase label -> the name the card gives it (`"5b"` -> `"Build"`)."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Everything else the card declares: front-matter keys (`tools`, `model`, ...),
    footer metadata (`last_updated`), so nothing is lost."""
    lines: dict[str, int] = Field(default_factory=dict)
    """1-based line of each field in the source (`id`, `priority`, ...), for lint messages."""
    source: str = ""
    """Path of the file the card came from (or `<string>`)."""
    format: CardFormat = "seed"
    warnings: list[str] = Field(default_factory=list)
    """What the parser repaired or could not read, one sentence each."""

    def serves(self, label: str) -> bool:
        """True when the card lists deliverables for phase `label`."""
        return bool(self.deliverables.get(label))

    def summary(self) -> dict[str, Any]:
        """The short form `agents list` prints."""
        return {
            "id": self.id,
            "name": self.name,
            "priority": self.priority,
            "version": self.version,
            "status": self.status,
            "source": self.source,
        }
