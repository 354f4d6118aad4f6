"""Reading runs (`runs show`, `runs list`): checkpoints and recorded outcomes, no lease, no provider.

Each command records its run's outcome in the registry beside the checkpoints, so a
list need not open every run; only a run never recorded (an older one) or whose
process died mid-way is read from its checkpoint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator._session import checkpoint_values, read_only_session
from orchestrator.errors import PhasegraphError
from orchestrator.lease import is_stale, locked_message
from orchestrator.registry import Holder, StoredStatus
from orchestrator.result import RunResult
from orchestrator.settings import Settings

if TYPE_CHECKING:
    from orchestrator.checkpoint import Persistence

Outcome = tuple[Any, str | None, str]
"""A run's status, error type and message."""


async def read_run(settings: Settings, pers: Persistence, run_id: str) -> RunResult:
    """A run from its checkpoint, with the status, error and message its last command recorded."""
    values = await checkpoint_values(pers, run_id)
    result = await read_only_session(settings, pers, run_id, values).result()
    registry = pers.registry
    stored, holder = await registry.status(run_id), await registry.holder(run_id)
    outcome = _recorded(run_id, stored, holder, await registry.now())
    if outcome is None:
        return result
    status, error_type, message = outcome
    return result.model_copy(update={"status": status, "error_type": error_type, "message": message})


async def list_runs(settings: Settings, pers: Persistence) -> list[dict[str, Any]]:
    """Every run in the checkpointer (id, task, phases, pipeline, updated, status), newest first."""
    rows: dict[str, dict[str, Any]] = {}
    async for item in pers.saver.alist(None):
        thread = item.config["configurable"]["thread_id"]
        if thread in rows or item.config["configurable"].get("checkpoint_ns"):
            continue
        values = item.checkpoint.get("channel_values") or {}
        if "task" not in values:
            continue
        rows[thread] = {
            "run_id": thread,
            "task": values["task"],
            "phases": values.get("phases", []),
            "pipeline": (values.get("config") or {}).get("pipeline", ""),
            "updated": item.checkpoint.get("ts", ""),
        }
    stored = await pers.registry.statuses()
    holders = await pers.registry.holders()
    now = await pers.registry.now()
    for row in rows.values():
        outcome = _recorded(row["run_id"], stored.get(row["run_id"]), holders.get(row["run_id"]), now)
        if outcome is None:
            # Never recorded (an older run), or its process died mid-way: only the
            # checkpoint can tell where it stopped.
            try:
                found = await read_run(settings, pers, row["run_id"])
                outcome = (found.status, found.error_type, found.message)
            except PhasegraphError:
                outcome = ("unknown", None, "")
        row["status"], row["error_type"] = outcome[0], outcome[1]
    return sorted(rows.values(), key=lambda r: str(r["updated"]), reverse=True)


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
