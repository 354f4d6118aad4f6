"""The run lease: exactly one process advances a run at a time.

Every path that advances a run (start, resume, approve, reject) first claims the
run's lease in the checkpoint database (`orchestrator.registry`). While it holds
the lease it renews it every few seconds; when it is done, or fails, it gives it
up. A second process finds a live holder and stops at once with `RunLocked`,
before it calls any model. A holder that died is taken over: at once when it ran
on this host (same kernel boot and pid namespace) and its pid is gone, otherwise
once its expiry passed without a renewal.

A holder whose event loop stalled past the expiry can find its lease taken over;
its next renewal notices, and it stops the run (`RunLocked`) rather than advance
it beside the new holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator._log import get_logger
from orchestrator.errors import RunLocked
from orchestrator.registry import Holder, Owner, Registry

LEASE_TTL_S = 60.0
"""A lease not renewed for this long may be taken over from any host."""

RENEW_EVERY_S = 5.0
"""How often the holder renews its lease."""

log = get_logger("phasegraph.lease")


@functools.cache
def this_node() -> str:
    """Where a pid names the same process: this kernel boot and pid namespace (else the host name).

    Two machines, or two containers, may share a host name; they never share a boot
    id and a pid namespace, so a pid is only checked where it means the same thing.
    """
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this node and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def is_stale(holder: Holder, now: float) -> bool:
    """A holder that may be displaced: its claim expired, or it ran here and its process is gone."""
    return holder.expires_at <= now or (holder.node == this_node() and not pid_alive(holder.pid))


def utc(epoch: float) -> str:
    """`2026-01-05T10:31:12Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def locked_message(run_id: str, holder: Holder) -> str:
    """The one line a second writer gets."""
    return f"run {run_id} is being advanced by {holder.pid} on {holder.host} since {utc(holder.acquired_at)}"


@dataclass
class _Held:
    """A lease this process holds: the task advancing the run, and when it let go."""

    task: asyncio.Task[Any]
    released: asyncio.Event = field(default_factory=asyncio.Event)


_held_here: dict[str, _Held] = {}
"""This process's leases, by token."""


@asynccontextmanager
async def run_lease(
    registry: Registry, run_id: str, *, ttl: float | None = None, renew_every: float | None = None
) -> AsyncIterator[Holder]:
    """Hold the run's lease for the body: `RunLocked` when a live holder has it.

    `ttl` and `renew_every` default to `LEASE_TTL_S` and `RENEW_EVERY_S`.
    """
    ttl = LEASE_TTL_S if ttl is None else ttl
    renew_every = RENEW_EVERY_S if renew_every is None else renew_every
    body = asyncio.current_task()
    if body is None:
        raise RuntimeError("run_lease needs an asyncio task to hold the lease")
    owner = Owner(token=secrets.token_hex(8), pid=os.getpid(), host=socket.gethostname(), node=this_node())
    holder = await _claim(registry, run_id, owner, ttl)
    held = _held_here[owner.token] = _Held(body)
    lost: list[str] = []

    def stop(message: str) -> None:
        lost.append(message)
        body.cancel()

    beat = asyncio.create_task(_heartbeat(registry, run_id, owner.token, ttl, renew_every, stop))
    try:
        yield holder
    except asyncio.CancelledError:
        if lost and body.uncancel() == 0:
            raise RunLocked(lost[0]) from None
        raise
    finally:
        beat.cancel()
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            await registry.release(run_id, owner.token)
        except Exception as exc:  # the lease lapses on its own; the run's own outcome matters more
            log.warning("lease.release_failed", run_id=run_id, error=_first_line(exc))
        finally:
            held.released.set()
            del _held_here[owner.token]


async def _claim(registry: Registry, run_id: str, owner: Owner, ttl: float) -> Holder:
    """Claim the lease, or raise `RunLocked` naming its live holder.

    One wait is allowed: when the holder is a task of this process that is being
    cancelled (a stream left early), its lease is about to be released.
    """
    holder = await registry.claim(run_id, owner, ttl, is_stale)
    if holder.token == owner.token:
        return holder
    held = _held_here.get(holder.token)
    if held is not None and held.task.get_loop() is asyncio.get_running_loop() and held.task.cancelling():
        await held.released.wait()
        holder = await registry.claim(run_id, owner, ttl, is_stale)
        if holder.token == owner.token:
            return holder
    raise RunLocked(locked_message(run_id, holder))


async def _heartbeat(
    registry: Registry,
    run_id: str,
    token: str,
    ttl: float,
    every: float,
    stop: Callable[[str], None],
) -> None:
    """Renew the lease until cancelled; when it is no longer ours, stop the body that holds it."""
    while True:
        await asyncio.sleep(every)
        try:
            kept = await registry.renew(run_id, token, ttl)
        except Exception as exc:  # a database hiccup: the next beat tries again, within the expiry
            log.warning("lease.renew_failed", run_id=run_id, error=_first_line(exc))
            continue
        if kept:
            continue
        taker: Holder | None = None
        with contextlib.suppress(Exception):
            taker = await registry.holder(run_id)
        by = f" to {taker.pid} on {taker.host}" if taker is not None else ""
        stop(
            f"run {run_id}: this process lost its lease{by} (not renewed within {ttl:g} s); "
            "it stopped so that only one process advances the run"
        )
        return


def _first_line(exc: Exception) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
