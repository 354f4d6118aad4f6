"""Reading runs (`runs show`, `runs list`): checkpoints and recorded outcomes, no lease, no provider.

Each command records its run's outcome, and what the run is (task, pipeline, phases),
in the registry beside the checkpoints, so a list is one query however many runs
there are; only a run never recorded (an older one) or whose process died mid-way
is read from its checkpoint.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from orchestrator._log import get_logger
from orchestrator.errors import NotFound, PhasegraphError
from orchestrator.lease import is_stale, locked_message
from orchestrator.registry import Holder, Registry, RunInfo, StoredStatus
from orchestrator.result import RunResult, RunStatus
from orchestrator.settings import Settings

if TYPE_CHECKING:
    from orchestrator.checkpoint import Persistence

log = get_logger("phasegraph.run")

Outcome = tuple[Any, str | None, str]
"""A run's status, error type and message."""


async def read_run(settings: Settings, pers: Persistence, run_id: str) -> RunResult:
    """A run from its checkpoint, with the status, error and message its last command recorded.

    A submitted run no worker has started yet has no checkpoint: it is read from the registry.
    """
    # Imported here: a list that the registry answers alone never loads the graph stack.
    from orchestrator._session import checkpoint_values, read_only_session

    registry = pers.registry
    try:
        values = await checkpoint_values(pers, run_id)
    except NotFound:
        info, stored = await registry.info(run_id), await registry.status(run_id)
        if info is None or stored is None:
            raise
        return RunResult(
            run_id=run_id,
            status=cast("RunStatus", stored.status),
            task=info.task,
            pipeline=info.pipeline,
            message=stored.message,
            error_type=stored.error_type,
        )
    result = await read_only_session(settings, pers, run_id, values).result()
    stored, holder = await registry.status(run_id), await registry.holder(run_id)
    outcome = _recorded(run_id, stored, holder, await registry.now())
    if outcome is None:
        return result
    status, error_type, message = outcome
    return result.model_copy(update={"status": status, "error_type": error_type, "message": message})


async def list_runs(settings: Settings, pers: Persistence) -> list[dict[str, Any]]:
    """Every run (id, task, phases, pipeline, updated, status, error type), newest first.

    One query over the registry reads every run started or submitted since the registry kept
    what a run is; only older runs, and runs whose process died mid-way, open their checkpoint.
    """
    registry = pers.registry
    now = await registry.now()
    rows: list[dict[str, Any]] = []
    for listed in await registry.listing():
        info, stored = listed.info, listed.status
        updated = max(info.created_at, stored.updated_at if stored is not None else 0.0)
        row: dict[str, Any] = {
            "run_id": listed.run_id,
            "task": info.task,
            "phases": info.phases,
            "pipeline": info.pipeline,
            "updated": datetime.fromtimestamp(updated, UTC).isoformat(),
        }
        outcome = _recorded(listed.run_id, stored, listed.holder, now)
        rows.append(await _with_outcome(settings, pers, row, outcome))
    for run_id in await registry.undescribed():
        old = await _from_checkpoint(pers, run_id)
        if old is not None:
            await _describe_older(registry, old)
            stored, holder = await registry.status(run_id), await registry.holder(run_id)
            rows.append(await _with_outcome(settings, pers, old, _recorded(run_id, stored, holder, now)))
    return sorted(rows, key=lambda r: str(r["updated"]), reverse=True)


async def _from_checkpoint(pers: Persistence, run_id: str) -> dict[str, Any] | None:
    """The list row of a run the registry does not describe, from its latest checkpoint."""
    found = await pers.saver.aget_tuple({"configurable": {"thread_id": run_id, "checkpoint_ns": ""}})
    values = (found.checkpoint.get("channel_values") or {}) if found else {}
    if found is None or "task" not in values:
        return None
    return {
        "run_id": run_id,
        "task": values["task"],
        "phases": values.get("phases", []),
        "pipeline": (values.get("config") or {}).get("pipeline", ""),
        "updated": found.checkpoint.get("ts", ""),
    }


async def _describe_older(registry: Registry, row: dict[str, Any]) -> None:
    """Record what an older run is, so the next list reads it in the one query."""
    try:
        when = datetime.fromisoformat(str(row["updated"])).timestamp()
    except ValueError:
        when = 0.0
    info = RunInfo(row["task"], row["pipeline"], list(row["phases"]), {}, when)
    try:
        await registry.describe(row["run_id"], info)
    except Exception as exc:  # a database this reader may not write: the run is read from its checkpoint
        log.debug("runs.describe_failed", run_id=row["run_id"], error=type(exc).__name__)


async def _with_outcome(
    settings: Settings, pers: Persistence, row: dict[str, Any], outcome: Outcome | None
) -> dict[str, Any]:
    """`row` with its status and error type: as recorded, else (never recorded, or its process
    died mid-way) as only the checkpoint can tell."""
    if outcome is None:
        try:
            found = await read_run(settings, pers, row["run_id"])
            outcome = (found.status, found.error_type, found.message)
        except PhasegraphError:
            outcome = ("unknown", None, "")
    row["status"], row["error_type"] = outcome[0], outcome[1]
    return row


def _recorded(run_id: str, stored: StoredStatus | None, holder: Holder | None, now: float) -> Outcome | None:
    """What the registry says about a run; None when only its checkpoint can tell.

    `running` with a live lease holder is running; `running` without one means the
    process died mid-way, and the checkpoint shows where it stopped.
    """
    if stored is None:
        return None
    if stored.status != "running":
        return stored.status, stored.error_type, stored.message
    if holder is not None and not is_stale(holder, now):
        return "running", None, locked_message(run_id, holder)
    return None
