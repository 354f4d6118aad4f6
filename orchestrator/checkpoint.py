"""Where runs persist: LangGraph's SQLite or PostgreSQL checkpointer, the call journal, the registry.

SQLite (a file under the project, zero set-up) is the default; a
`postgresql://` URL selects PostgreSQL. The call journal beside the checkpoints
lets a resumed run find every model answer it already paid for; the registry
holds each run's lease and last outcome. The SQLite file (and its -wal and -shm
files) is created owner-only, in an owner-only folder.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore

from orchestrator._private import private_dir, private_file
from orchestrator.errors import ConfigError
from orchestrator.journal import SQLITE_TABLE, CallJournal, SqliteJournal, StoreJournal
from orchestrator.registry import (
    INFO_TABLE,
    LEASES_TABLE,
    RUNS_TABLE,
    PostgresRegistry,
    Registry,
    SqliteRegistry,
)
from orchestrator.runtime import current_runtime
from orchestrator.settings import hide_url_password

DEFAULT_STATE = Path(".phasegraph") / "state.sqlite"


@dataclass(frozen=True)
class Persistence:
    """An open checkpointer, the store behind the journal (PostgreSQL only), the registry, and where."""

    saver: BaseCheckpointSaver[str]
    store: BaseStore | None
    where: str
    registry: Registry

    def journal(self, run_id: str) -> CallJournal:
        """The call journal of one run."""
        if self.store is not None:
            return StoreJournal(self.store, run_id)
        return SqliteJournal(self.saver, run_id)


def describe(url: str | None, project_dir: Path) -> str:
    """Where runs are kept, with any password in the URL hidden."""
    return hide_url_password(url) if url else str(project_dir / DEFAULT_STATE)


@asynccontextmanager
async def open_persistence(url: str | None, project_dir: Path) -> AsyncIterator[Persistence]:
    """Open (and set up) the checkpointer and store for `url`, or the project's SQLite file."""
    async with AsyncExitStack() as stack:
        if url and url.startswith(("postgresql://", "postgres://")):
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
            from langgraph.store.postgres.aio import AsyncPostgresStore

            try:
                pg_saver = await stack.enter_async_context(AsyncPostgresSaver.from_conn_string(url))
                pg_store = await stack.enter_async_context(AsyncPostgresStore.from_conn_string(url))
                await pg_saver.setup()
                await pg_store.setup()
                registry = await stack.enter_async_context(PostgresRegistry.connect(url))
            except Exception as exc:
                raise ConfigError(
                    f"checkpoint_url: cannot open PostgreSQL at {describe(url, project_dir)}: "
                    f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                ) from None
            yield Persistence(pg_saver, pg_store, describe(url, project_dir), registry)
            return
        if url and not url.startswith("sqlite:"):
            raise ConfigError(
                f"checkpoint_url: unsupported URL {describe(url, project_dir)!r} "
                "(use postgresql://... or sqlite:///path)"
            )
        path = _sqlite_path(url, project_dir)
        pers = await stack.enter_async_context(_shared_sqlite(path))
        yield pers


@asynccontextmanager
async def _shared_sqlite(path: Path) -> AsyncIterator[Persistence]:
    """The project's SQLite file, opened once per event loop however many runs use it.

    Each connection would set the file up (`PRAGMA journal_mode=WAL` needs the whole
    file to itself) and then compete for its write lock: a hundred concurrent runs on
    one file meant `database is locked`. One shared connection (the runtime's, see
    `Runtime.shared`), holding checkpoints and journal alike behind one lock,
    serialises them.
    """
    async with current_runtime().shared(("sqlite", path.resolve()), lambda: _open_sqlite_file(path)) as pers:
        yield pers


async def _open_sqlite_file(path: Path) -> tuple[Persistence, Callable[[], Awaitable[None]]]:
    """The file's checkpointer, journal table and registry, and how to close them."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    stack = AsyncExitStack()
    try:
        private_dir(path.parent)
        private_file(path)
        saver = await stack.enter_async_context(AsyncSqliteSaver.from_conn_string(str(path)))
        await saver.setup()
        async with saver.lock:
            await saver.conn.executescript(SQLITE_TABLE)
            for table in (LEASES_TABLE, RUNS_TABLE, INFO_TABLE):
                await saver.conn.execute(table)
            await saver.conn.commit()
    except (OSError, sqlite3.Error) as exc:
        await stack.aclose()
        raise ConfigError(f"checkpoint_url: cannot open the SQLite file {path}: {exc}") from None
    except BaseException:
        await stack.aclose()
        raise
    return Persistence(saver, None, str(path), SqliteRegistry(saver)), stack.aclose


def _sqlite_path(url: str | None, project_dir: Path) -> Path:
    """The SQLite file of `sqlite:///path`; a relative path is relative to the project, like the default."""
    if not url:
        return project_dir / DEFAULT_STATE
    if not url.startswith("sqlite:///"):
        raise ConfigError(f"checkpoint_url: {url!r}: use sqlite:///relative/path or sqlite:////absolute/path")
    path = Path(url.removeprefix("sqlite:///"))
    return path if path.is_absolute() or str(path) == ":memory:" else project_dir / path
