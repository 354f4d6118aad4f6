"""Run a coroutine from synchronous code, also when the caller's thread runs an event loop.

`Orchestrator.run()` and the notebook `Run` handle are synchronous, but the pipeline
is async. `asyncio.run()` refuses to start inside a running loop, and Jupyter's
kernel always runs one. The usual patch, `nest_asyncio`, re-enters the running loop:
it monkey-patches asyncio process-wide, breaks anyio and uvloop, and lets the
kernel's own tasks interleave with ours in the middle of a call. We do not use it.

Instead every synchronous call is handed to one long-lived worker thread that owns
its own event loop, and the calling thread blocks until the result is back. One
loop for the whole process, rather than a new loop per call, because objects bound
to a loop (the openai SDK's httpx connection pool in a provider you pass in, for
one) must keep working from one `run.next()` to the next.

Callbacks are different: a user's `on_event` should run in the user's thread (in
Jupyter, output printed from another thread can land in the wrong cell, and user
code is rarely thread-safe). `Inbox` carries them back: the worker sends each
callback and the blocked caller runs it while it waits.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import queue
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import CancelledError, Future
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


class Inbox:
    """Callbacks sent from the worker loop, run by the thread waiting in `run_sync`.

    `call` blocks the worker until the caller has run the callback, as a callback
    blocks the loop under the async API, and an exception the callback raises is
    raised inside the run, as it would be with `arun`.
    """

    _DONE = object()

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def call(self, callback: Callable[[], object]) -> None:
        """Run `callback` in the waiting caller's thread; return or raise when it has."""
        finished: Future[None] = Future()
        self._queue.put((callback, finished))
        finished.result()

    def _close(self, _future: object = None) -> None:
        self._queue.put(self._DONE)

    def _drain(self) -> None:
        """Run callbacks until the call is done; a BaseException (Ctrl-C) cancels the call."""
        while (item := self._queue.get()) is not self._DONE:
            callback, finished = item
            try:
                callback()
            except Exception as exc:
                finished.set_exception(exc)
            except BaseException:
                finished.set_exception(CancelledError("cancelled by the caller"))
                raise
            else:
                finished.set_result(None)

    def _refuse(self) -> None:
        """After a cancel: release every callback still sent, without running it, until done."""
        while (item := self._queue.get()) is not self._DONE:
            item[1].set_exception(CancelledError("cancelled by the caller"))


def _worker_loop() -> asyncio.AbstractEventLoop:
    """The process's phasegraph loop, started on first use in a daemon thread."""
    global _loop, _thread
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            _thread = threading.Thread(target=serve, name="phasegraph-loop", daemon=True)
            _thread.start()
            ready.wait()
            _loop = loop
            atexit.register(_shutdown, loop, _thread)
        return _loop


def _shutdown(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    """At exit, let unfinished tasks (a store's background flush, say) unwind, then stop the loop."""

    async def finish() -> None:
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await loop.shutdown_asyncgens()
        loop.stop()

    if thread.is_alive() and not loop.is_closed():
        asyncio.run_coroutine_threadsafe(finish(), loop)
        thread.join(timeout=5)


def in_worker_thread() -> bool:
    """True inside the worker loop's thread (where a synchronous call would deadlock)."""
    return _thread is not None and threading.current_thread() is _thread


class Call:
    """A coroutine submitted to the worker loop: its outcome, and a way to cancel it."""

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        if in_worker_thread():
            coro.close()
            raise RuntimeError(
                "a synchronous phasegraph call was made from inside a running phasegraph call "
                "(an event callback?); use the async API (`await orch.arun(...)`) there instead"
            )
        self.outcome: Future[Any] = Future()
        """Done when the coroutine has finished (result, exception or cancellation)."""
        self._loop = _worker_loop()
        self._tasks: list[asyncio.Task[Any]] = []
        context = contextvars.copy_context()

        def start() -> None:
            task = self._loop.create_task(coro, context=context)
            self._tasks.append(task)
            task.add_done_callback(lambda done: _settle(done, self.outcome))

        self._loop.call_soon_threadsafe(start)

    def cancel(self, *, wait: bool = True) -> None:
        """Cancel the coroutine (if still running) and, unless told not to, wait until it has unwound."""
        if not self.outcome.done():
            self._loop.call_soon_threadsafe(lambda: [t.cancel() for t in self._tasks])
        if wait:
            self.outcome.exception()  # waits; returns the error rather than raising it


def submit(coro: Coroutine[Any, Any, Any]) -> Call:
    """Start `coro` on the worker loop and return at once."""
    return Call(coro)


def run_sync(coro: Coroutine[Any, Any, T], inbox: Inbox | None = None) -> T:
    """Run `coro` on the worker loop and return its result (or raise its exception).

    Works the same with or without an event loop in the calling thread. While it
    waits, the caller runs the callbacks the coroutine sends to `inbox`; an
    exception a callback raises is raised inside the run, as with the async API.
    Ctrl-C cancels the coroutine, waits until it has unwound (so checkpoints and
    files are closed), and is re-raised.
    """
    call = Call(coro)
    if inbox is not None:
        call.outcome.add_done_callback(inbox._close)
    try:
        if inbox is not None:
            inbox._drain()
        result: T = call.outcome.result()
        return result
    except BaseException:
        pending = not call.outcome.done()
        call.cancel(wait=False)
        if inbox is not None and pending:
            inbox._refuse()
        call.cancel()
        raise


def _settle(task: asyncio.Task[T], outcome: Future[T]) -> None:
    """Hand the task's result, exception or cancellation to the waiting thread."""
    if task.cancelled():
        outcome.set_exception(CancelledError("phasegraph call cancelled"))
    elif (exc := task.exception()) is not None:
        outcome.set_exception(exc)
    else:
        outcome.set_result(task.result())
