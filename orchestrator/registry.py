"""The run registry: beside the checkpoints, who is advancing each run and how each run last ended.

Two small tables in the checkpoint database. `phasegraph_leases` holds at most one
row per run: the process advancing it (pid, host, a random token), since when, and
until when its claim holds unless renewed (`orchestrator.lease` decides). And
`phasegraph_runs` holds each run's last outcome (status, error type, message): a
run stopped by a provider failure or a budget looks merely unfinished in its
checkpoint, so `runs show` and `runs list` read the outcome here, without building
the run's provider.

On SQLite both tables live in the checkpoint file and are written through the
checkpointer's own connection and lock, like the call journal; on PostgreSQL the
registry has a connection of its own.
"""

from __future__ import annotations

import asyncio
import json
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

LEASES_TABLE = """
CREATE TABLE IF NOT EXISTS phasegraph_leases (
    run_id TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    node TEXT NOT NULL,
    acquired_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
)
"""

RUNS_TABLE = """
CREATE TABLE IF NOT EXISTS phasegraph_runs (
    run_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    error_type TEXT,
    message TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
)
"""

INFO_TABLE = """
CREATE TABLE IF NOT EXISTS phasegraph_run_info (
    run_id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    phases TEXT NOT NULL,
    options TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
)
"""
"""What a list shows of each run (its task, pipeline and phases as JSON), written once when the run
is started or submitted, and the non-secret options a queued run's continuations reuse (JSON)."""

_HOLDER_COLUMNS = "token, pid, host, node, acquired_at, expires_at"
_STATUS_COLUMNS = "status, error_type, message, updated_at"


@dataclass(frozen=True)
class Owner:
    """A process that wants to advance a run."""

    token: str
    """Random per lease, so a process tells its own claim from an earlier one."""

    pid: int
    """The process id, on `host`."""

    host: str
    """The host name, for people reading the lock message."""

    node: str
    """Where `pid` means something: the kernel boot and pid namespace (`lease.this_node`)."""


@dataclass(frozen=True)
class Holder(Owner):
    """An owner holding the lease, and for how long its claim holds."""

    acquired_at: float
    """When it took the lease, epoch seconds (the database's clock on PostgreSQL)."""

    expires_at: float
    """When the claim lapses unless renewed, epoch seconds on the same clock."""


@dataclass(frozen=True)
class RunInfo:
    """What a run is, as the registry keeps it for listing without opening the run."""

    task: str
    pipeline: str
    phases: list[str]
    options: dict[str, Any]
    """A queued run's non-secret options (`orchestrator.submit`); empty for a run started in-process."""

    created_at: float


@dataclass(frozen=True)
class Listed:
    """One row of `Registry.listing`: the run's info, its recorded outcome and its lease holder."""

    run_id: str
    info: RunInfo
    status: StoredStatus | None
    holder: Holder | None


@dataclass(frozen=True)
class StoredStatus:
    """A run's last outcome as the run recorded it: `running` while a process advances it."""

    status: str
    error_type: str | None
    message: str
    updated_at: float


Stale = Callable[[Holder, float], bool]
"""Whether a holder may be displaced, given the database's time now."""


