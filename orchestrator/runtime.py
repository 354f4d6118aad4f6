"""The runtime: what the runs of one process share, and for how long.

A process that runs many pipelines (a notebook, a worker, an API server) should not
open the SQLite file, build an HTTP client or parse every card again for each run. A
`Runtime` holds what its runs share:

- resources opened per event loop and shared by the runs using them at the same time,
  closed when the last of them ends: the SQLite checkpointer of a file (`shared`);
- clients made once per event loop and kept between runs: one `AsyncOpenAI` per
  endpoint and credentials (`client`);
- objects made once for every loop and thread: the rate limiter of an endpoint, the
  TLS context every HTTP client uses (`once`); compiled graphs, one per graph shape
  (`graph`);
- pure work done once: parsed cards, output models, strict schemas (`memo`);
- warnings given once: a model without a price (`first_time`).

Lifetime. `current_runtime()` is the runtime in effect: inside `async with Runtime():`
that runtime, anywhere else the process-wide default, made on first use. A client
lives until its event loop shuts down (`asyncio.run`, pytest-asyncio and phasegraph's
synchronous API shut their loops down properly; a loop closed without
`shutdown_asyncgens()` leaves its clients unclosed) or until its runtime is closed,
whichever comes first. Leaving `async with Runtime()` closes the clients it made on
that loop, drops its caches and refuses any further use; closing the default runtime
does the same, and the next use makes a new default.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ParamSpec, Protocol, TypeVar, cast

T = TypeVar("T")
C = TypeVar("C", bound="Closable")
P = ParamSpec("P")

Opener = Callable[[], Awaitable[tuple[T, Callable[[], Awaitable[None]]]]]
"""Opens a shared resource: the value, and the coroutine function that closes it."""


class Closable(Protocol):
    """A client the runtime closes: `await client.close()`."""

    async def close(self) -> None: ...


@dataclass
class _Shared:
    """A resource in use on one loop, and by how many."""

    value: Any
    close: Callable[[], Awaitable[None]]
    users: int = 0


@dataclass
class _OnLoop:
    """What a runtime holds on one event loop."""

    clients: dict[Hashable, Closable] = field(default_factory=dict)
    shared: dict[Hashable, _Shared] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held while a shared resource opens or closes."""
    watch: AsyncGenerator[None, None] | None = None
    """Suspended until the loop shuts down (or the runtime closes): then the clients close."""


class Runtime:
    """What the runs of a process share; see the module docstring for the lifetime."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._loops: dict[asyncio.AbstractEventLoop, _OnLoop] = {}
        self._objects: dict[Hashable, Any] = {}
        self._seen: set[Hashable] = set()
        self._closed = False
        self._token: contextvars.Token[Runtime | None] | None = None

    async def __aenter__(self) -> Runtime:
        if self._token is not None:
            raise RuntimeError("this Runtime is already in use by an `async with` block")
        self._check_open()
        self._token = _current.set(self)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None:
            _current.reset(self._token)
            self._token = None
        await self.aclose()

    @property
    def closed(self) -> bool:
        return self._closed

    async def aclose(self) -> None:
        """Close the clients made on the running loop, drop the caches, refuse any further use.

        Clients made on other loops close when those loops shut down. Shared resources
        still in use close when their last user leaves, as always.
        """
        with self._lock:
            self._closed = True
            self._objects.clear()
            self._seen.clear()
        await self._close_loop(asyncio.get_running_loop())

    async def client(self, key: Hashable, make: Callable[[], C]) -> C:
        """The client `key` on the running loop, made by `make()` the first time.

        It stays open for the next runs on this loop, until the loop shuts down or the
        runtime closes.
        """
        on_loop = await self._on(asyncio.get_running_loop())
        with self._lock:
            client = on_loop.clients.get(key)
            if client is None:
                client = on_loop.clients[key] = make()
            return cast(C, client)

    @asynccontextmanager
    async def shared(self, key: Hashable, opener: Opener[T]) -> AsyncIterator[T]:
        """The resource `key` on the running loop, for the duration of the block.

        The first user opens it (`opener()`), later users share it, and the last one to
        leave closes it: one SQLite connection for every run of a loop on one file.
        """
        on_loop = await self._on(asyncio.get_running_loop())
        async with on_loop.lock:
            entry = on_loop.shared.get(key)
            if entry is None:
                value, close = await opener()
                entry = on_loop.shared[key] = _Shared(value, close)
            entry.users += 1
        try:
            yield cast(T, entry.value)
        finally:
            async with on_loop.lock:
                entry.users -= 1
                if entry.users == 0:
                    del on_loop.shared[key]
                    await entry.close()

    def once(self, key: Hashable, make: Callable[[], T]) -> T:
        """The object `key`, made by `make()` the first time: one for every loop and thread."""
        with self._lock:
            self._check_open()
            if key not in self._objects:
                self._objects[key] = make()
            return cast(T, self._objects[key])

    def memo(self, fn: Callable[P, T], maxsize: int = 1024) -> Callable[P, T]:
        """`fn` with its results kept (least recently used first out); `fn` must be pure."""
        return cast(Callable[P, T], self.once(("memo", fn), lambda: functools.lru_cache(maxsize=maxsize)(fn)))

    def graph(self, shape: Hashable, build: Callable[[], T]) -> T:
        """The compiled graph of `shape`, built once.

        `shape` must name everything the compiled graph depends on, and the graph must hold
        nothing of one run (no checkpointer either: each run binds its own to a copy), so
        that every run of that shape can use it.
        """
        return self.once(("graph", shape), build)

    def first_time(self, key: Hashable) -> bool:
        """True the first time `key` is asked about: for warnings given once."""
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this Runtime is closed")

    async def _on(self, loop: asyncio.AbstractEventLoop) -> _OnLoop:
        with self._lock:
            self._check_open()
            on_loop = self._loops.get(loop)
            fresh = on_loop is None
            if on_loop is None:
                on_loop = self._loops[loop] = _OnLoop()
        if fresh:
            # An async generator suspended at its `yield` is closed by `loop.shutdown_asyncgens()`,
            # the one hook a loop offers into its shutdown: its `finally` closes the clients.
            on_loop.watch = self._until_shutdown(loop)
            await anext(on_loop.watch)
        return on_loop

    async def _until_shutdown(self, loop: asyncio.AbstractEventLoop) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            with self._lock:
                on_loop = self._loops.pop(loop, None)  # None when `aclose` came first
            if on_loop is not None:
                await _close_clients(on_loop)

    async def _close_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            on_loop = self._loops.pop(loop, None)
        if on_loop is None:
            return
        await _close_clients(on_loop)
        watch, on_loop.watch = on_loop.watch, None
        if watch is not None:
            await watch.aclose()


async def _close_clients(on_loop: _OnLoop) -> None:
    clients = list(on_loop.clients.values())
    on_loop.clients.clear()
    for client in clients:
        with contextlib.suppress(Exception):  # a client that fails to close is gone all the same
            await client.close()


_current: contextvars.ContextVar[Runtime | None] = contextvars.ContextVar("phasegraph_runtime", default=None)
_default: Runtime | None = None
_default_lock = threading.Lock()


def current_runtime() -> Runtime:
    """The runtime in effect: the innermost `async with Runtime()`, else the process-wide default."""
    scoped = _current.get()
    if scoped is not None:
        return scoped
    global _default
    with _default_lock:
        if _default is None or _default.closed:
            _default = Runtime()
        return _default
