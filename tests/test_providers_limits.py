"""Process-wide limits: a concurrency cap shared across event loops, and a request pace."""

from __future__ import annotations

import asyncio
import threading

import pytest

from orchestrator.providers._limits import CallLimiter, RequestPacer, SharedSemaphore, shared_limiter


class Gauge:
    """Counts how many holders are inside at once, from any thread."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self._lock:
            self.now -= 1


async def _hold(semaphore: SharedSemaphore, gauge: Gauge) -> None:
    await semaphore.acquire()
    try:
        gauge.enter()
        await asyncio.sleep(0.002)
        gauge.leave()
    finally:
        semaphore.release()


def test_concurrency_cap_holds_across_event_loops_in_threads() -> None:
    semaphore = SharedSemaphore(3)
    gauge = Gauge()

    async def burst() -> None:
        await asyncio.gather(*(_hold(semaphore, gauge) for _ in range(10)))

    threads = [threading.Thread(target=asyncio.run, args=(burst(),)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert gauge.peak == 3
    assert semaphore.in_use == 0


async def test_a_cancelled_waiter_does_not_keep_a_slot() -> None:
    semaphore = SharedSemaphore(1)
    await semaphore.acquire()
    waiter = asyncio.create_task(semaphore.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    semaphore.release()
    assert semaphore.in_use == 0
    await asyncio.wait_for(semaphore.acquire(), timeout=1)
    semaphore.release()


async def test_pacer_spaces_request_starts_evenly() -> None:
    now = [100.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    pacer = RequestPacer(120, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        await pacer.wait_turn()
    assert waits == [pytest.approx(0.5), pytest.approx(1.0)]
    now[0] += 10
    assert await pacer.wait_turn() == 0


async def test_limiter_slot_is_released_when_the_call_fails() -> None:
    limiter = CallLimiter(1)
    with pytest.raises(RuntimeError):
        async with limiter.slot():
            raise RuntimeError("boom")
    assert limiter.slots.in_use == 0


def test_the_same_endpoint_and_limits_share_one_limiter() -> None:
    a = shared_limiter("openai:https://example.test/v1", max_concurrency=5, requests_per_minute=60)
    b = shared_limiter("openai:https://example.test/v1", max_concurrency=5, requests_per_minute=60)
    other = shared_limiter("openai:https://other.test/v1", max_concurrency=5, requests_per_minute=60)
    assert a is b
    assert other is not a
    assert a.pacer is not None and a.pacer.interval_s == 1.0
