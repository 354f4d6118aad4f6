"""Submit: hand runs to `phasegraph worker` processes through a broker, and follow them.

A submitted run is checked here as `Runner.start` checks it (task, project folder,
pipeline, phases, `--until`, catalogue), described in the registry as `queued`, and
then sent as one task message (`RunMessage`): its id, what to do, and options that are
no secret. Each worker builds its settings from its own environment (API keys, base
URL) with the message's options on top, so no credential ever crosses the broker.

Workers share three things with the submitter: the PostgreSQL database (checkpoints,
journal, spend ledger, registry), the broker, and the project directory at the same
path (its `.phasegraph/runs` output included). `RunHandle` follows a run through the
registry, without a lease and without the run's provider.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from orchestrator.errors import AWAITING_APPROVAL, ConfigError, PhasegraphError
from orchestrator.registry import RunInfo
from orchestrator.result import RunResult
from orchestrator.run import Runner, RunOptions, check_run_id, check_until, checked_project_dir, new_run_id
from orchestrator.settings import Settings

ENDED = frozenset({"completed", "failed", "budget_exceeded", "paused"})
"""Statuses a worker leaves a run in: `paused` waits for a person (approval) or for `resume`."""

FORWARDED = (
    "provider",
    "model",
    "cassette",
    "out_dir",
    "max_usd",
    "max_tokens",
    "price_in",
    "price_out",
    "max_steps",
    "max_handoff_depth",
    "no_builtin_agents",
)
"""The settings a message carries: what the submitter chose for the run, never a credential
(a worker's API key, base URL and rate limit come from its own environment)."""

Action = Literal["start", "resume", "approve", "reject"]


class RunMessage(BaseModel):
    """The body of one task message: a run id, what to do with it, and non-secret options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    action: Action = "start"
    project_dir: str
    """Absolute: every worker sees the project directory at this same path."""
    options: dict[str, Any] = {}
    """The run's `RunOptions` (`RunOptions.to_json`) for a `start`: every option a run takes,
    paths absolute; empty for a decision."""
    text: str = ""
    """The feedback of an approval, the reason of a rejection."""
    settings: dict[str, Any] = {}
    """Values of `FORWARDED` settings that were set, JSON-ready."""

    def run_options(self) -> RunOptions:
        """The `RunOptions` of a `start`."""
        return RunOptions.from_json({**self.options, "run_id": self.run_id, "project_dir": self.project_dir})


def forwarded(settings: Settings) -> dict[str, Any]:
    """The `FORWARDED` settings, as JSON; budgets only when set, so a worker's own limits stay."""
    data = settings.model_dump(mode="json", include=set(FORWARDED))
    return {k: v for k, v in data.items() if v is not None}


def require_postgres(settings: Settings, what: str) -> str:
    """The checkpoint URL, which must be PostgreSQL: workers on other machines share it."""
    url = settings.checkpoint_url or ""
    if not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            f"{what} needs --checkpoint-url postgresql://... (PHASEGRAPH_CHECKPOINT_URL): "
            "workers on other machines share the runs' state through PostgreSQL"
        )
    return url


def require_broker(settings: Settings, broker: str | None) -> str:
    """`broker`, else the setting; one line naming the flag when neither is given."""
    url = broker or settings.broker_url
    if not url:
        raise ConfigError("--broker URL (PHASEGRAPH_BROKER_URL) is required: amqp://... or redis://...")
    if not url.startswith(("amqp://", "amqps://", "pyamqp://", "redis://", "rediss://")):
        raise ConfigError(
            f"--broker: unsupported URL scheme in {url.split('://')[0]!r} (use amqp:// or redis://)"
        )
    return url


async def submit(settings: Settings, opts: RunOptions, *, broker: str, queue: str) -> str:
    """Check the run, record it as queued, send it to the workers; its run id."""
    from orchestrator._session import started
    from orchestrator.checkpoint import open_persistence
    from orchestrator.phases import load_pipeline

    url = require_postgres(settings, "submit")
    runner = Runner(settings)
    project_dir = checked_project_dir(opts.project_dir)
    pipeline_name = opts.pipeline or settings.pipeline
    pipeline = load_pipeline(pipeline_name, project_dir=project_dir)
    keys = runner.phases_of(opts)
    if opts.until is not None:
        check_until(pipeline, keys, opts.until)
    runner.catalog(project_dir, opts.agents_dirs).check()
    run_id = opts.run_id or new_run_id()
    resolved = replace(opts, run_id=run_id, project_dir=project_dir, pipeline=pipeline_name, phases=keys)
    message = RunMessage(
        run_id=run_id,
        project_dir=str(project_dir),
        options=resolved.to_json(),
        settings=forwarded(settings),
    )
    async with open_persistence(url, project_dir) as pers:
        if await started(pers, run_id) or await pers.registry.info(run_id) is not None:
            raise ConfigError(f"--run-id {run_id}: a run with this id already exists")
        info = RunInfo(opts.task, pipeline_name, keys, message.settings, time.time())
        await pers.registry.describe(run_id, info)
        await _queue(pers.registry, message, broker, queue)
    return run_id