class Registry(ABC):
    """The lease and status tables of one checkpoint database."""

    @abstractmethod
    async def now(self) -> float:
        """The clock leases are measured by: the database's on PostgreSQL, this host's on SQLite."""

    @abstractmethod
    async def claim(self, run_id: str, owner: Owner, ttl: float, stale: Stale) -> Holder:
        """Take the run's lease unless a holder that is not `stale` has it; return the holder after.

        Reading the current holder and replacing it is one transaction, so of two
        processes claiming at once exactly one gets the lease (its token comes back).
        """

    @abstractmethod
    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Rows of a query."""

    @abstractmethod
    async def _write(self, sql: str, params: Sequence[Any]) -> int:
        """Run a statement and commit it before returning; the number of rows it changed."""

    async def renew(self, run_id: str, token: str, ttl: float) -> bool:
        """Push the expiry of our lease `ttl` seconds ahead; False when it is no longer ours."""
        expires = await self.now() + ttl
        sql = "UPDATE phasegraph_leases SET expires_at = ? WHERE run_id = ? AND token = ?"
        return await self._write(sql, (expires, run_id, token)) == 1

    async def release(self, run_id: str, token: str) -> None:
        """Give the lease up, if it is still ours."""
        await self._write("DELETE FROM phasegraph_leases WHERE run_id = ? AND token = ?", (run_id, token))

    async def holder(self, run_id: str) -> Holder | None:
        """Who holds the run's lease, stale or not; None when nobody does."""
        sql = f"SELECT {_HOLDER_COLUMNS} FROM phasegraph_leases WHERE run_id = ?"
        rows = await self._fetch(sql, (run_id,))
        return _holder(rows[0]) if rows else None

    async def record(self, run_id: str, status: str, error_type: str | None, message: str) -> None:
        """Save the run's outcome (or `running`), replacing the previous one."""
        await self._write(
            f"INSERT INTO phasegraph_runs (run_id, {_STATUS_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, "
            "error_type = excluded.error_type, message = excluded.message, updated_at = excluded.updated_at",
            # PostgreSQL text cannot hold NUL; a message quoting a model's answer might.
            (run_id, status, error_type, message.replace("\x00", ""), time.time()),
        )

    async def settle(self, run_id: str, status: str, error_type: str | None, message: str) -> None:
        """Record an outcome over `queued`, or over `running` when no process holds the run: a
        delivery that found nothing left to do (a run whose worker died after its last step) says
        where the run is, without overwriting what a process advancing it records."""
        await self._write(
            "UPDATE phasegraph_runs SET status = ?, error_type = ?, message = ?, updated_at = ? "
            "WHERE run_id = ? AND status IN ('queued', 'running') "
            "AND NOT EXISTS (SELECT 1 FROM phasegraph_leases WHERE run_id = ?)",
            (status, error_type, message.replace("\x00", ""), time.time(), run_id, run_id),
        )

    async def status(self, run_id: str) -> StoredStatus | None:
        """The run's recorded outcome; None for a run that never recorded one."""
        sql = f"SELECT {_STATUS_COLUMNS} FROM phasegraph_runs WHERE run_id = ?"
        rows = await self._fetch(sql, (run_id,))
        return StoredStatus(*rows[0]) if rows else None

    async def describe(self, run_id: str, info: RunInfo) -> None:
        """Keep what the run is, once: the first description (a submission's) stays."""
        await self._write(
            "INSERT INTO phasegraph_run_info (run_id, task, pipeline, phases, options, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO NOTHING",
            (run_id, *_info_values(info)),
        )

    async def info(self, run_id: str) -> RunInfo | None:
        """What the run is; None for a run never described (one older than the table)."""
        sql = f"SELECT {_INFO_COLUMNS} FROM phasegraph_run_info WHERE run_id = ?"
        rows = await self._fetch(sql, (run_id,))
        return _info(rows[0]) if rows else None

    async def listing(self) -> list[Listed]:
        """Every described run with its outcome and lease holder, in one query."""
        rows = await self._fetch(
            f"SELECT i.run_id, {', '.join('i.' + c for c in _INFO_COLUMNS.split(', '))}, "
            f"{', '.join('r.' + c for c in _STATUS_COLUMNS.split(', '))}, "
            f"{', '.join('l.' + c for c in _HOLDER_COLUMNS.split(', '))} "
            "FROM phasegraph_run_info i LEFT JOIN phasegraph_runs r ON r.run_id = i.run_id "
            "LEFT JOIN phasegraph_leases l ON l.run_id = i.run_id",
            (),
        )
        return [
            Listed(
                row[0],
                _info(row[1:6]),
                StoredStatus(*row[6:10]) if row[6] is not None else None,
                _holder(row[10:16]) if row[10] is not None else None,
            )
            for row in rows
        ]

    async def undescribed(self) -> list[str]:
        """Runs in the checkpointer that the info table lacks (started before it existed)."""
        rows = await self._fetch(
            "SELECT DISTINCT thread_id FROM checkpoints WHERE checkpoint_ns = '' AND thread_id NOT IN "
            "(SELECT run_id FROM phasegraph_run_info)",
            (),
        )
        return [str(row[0]) for row in rows]


_INFO_COLUMNS = "task, pipeline, phases, options, created_at"


def _info(row: Sequence[Any]) -> RunInfo:
    task, pipeline, phases, options, created = row
    return RunInfo(task, pipeline, list(json.loads(phases)), dict(json.loads(options)), float(created))


def _info_values(info: RunInfo) -> tuple[Any, ...]:
    return (
        info.task.replace("\x00", ""),
        info.pipeline,
        json.dumps(info.phases),
        json.dumps(info.options),
        info.created_at,
    )


