"""Limits on concurrent requests and requests per minute, per endpoint.

Fifty agents running in parallel must not become fifty simultaneous requests and a
429 storm. Every provider object talking to the same endpoint with the same limits
shares one `CallLimiter` (the runtime's, see `orchestrator.runtime`), whichever event
loop or thread it runs on: a synchronous caller may run several event loops in
threads, so the slots are guarded by a thread lock and waiters are woken on their own
loop (an `asyncio.Semaphore` belongs to one loop and would give each loop its own
budget).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from orchestrator.runtime import current_runtime


class SharedSemaphore:
    """A counting semaphore usable from any number of event loops at once."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a semaphore needs at least one slot")
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    @property
    def in_use(self) -> int:
        """Slots currently held."""
        return self._used

    async def acquire(self) -> None:
        """Take a slot, waiting (first come, first served) while all are held."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._used < self.limit and not self._waiters:
                self._used += 1
                return
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            with self._lock:
                if (loop, waiter) in self._waiters:
                    self._waiters.remove((loop, waiter))
                    raise
            # The slot was handed over just before the cancellation: give it back.
            if waiter.done() and not waiter.cancelled():
                self.release()
            raise

    def release(self) -> None:
        """Give a slot back; the longest waiter, on whatever loop, gets it directly."""
        with self._lock:
            while self._waiters:
                loop, waiter = self._waiters.popleft()
                try:
                    loop.call_soon_threadsafe(self._hand_over, waiter)
                except RuntimeError:  # that waiter's loop is closed
                    continue
                return
            self._used -= 1

    def _hand_over(self, waiter: asyncio.Future[None]) -> None:
        if waiter.done():  # cancelled while the hand-over was in flight
            self.release()
        else:
            waiter.set_result(None)


class RequestPacer:
    """Spaces request starts evenly so that at most `per_minute` start in any minute."""

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if per_minute < 1:
            raise ValueError("requests per minute must be at least 1")
        self.interval_s = 60.0 / per_minute
        self._clock = clock
        self._sleep = sleep
        self._next_start = float("-inf")
        self._lock = threading.Lock()

    async def wait_turn(self) -> float:
        """Wait until this request may start; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next_start)
            self._next_start = start + self.interval_s
        delay = start - now
        if delay > 0:
            await self._sleep(delay)
        return delay


class CallLimiter:
    """A concurrency cap plus an optional pace, taken around each HTTP attempt."""

    def __init__(self, max_concurrency: int, pacer: RequestPacer | None = None) -> None:
        self.slots = SharedSemaphore(max_concurrency)
        self.pacer = pacer

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot (and wait for the pace) for the duration of the block."""
        await self.slots.acquire()
        try:
            if self.pacer is not None:
                await self.pacer.wait_turn()
            yield
        finally:
            self.slots.release()


def shared_limiter(key: str, *, max_concurrency: int, requests_per_minute: int | None = None) -> CallLimiter:
    """The runtime's limiter for `key` (e.g. `openai:https://api.openai.com/v1`) and these limits."""

    def make() -> CallLimiter:
        pacer = RequestPacer(requests_per_minute) if requests_per_minute else None
        return CallLimiter(max_concurrency, pacer)

    return current_runtime().once(("limiter", key, max_concurrency, requests_per_minute), make)
