"""Worker: queued runs as Celery tasks, executed by `phasegraph worker` processes.

Celery is the engine (RabbitMQ or Redis as the broker); this module is its typed edge:
the app factory, the one task (`phasegraph.advance`), and sending a message. A task is
acknowledged only when it returns (`acks_late`) and goes back to the queue when its
process dies (`reject_on_worker_lost`; RabbitMQ re-queues the unacknowledged messages of
a lost connection, Redis after its visibility timeout), so a `kill -9`ed worker's runs
are picked up by another worker. That worker resumes from the checkpoint: the journal
answers every call already paid for, and the run's lease (`orchestrator.lease`) makes sure
two deliveries of one run never advance it at once: the later one is retried until the
lease is free, and then finds the run ended or continues it.

Each worker prefetches one message per process, and takes its credentials from its own
environment: a message carries a run id and non-secret options (`orchestrator.submit`).
"""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import Any

from orchestrator._log import get_logger
from orchestrator.errors import (
    AWAITING_APPROVAL,
    BrokerUnreachable,
    ConfigError,
    NotFound,
    PhasegraphError,
    RunLocked,
)
from orchestrator.result import RunResult
from orchestrator.run import Runner
from orchestrator.settings import hide_url_password, load_settings
from orchestrator.submit import RunMessage

TASK_NAME = "phasegraph.advance"

VISIBILITY_TIMEOUT_S = 6 * 3600
"""Redis only: a message not acknowledged this long is delivered again. Above the longest run,
so a run is not handed out twice while it runs (if it is, the lease holds the second back)."""

LOCKED_RETRY_S = 5.0
"""How long a delivery whose run another process advances waits before it tries again."""

UNEXPECTED_TRIES = 3
UNEXPECTED_RETRY_S = 30.0
"""An unexpected error (not a `PhasegraphError`) is retried after this long; tried this many times in all."""

log = get_logger("phasegraph.worker")


def make_app(
    broker: str, *, checkpoint_url: str | None = None, visibility_timeout: float = VISIBILITY_TIMEOUT_S
) -> Any:
    """The Celery app of `broker`: late acknowledgement, re-queue on a lost worker, prefetch one.

    `checkpoint_url` is the worker's own (never in a message); a producer needs none.
    """
    from celery import Celery

    app = Celery("phasegraph", broker=broker, set_as_current=False)
    restore_every = max(1, min(10, int(visibility_timeout // 10)))
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": visibility_timeout,
            "unacked_restore_interval": restore_every,
            "unacked_restore_throttle": 1,
        },
        phasegraph_checkpoint_url=checkpoint_url,
    )
    app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)(
        _advance_task
    )
    return app


def send(broker: str, queue: str, body: dict[str, Any]) -> None:
    """Publish one run message on `queue`; `BrokerUnreachable` in one line when the broker is down."""
    app = make_app(broker)
    try:
        entity = app.amqp.queues.select_add(queue)
        with app.producer_or_acquire() as producer:
            # Declared on every send: kombu's pools remember a declaration per connection, and a
            # queue deleted since (a broker reset) would otherwise drop the message unseen.
            entity(producer.channel).declare()
            app.send_task(
                TASK_NAME,
                args=[body],
                queue=entity,
                producer=producer,
                retry=True,
                retry_policy={"max_retries": 2},
            )
    except Exception as exc:  # kombu and its transports raise many kinds; all mean "not sent"
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BrokerUnreachable(
            f"--broker {hide_url_password(broker)}: cannot queue the run: {first}"
        ) from None
    finally:
        app.close()


def _advance_task(task: Any, body: dict[str, Any], failures: int = 0) -> str:
    """The Celery task: advance one run as far as it goes; retried while another process holds it,
    and a few times after an unexpected error (a database outage) before the run is failed."""
    message = RunMessage.model_validate(body)
    url = task.app.conf.phasegraph_checkpoint_url
    log.info("worker.task_started", run_id=message.run_id, action=message.action, pid=os.getpid())
    try:
        status = asyncio.run(advance(message, url))
    except RunLocked as exc:
        log.info("worker.run_locked", run_id=message.run_id, message=exc.message, pid=os.getpid())
        raise task.retry(countdown=LOCKED_RETRY_S, kwargs={"failures": failures}) from None
    except Exception as exc:  # not a user's mistake (those are PhasegraphErrors): an outage, or a bug
        first = str(exc).splitlines()[0] if str(exc) else ""
        reason = hide_url_password(f"{type(exc).__name__}: {first}".rstrip(": "))
        if failures + 1 >= UNEXPECTED_TRIES:
            log.error("worker.run_failed", run_id=message.run_id, error=reason, pid=os.getpid())
            asyncio.run(_record(url, message.run_id, "failed", type(exc).__name__, reason))
            return "failed"
        log.warning("worker.retrying", run_id=message.run_id, error=reason, pid=os.getpid())
        raise task.retry(countdown=UNEXPECTED_RETRY_S, kwargs={"failures": failures + 1}) from None
    log.info("worker.task_finished", run_id=message.run_id, status=status, pid=os.getpid())
    return status