async def enqueue_decision(
    settings: Settings, run_id: str, project_dir: Path, *, approve: bool, text: str, broker: str, queue: str
) -> None:
    """Approve or reject a run that waits for approval: a worker continues it with the decision."""
    from orchestrator._listing import read_run
    from orchestrator._session import StoredConfig, checkpoint_values
    from orchestrator.checkpoint import open_persistence

    url = require_postgres(settings, "a queued approval")
    check_run_id(run_id)
    if not approve and not text.strip():
        raise ConfigError("reject needs a reason (--reason TEXT)")
    root = checked_project_dir(project_dir)
    async with open_persistence(url, root) as pers:
        current = await read_run(settings, pers, run_id)
        if current.status != "paused" or current.error_type != AWAITING_APPROVAL:
            raise ConfigError(f"run {run_id} is not waiting for approval (it is {current.status})")
        info = await pers.registry.info(run_id)
        # The run's own project directory, where the workers see it (not the approver's folder).
        stored = StoredConfig.from_state(await checkpoint_values(pers, run_id), run_id)
        message = RunMessage(
            run_id=run_id,
            action="approve" if approve else "reject",
            project_dir=str(stored.project_dir),
            text=text,
            settings=info.options if info is not None else forwarded(settings),
        )
        await _queue(pers.registry, message, broker, queue)


async def _queue(registry: Any, message: RunMessage, broker: str, queue: str) -> None:
    """Record the run as queued, then send it: a worker that starts it at once records `running`
    after `queued`, never before. A broker that cannot take it leaves the run `failed`, saying why."""
    from orchestrator.worker import send

    await registry.record(message.run_id, "queued", None, "")
    try:
        await asyncio.to_thread(send, broker, queue, message.model_dump(mode="json"))
    except PhasegraphError as exc:
        await registry.record(message.run_id, "failed", type(exc).__name__, exc.message)
        raise


async def status_of(settings: Settings, run_id: str, project_dir: Path) -> RunResult:
    """The run as it stands: from its checkpoint, or from the registry while it is queued."""
    return await Runner(settings).show(run_id, project_dir)


async def wait_for(
    settings: Settings, run_id: str, project_dir: Path, *, timeout: float | None = None, poll: float = 0.5
) -> RunResult:
    """Poll the registry until the run has ended or waits for a person; `WaitTimedOut` after `timeout`."""
    from orchestrator._listing import read_run
    from orchestrator.checkpoint import open_persistence
    from orchestrator.errors import WaitTimedOut

    check_run_id(run_id)
    root = checked_project_dir(project_dir)
    deadline = None if timeout is None else time.monotonic() + timeout
    async with open_persistence(settings.checkpoint_url, root) as pers:
        while True:
            stored = await pers.registry.status(run_id)
            ended = stored is not None and stored.status in ENDED
            # A run the registry does not know: NotFound, or an older run read whole.
            if ended or (stored is None and await pers.registry.info(run_id) is None):
                return await read_run(settings, pers, run_id)
            if deadline is not None and time.monotonic() >= deadline:
                status = stored.status if stored is not None else "unknown"
                raise WaitTimedOut(f"run {run_id} is still {status} after {timeout:g} s (--timeout)")
            await asyncio.sleep(poll)


@dataclass
class RunHandle:
    """A submitted run, followed from any process: `status()`, `wait()`, `result()`, and the
    queued decisions `approve()` and `reject()`."""

    run_id: str
    project_dir: Path
    settings: Settings
    broker: str
    queue: str

    def status(self) -> str:
        """`queued`, `running`, `paused`, `completed`, `failed` or `budget_exceeded`."""
        return self.result().status

    def result(self) -> RunResult:
        """The run as it stands now (its manifest once a worker has started it)."""
        from orchestrator._sync import run_sync

        return run_sync(status_of(self.settings, self.run_id, self.project_dir))

    def wait(self, timeout: float | None = None) -> RunResult:
        """Block until the run ends or waits for approval; `WaitTimedOut` after `timeout` seconds."""
        from orchestrator._sync import run_sync

        return run_sync(wait_for(self.settings, self.run_id, self.project_dir, timeout=timeout))

    def approve(self, feedback: str = "") -> None:
        """Approve the phase the run waits on; a worker continues the run."""
        self._decide(True, feedback)

    def reject(self, reason: str) -> None:
        """Reject the phase the run waits on; a worker runs it again with `reason`."""
        self._decide(False, reason)

    def _decide(self, approve: bool, text: str) -> None:
        from orchestrator._sync import run_sync

        run_sync(
            enqueue_decision(
                self.settings,
                self.run_id,
                self.project_dir,
                approve=approve,
                text=text,
                broker=self.broker,
                queue=self.queue,
            )
        )
