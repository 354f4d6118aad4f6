"""Every number routing uses, in one place. docs/routing.md explains each one.

The numbers are chosen so that a few orderings always hold, whatever else matches:

- naming an agent (30) beats everything a card can collect without being named
  (explicit terms at most 16, or stated terms at most 12 for a card without task triggers;
  implied terms at most 4, project signals at most 4, phase affinity at most 3);
- one explicit keyword (5) beats everything the project alone can say (at most 4),
  and everything a card's implied terms can say (at most 4);
- within a group, the k-th match earns `DECAY ** (k - 1)` of its points, so more
  evidence always helps but no group can run away (a group is bounded by twice its
  best match).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Weights:
    """Points per trigger and the tier thresholds."""

    agent: float = 30.0
    """The task names the agent: its id (`security-expert`, `@security-expert`), name or alias."""
    tech: float = 8.0
    """An explicit keyword that the card's Tech Stack also names (`django`, `postgresql`)."""
    keyword: float = 5.0
    """Any other explicit keyword (`api`, `schema`, `tests`) and task triggers of other types."""
    implied: dict[str, float] = field(
        default_factory=lambda: {
            "id": 2.0,
            "name": 2.0,
            "tech_stack": 1.5,
            "competency": 1.5,
            "skill": 1.5,
            "purpose": 1.0,
        }
    )
    """A word of the card's id, name, tech stack, competency headings or items, or purpose;
    multiplied by 1/df, where df is how many cards of the catalogue share the word."""
    stated_tech: float = 6.0
    """A card without task triggers: a technology its Tech Stack names (`laravel`). Less than a
    tech keyword the author wrote and corroborated (8), more than a generic keyword (5)."""
    stated_skill: float = 4.0
    """A card without task triggers: a competency item of at most three words (`Active Record`),
    matched as a phrase; a claimed skill, less than a technology name."""
    stated_use: float = 2.0
    """A card without task triggers: a word of its "Use for ..." clauses or "When to Use"
    section; multiplied by 1/df over the cards that state it."""
    primary_floor: float = 3.0
    """Least score of a primary chosen by evidence; below it the phase fallback decides."""
    project: dict[str, float] = field(
        default_factory=lambda: {
            "file": 1.0,
            "file_name": 2.0,
            "import": 2.0,
            "structure": 1.5,
            "config": 1.5,
            "script": 1.5,
        }
    )
    """Project signals: a file glob (`*.py`), an exact file name (`manage.py`), an import,
    a structure entry, a config name, a script."""
    phase: float = 1.5
    """A card keyword that the phase's own name, purpose or instructions use (`tests` in Verify):
    the card specialises in what this phase does. Counted only for a card the task or the
    project already points at, so it tips a close call and never picks a card on its own."""
    decay: float = 0.5
    """Each further match in the same group earns this fraction of the one before."""
    secondary: float = 5.0
    """Lowest score of a secondary candidate: at least one explicit keyword's worth."""
    optional: float = 1.0
    """Lowest score of an optional candidate, and the least the primary needs."""


WEIGHTS = Weights()
"""The weights the router uses unless given others."""