def _holder(row: Sequence[Any]) -> Holder:
    token, pid, host, node, acquired, expires = row
    return Holder(token, int(pid), host, node, float(acquired), float(expires))


class SqliteRegistry(Registry):
    """The tables in the SQLite checkpoint file, behind the checkpointer's connection and lock."""

    def __init__(self, saver: Any) -> None:
        self._conn = saver.conn
        self._lock: asyncio.Lock = saver.lock

    async def now(self) -> float:
        return time.time()

    async def claim(self, run_id: str, owner: Owner, ttl: float, stale: Stale) -> Holder:
        async with self._lock:
            # IMMEDIATE takes the file's write lock at once: another process claiming
            # the same run waits here instead of reading the same empty row.
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                async with self._conn.execute(
                    f"SELECT {_HOLDER_COLUMNS} FROM phasegraph_leases WHERE run_id = ?", (run_id,)
                ) as cursor:
                    row = await cursor.fetchone()
                now = time.time()
                if row is not None and not stale(current := _holder(row), now):
                    await self._conn.rollback()
                    return current
                mine = Holder(**asdict(owner), acquired_at=now, expires_at=now + ttl)
                await self._conn.execute(
                    f"INSERT OR REPLACE INTO phasegraph_leases (run_id, {_HOLDER_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (run_id, *_values(mine)),
                )
                await self._conn.commit()
                return mine
            except BaseException:
                await self._conn.rollback()
                raise

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        async with self._lock, self._conn.execute(sql, tuple(params)) as cursor:
            return [tuple(row) for row in await cursor.fetchall()]

    async def _write(self, sql: str, params: Sequence[Any]) -> int:
        async with self._lock:
            cursor = await self._conn.execute(sql, tuple(params))
            await self._conn.commit()
            return int(cursor.rowcount)


class PostgresRegistry(Registry):
    """The tables in the PostgreSQL checkpoint database, on a connection of their own."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        """One statement or transaction at a time on the connection (heartbeats run beside runs)."""

    @classmethod
    @asynccontextmanager
    async def connect(cls, url: str) -> AsyncIterator[PostgresRegistry]:
        """Open a connection (autocommit: every write is committed when it returns) and set up the tables."""
        import psycopg

        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            async with conn.transaction():
                # Two processes creating the tables at once would collide in the catalogue.
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('phasegraph_registry'))")
                await conn.execute(LEASES_TABLE)
                await conn.execute(RUNS_TABLE)
                await conn.execute(INFO_TABLE)
            yield cls(conn)

    async def now(self) -> float:
        async with self._lock:
            return await self._clock()

    async def _clock(self) -> float:
        cursor = await self._conn.execute("SELECT extract(epoch FROM clock_timestamp())::float8")
        row = await cursor.fetchone()
        return float(row[0])

    async def claim(self, run_id: str, owner: Owner, ttl: float, stale: Stale) -> Holder:
        async with self._lock, self._conn.transaction():
            now = await self._clock()
            mine = Holder(**asdict(owner), acquired_at=now, expires_at=now + ttl)
            # Insert ours, or lock the row that is there (the no-op update) and read it back.
            cursor = await self._conn.execute(
                f"INSERT INTO phasegraph_leases (run_id, {_HOLDER_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (run_id) DO UPDATE SET run_id = excluded.run_id "
                f"RETURNING {_HOLDER_COLUMNS}",
                (run_id, *_values(mine)),
            )
            current = _holder(await cursor.fetchone())
            if current.token == mine.token:
                return mine
            if not stale(current, now):
                return current
            await self._conn.execute(
                "UPDATE phasegraph_leases SET token = %s, pid = %s, host = %s, node = %s, "
                "acquired_at = %s, expires_at = %s WHERE run_id = %s",
                (*_values(mine), run_id),
            )
            return mine

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        async with self._lock:
            cursor = await self._conn.execute(_pg(sql), tuple(params))
            return [tuple(row) for row in await cursor.fetchall()]

    async def _write(self, sql: str, params: Sequence[Any]) -> int:
        async with self._lock:
            cursor = await self._conn.execute(_pg(sql), tuple(params))
            return int(cursor.rowcount)


def _values(holder: Holder) -> tuple[Any, ...]:
    return (holder.token, holder.pid, holder.host, holder.node, holder.acquired_at, holder.expires_at)


def _pg(sql: str) -> str:
    """The shared statements use SQLite's `?` placeholders; psycopg wants `%s`."""
    return sql.replace("?", "%s")