async def advance(message: RunMessage, checkpoint_url: str) -> str:
    """Do what `message` asks with the worker's settings; the status the run is left in.

    A failure before the run could open (a project directory this worker cannot see, a
    setting) is recorded as the run's outcome, so whoever waits for it learns why.
    """
    try:
        project_dir = visible_project_dir(message.project_dir)
        settings = load_settings(checkpoint_url=checkpoint_url, **message.settings)
        result = await _advance(Runner(settings), message, project_dir)
    except RunLocked:
        raise
    except PhasegraphError as exc:
        log.error("worker.run_failed", run_id=message.run_id, error=exc.message, pid=os.getpid())
        await _record(checkpoint_url, message.run_id, "failed", type(exc).__name__, exc.message)
        return "failed"
    # A delivery with nothing left to do (a run another delivery finished) recorded nothing.
    await _record(
        checkpoint_url, message.run_id, result.status, result.error_type, result.message, settle=True
    )
    return result.status


async def _advance(runner: Runner, message: RunMessage, project_dir: Path) -> RunResult:
    """Start, continue, approve or reject the run, whatever an earlier delivery already did."""
    if message.action == "start" and await _stored(runner, message.run_id, project_dir) is None:
        try:
            return await runner.start(message.run_options())
        except ConfigError as exc:
            if isinstance(exc, RunLocked) or await _stored(runner, message.run_id, project_dir) is None:
                raise
            # Another delivery started it between our look and our start: continue it.
    if message.action in ("approve", "reject"):
        stored = await _stored(runner, message.run_id, project_dir)
        if stored is not None and stored.status == "paused" and stored.error_type == AWAITING_APPROVAL:
            approve = message.action == "approve"
            return await runner.decide(message.run_id, project_dir, approve=approve, text=message.text)
    return await runner.resume(message.run_id, project_dir)


def visible_project_dir(path: str) -> Path:
    """The message's project directory, which this worker must see at the same path."""
    project_dir = Path(path)
    if not project_dir.is_dir():
        raise ConfigError(
            f"worker on {socket.gethostname()} cannot see the project directory {project_dir}: "
            "workers and submitters must share it at the same path (a shared filesystem)"
        )
    return project_dir


async def _stored(runner: Runner, run_id: str, project_dir: Path) -> RunResult | None:
    """The run as its checkpoint has it (not the registry, which says `queued` while a message
    waits); None before any process started it."""
    from orchestrator._session import checkpoint_values, read_only_session
    from orchestrator.checkpoint import open_persistence

    async with open_persistence(runner.settings.checkpoint_url, project_dir) as pers:
        try:
            values = await checkpoint_values(pers, run_id)
        except NotFound:
            return None
        return await read_only_session(runner.settings, pers, run_id, values).result()


async def _record(
    checkpoint_url: str,
    run_id: str,
    status: str,
    error_type: str | None,
    message: str,
    *,
    settle: bool = False,
) -> None:
    """Record the run's outcome (`settle`: only over `queued`), unless the database is out of reach."""
    from orchestrator.checkpoint import open_persistence

    try:
        async with open_persistence(checkpoint_url, Path("/")) as pers:
            write = pers.registry.settle if settle else pers.registry.record
            await write(run_id, status, error_type, message)
    except PhasegraphError as unreachable:
        log.error("worker.record_failed", run_id=run_id, error=unreachable.message)


def run_worker(
    broker: str,
    checkpoint_url: str,
    *,
    concurrency: int,
    queues: list[str],
    visibility_timeout: float,
) -> int:
    """Consume `queues` until stopped (SIGTERM: finish the runs in hand, then exit); the exit code."""
    app = make_app(broker, checkpoint_url=checkpoint_url, visibility_timeout=visibility_timeout)
    worker = app.Worker(
        concurrency=concurrency,
        queues=queues,
        pool="prefork",
        hostname=f"phasegraph-{os.getpid()}@{socket.gethostname()}",
        loglevel="WARNING",
        quiet=True,
        without_mingle=True,
        without_gossip=True,
    )
    log.info(
        "worker.started",
        broker=hide_url_password(broker),
        queues=",".join(queues),
        concurrency=concurrency,
        pid=os.getpid(),
    )
    worker.start()
    return int(worker.exitcode or 0)
