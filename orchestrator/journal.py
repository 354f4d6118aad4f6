"""The call journal: every model answer, saved the moment it arrives.

LangGraph checkpoints after each step, but a step can die after its model call
returned and before the step finished. The journal closes that gap: a resumed run
re-executes the step, asks the journal first, and pays for no answer twice.

On SQLite the journal is a table beside the checkpoints, written through the
checkpointer's own connection and lock, so a process never competes with itself
for the file's write lock. On PostgreSQL it lives in LangGraph's store.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from langgraph.store.base import BaseStore

from orchestrator.usage import CallUsage

SQLITE_TABLE = """
CREATE TABLE IF NOT EXISTS phasegraph_calls (
    run_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    raw TEXT NOT NULL,
    usage TEXT NOT NULL,
    PRIMARY KEY (run_id, fingerprint)
)
"""


@dataclass(frozen=True)
class JournalEntry:
    """One saved answer: the raw JSON and what it cost when it was made."""

    raw: str
    usage: CallUsage


class CallJournal(ABC):
    """Answers of one run, keyed by the request's fingerprint."""

    @abstractmethod
    async def get(self, fingerprint: str) -> JournalEntry | None:
        """The saved answer for this request, if the run already paid for it."""

    @abstractmethod
    async def put(self, fingerprint: str, raw: str, usage: CallUsage) -> None:
        """Save an answer durably before the step that asked for it goes on."""

    @abstractmethod
    async def count(self) -> int:
        """How many answers the journal holds (for tests and benchmarks)."""


class StoreJournal(CallJournal):
    """The journal in a LangGraph store (PostgreSQL runs)."""

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
        return len(await self._store.asearch(self._namespace, limit=100_000))


class SqliteJournal(CallJournal):
    """The journal as a table in the checkpoint file, behind the checkpointer's lock."""

    def __init__(self, saver: Any, run_id: str) -> None:
        self._conn = saver.conn
        self._lock = saver.lock
        self._run_id = run_id

    async def get(self, fingerprint: str) -> JournalEntry | None:
        async with self._lock, self._conn.execute(
            "SELECT raw, usage FROM phasegraph_calls WHERE run_id = ? AND fingerprint = ?",
            (self._run_id, fingerprint),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return JournalEntry(raw=row[0], usage=CallUsage.model_validate(json.loads(row[1])))

    async def put(self, fingerprint: str, raw: str, usage: CallUsage) -> None:
        async with self._lock:
            await self._conn.execute(
                "INSERT OR REPLACE INTO phasegraph_calls (run_id, fingerprint, raw, usage) "
                "VALUES (?, ?, ?, ?)",
                (self._run_id, fingerprint, raw, usage.model_dump_json()),
            )
            await self._conn.commit()

    async def count(self) -> int:
        async with self._lock, self._conn.execute(
            "SELECT COUNT(*) FROM phasegraph_calls WHERE run_id = ?", (self._run_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0
