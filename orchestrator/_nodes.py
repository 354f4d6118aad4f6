"""The pipeline graph's node names and its shape.

A node is named `<phase key>.<kind>` (`design.gate`); `node` builds the name and
`parse_node` reads it back, so no other code formats or splits node names. A
phase key never contains a dot (`orchestrator.phases` allows `a-z`, digits, `-`).
The shape (the phases, and which of them wait for approval) is all a compiled
graph depends on: runs of the same shape can share one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.phases import Pipeline


class NodeKind(StrEnum):
    """The nodes of one phase, in the order a phase passes through them."""

    ROUTE = "route"
    PRIMARY = "primary"
    DISPATCH = "dispatch"
    COLLABORATOR = "collaborator"
    GATE = "gate"
    APPROVAL = "approval"


def node(phase: str, kind: NodeKind) -> str:
    """The graph's name for `phase`'s node of this kind (`design.gate`)."""
    return f"{phase}.{kind.value}"


def parse_node(name: str) -> tuple[str, NodeKind] | None:
    """The phase and kind of a node name; None for LangGraph's own (`__start__`, `__interrupt__`)."""
    phase, dot, kind = name.rpartition(".")
    if not dot or not phase:
        return None
    try:
        return phase, NodeKind(kind)
    except ValueError:
        return None


def phase_of(name: str) -> str | None:
    """The phase a node belongs to (`design.gate` -> `design`); None for LangGraph's own nodes."""
    parsed = parse_node(name)
    return parsed[0] if parsed else None


def is_node(name: str, kind: NodeKind) -> bool:
    """True when `name` is some phase's node of this kind."""
    parsed = parse_node(name)
    return parsed is not None and parsed[1] is kind


@dataclass(frozen=True)
class GraphShape:
    """What a compiled graph depends on: the phases in order, and which wait for approval."""

    phases: tuple[str, ...]
    approval: frozenset[str] = frozenset()
    """Phases whose gate is followed by an approval node."""

    @classmethod
    def of(cls, pipeline: Pipeline, keys: Sequence[str], approval_gates: bool) -> GraphShape:
        """The shape of a run of `keys` in `pipeline`; `approval_gates` makes every phase wait."""
        waits = {k for k in keys if approval_gates or pipeline.phase(k).gate == "approval"}
        return cls(phases=tuple(keys), approval=frozenset(waits))

    def next_phase(self, key: str) -> str | None:
        """The phase after `key` in this run, or None after the last."""
        at = self.phases.index(key)
        return self.phases[at + 1] if at + 1 < len(self.phases) else None
