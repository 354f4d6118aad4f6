"""The call journal: every model answer, saved the moment it arrives.

LangGraph checkpoints after each step, but a step can die after its model call
returned and before the step finished. The journal closes that gap: a resumed run
re-executes the step, asks the journal first, and pays for no answer twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from langgraph.store.base import BaseStore

from orchestrator.usage import CallUsage


@dataclass(frozen=True)
class JournalEntry:
    """One saved answer: the raw JSON and what it cost when it was made."""

    raw: str
    usage: CallUsage


class CallJournal:
    """Answers of one run, keyed by the request's fingerprint."""

    def __init__(self, store: BaseStore, run_id: str) -> None:
        self._store = store
        self._namespace = ("phasegraph", "calls", run_id)

    async def get(self, fingerprint: str) -> JournalEntry | None:
        item = await self._store.aget(self._namespace, fingerprint)
        if item is None:
            return None
        return JournalEntry(raw=item.value["raw"], usage=CallUsage.model_validate(item.value["usage"]))

    async def put(self, fingerprint: str, raw: str, usage: CallUsage) -> None:
        await self._store.aput(self._namespace, fingerprint, {"raw": raw, "usage": usage.model_dump()})

    async def count(self) -> int:
        """How many answers the journal holds (for tests and `runs show`)."""
        items = await self._store.asearch(self._namespace, limit=100_000)
        return len(items)
