"""The call journal: every model answer and every paid call, saved the moment it arrives.

LangGraph checkpoints after each step, but a step can die after its model call
returned and before the step finished. The journal closes that gap: a resumed run
re-executes the step, asks the journal first, and pays for no answer twice.

It is also the run's ledger of money. Every answer the provider returned is recorded
with its usage, whatever happened to it afterwards: an answer that was refused,
truncated or did not validate was billed all the same, and so were attempts that got
no answer. The answer and its usage are written in one transaction, so a crash can
never keep one without the other. The manifest's usage is the sum of this ledger.

On SQLite the journal is two tables beside the checkpoints, written through the
checkpointer's own connection and lock, so a process never competes with itself for
the file's write lock. On PostgreSQL it lives in LangGraph's store.
"""

from __future__ import annotations

import json
import secrets
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from langgraph.store.base import BaseStore, PutOp

from orchestrator.usage import CallUsage, UsageRecord

SQLITE_TABLE = """
CREATE TABLE IF NOT EXISTS phasegraph_calls (
    run_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    raw TEXT NOT NULL,
    usage TEXT NOT NULL,
    PRIMARY KEY (run_id, fingerprint)
);
CREATE TABLE IF NOT EXISTS phasegraph_usage (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    agent TEXT NOT NULL,
    phase TEXT NOT NULL,
    usage TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS phasegraph_usage_run ON phasegraph_usage (run_id, id);
"""
"""The journal's SQLite schema (run with `executescript`; every statement is idempotent)."""


@dataclass(frozen=True)
class JournalEntry:
    """One saved answer: the raw JSON and what it cost when it was made."""

    raw: str
    usage: CallUsage


class CallJournal(ABC):
    """Answers of one run, keyed by the request's fingerprint, and every call's usage."""

    @abstractmethod
    async def get(self, fingerprint: str) -> JournalEntry | None:
        """The saved answer for this request, if the run already paid for it."""

    @abstractmethod
    async def save(self, record: UsageRecord, answer: tuple[str, str] | None = None) -> None:
        """Record a paid call durably, with its usable answer `(fingerprint, raw)` if there was one."""

    @abstractmethod
    async def spending(self) -> list[UsageRecord]:
        """Every recorded call of the run, in the order they were recorded."""

    @abstractmethod
    async def count(self) -> int:
        """How many answers the journal holds (for tests and benchmarks)."""


class StoreJournal(CallJournal):
    """The journal in a LangGraph store (PostgreSQL runs)."""

    def __init__(self, store: BaseStore, run_id: str) -> None:
        self._store = store
        self._answers = ("phasegraph", "calls", run_id)
        self._usage = ("phasegraph", "usage", run_id)

    async def get(self, fingerprint: str) -> JournalEntry | None:
        item = await self._store.aget(self._answers, fingerprint)
        if item is None:
            return None
        return JournalEntry(raw=item.value["raw"], usage=CallUsage.model_validate(item.value["usage"]))

    async def save(self, record: UsageRecord, answer: tuple[str, str] | None = None) -> None:
        # A sortable key: nanoseconds, then a random suffix for two records in one tick.
        key = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
        ops = [PutOp(self._usage, key, record.model_dump(mode="json"))]
        if answer is not None:
            fingerprint, raw = answer
            ops.append(PutOp(self._answers, fingerprint, {"raw": raw, "usage": record.call.model_dump()}))
        await self._store.abatch(ops)

    async def spending(self) -> list[UsageRecord]:
        items = await self._store.asearch(self._usage, limit=1_000_000)
        return [UsageRecord.model_validate(item.value) for item in sorted(items, key=lambda i: i.key)]

    async def count(self) -> int:
        return len(await self._store.asearch(self._answers, limit=1_000_000))


class SqliteJournal(CallJournal):
    """The journal as tables in the checkpoint file, behind the checkpointer's lock."""

    def __init__(self, saver: Any, run_id: str) -> None:
        self._conn = saver.conn
        self._lock = saver.lock
        self._run_id = run_id

    async def get(self, fingerprint: str) -> JournalEntry | None:
        async with (
            self._lock,
            self._conn.execute(
                "SELECT raw, usage FROM phasegraph_calls WHERE run_id = ? AND fingerprint = ?",
                (self._run_id, fingerprint),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        if row is None:
            return None
        return JournalEntry(raw=row[0], usage=CallUsage.model_validate(json.loads(row[1])))

    async def save(self, record: UsageRecord, answer: tuple[str, str] | None = None) -> None:
        usage = record.call.model_dump_json()
        async with self._lock:
            await self._conn.execute(
                "INSERT INTO phasegraph_usage (run_id, agent, phase, usage) VALUES (?, ?, ?, ?)",
                (self._run_id, record.agent, record.phase, usage),
            )
            if answer is not None:
                await self._conn.execute(
                    "INSERT OR REPLACE INTO phasegraph_calls (run_id, fingerprint, raw, usage) "
                    "VALUES (?, ?, ?, ?)",
                    (self._run_id, answer[0], answer[1], usage),
                )
            await self._conn.commit()

    async def spending(self) -> list[UsageRecord]:
        async with (
            self._lock,
            self._conn.execute(
                "SELECT agent, phase, usage FROM phasegraph_usage WHERE run_id = ? ORDER BY id",
                (self._run_id,),
            ) as cursor,
        ):
            rows = await cursor.fetchall()
        return [
            UsageRecord(agent=agent, phase=phase, call=CallUsage.model_validate_json(usage))
            for agent, phase, usage in rows
        ]

    async def count(self) -> int:
        async with (
            self._lock,
            self._conn.execute(
                "SELECT COUNT(*) FROM phasegraph_calls WHERE run_id = ?", (self._run_id,)
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return int(row[0]) if row else 0
