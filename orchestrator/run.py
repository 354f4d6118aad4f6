"""Run: start, stop, resume and decide on a checkpointed pipeline run.

A run is one LangGraph thread (thread id = run id) in the checkpointer. Its state
holds the task, the phases, the routing decisions, every deliverable and every
call's usage; its artifacts folder holds the same deliverables as files plus
`manifest.json`. Any process can pick a run up again by its id, one at a time:
advancing a run takes its lease (`orchestrator.lease`), and every outcome is
recorded in the registry beside the checkpoints, so reading a run (`show`,
`list`) needs neither the lease nor the run's provider.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from langgraph.errors import GraphRecursionError

from orchestrator._log import get_logger
from orchestrator._nodes import GraphShape, NodeKind, is_node, node, phase_of
from orchestrator._private import private_dir
from orchestrator.artifacts import check_writable, read_manifest, safe_join, write_manifest
from orchestrator.errors import (
    BudgetExceeded,
    ConfigError,
    NotFound,
    PhasegraphError,
    ProviderError,
    StepLimitReached,
)
from orchestrator.events import Event, EventHandler
from orchestrator.lease import is_stale, locked_message, run_lease
from orchestrator.registry import Holder, Registry, StoredStatus
from orchestrator.result import AgentResult, Deliverable, PhaseResult, Reason, RunResult, RunStatus
from orchestrator.settings import Settings
from orchestrator.state import AgentOutput, RouteRecord, RunConfig, RunState
from orchestrator.usage import UsageRecord, sum_records

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig
    from langgraph.types import Command, StateSnapshot

    from orchestrator._graph import CompiledGraph
    from orchestrator._turn import RunContext
    from orchestrator.checkpoint import Persistence
    from orchestrator.journal import CallJournal
    from orchestrator.phases import Pipeline

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,80}$")
_NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
"""Control characters other than tab, newline and CR (C0, DEL, C1), and lone surrogates."""
log = get_logger("phasegraph.run")


@dataclass
class RunOptions:
    """What to run: the task, where, which phases, and what to start from."""

    task: str
    project_dir: Path = field(default_factory=lambda: Path("."))
    pipeline: str | None = None
    phases: Sequence[str] = ()
    """Phase keys or labels to run (default: the whole pipeline)."""
    until: str | None = None
    """Stop after this phase; `resume` continues."""
    run_id: str | None = None
    agents_dirs: Sequence[Path] = ()
    approval_gates: bool | None = None
    from_run: str | None = None
    """Take earlier phases' deliverables from this run's artifacts."""
    from_artifacts: Path | None = None
    """Take earlier phases' deliverables from this artifacts folder."""

    def __post_init__(self) -> None:
        check_task(self.task)


def check_task(task: object, source: str = "task") -> str:
    """`task` if it is text a run can use; `ConfigError` naming `source` and the position otherwise.

    Every way into a run (CLI, `Orchestrator`, stepping) builds a `RunOptions`, so this is
    the one check: an empty task would run the whole pipeline on nothing, and control
    characters (NUL, ESC, ...) or undecodable bytes are never meant as a task: PostgreSQL
    refuses NUL, and ESC sequences would reach terminals.
    """
    if not isinstance(task, str):
        raise ConfigError(f"{source}: expected text, got {type(task).__name__}")
    if not task.strip():
        raise ConfigError(f"{source}: empty (or only whitespace); describe the change you want")
    bad = _NOT_TEXT.search(task)
    if bad is not None:
        at, code = bad.start(), ord(bad.group())
        line = task.count("\n", 0, at) + 1
        column = at - task.rfind("\n", 0, at)
        if 0xDC80 <= code <= 0xDCFF:
            what = f"byte 0x{code - 0xDC00:02X} that is not UTF-8"
        elif 0xD800 <= code <= 0xDFFF:
            what = f"lone surrogate U+{code:04X}"
        else:
            what = f"control character U+{code:04X}"
        raise ConfigError(
            f"{source}: {what} at line {line}, column {column} (character {at + 1}); a task is plain text"
        )
    return task


def new_run_id() -> str:
    """A sortable, unique run id: `20261128-063012-3f9a`."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


def out_dir_for(settings: Settings, project_dir: Path) -> Path:
    """Where run folders go: `--out`, else `.phasegraph/runs` under the project."""
    return (settings.out_dir or project_dir / ".phasegraph" / "runs").resolve()


@dataclass
class Session:
    """One open run: its graph, context and checkpointer config; use inside `open_run`."""

    run_id: str
    graph: CompiledGraph
    shape: GraphShape
    """The run's phases and approval nodes: what its graph was compiled from."""
    pipeline: Pipeline
    ctx: RunContext | None
    """What the graph's nodes work with (LangGraph's runtime context); None when the session only reads."""
    config: RunnableConfig
    run_dir: Path
    on_event: EventHandler | None
    journal: CallJournal
    """The run's answers and spending: the source of the manifest's usage."""
    registry: Registry

    async def execute(self, payload: RunState | Command[str] | None, until: str | None = None) -> RunResult:
        """Drive the graph until it ends, pauses or fails; always leave a manifest behind."""
        if self.ctx is None:
            raise RuntimeError(f"run {self.run_id}: a read-only session cannot advance the run")
        interrupt_before = self._stop_before(until) if until else None
        await self.registry.record(self.run_id, "running", None, "")
        error: PhasegraphError | None = None
        try:
            async for mode, chunk in self.graph.astream(
                payload,
                self.config,
                context=self.ctx,
                stream_mode=["custom", "updates"],
                interrupt_before=interrupt_before,
                durability="sync",
            ):
                if mode == "custom":
                    self._event(Event.model_validate(chunk))
                elif isinstance(chunk, dict) and any(is_node(str(k), NodeKind.GATE) for k in chunk):
                    write_manifest(self.run_dir, await self.result())
        except PhasegraphError as exc:
            error = exc
        except GraphRecursionError:
            limit = self.config["recursion_limit"]
            error = StepLimitReached(
                f"the run took {limit} graph steps (PHASEGRAPH_MAX_STEPS={limit}) and was stopped; "
                "`phasegraph resume` with a higher limit continues"
            )
        result = await self.result(error)
        write_manifest(self.run_dir, result)
        await self.registry.record(self.run_id, result.status, result.error_type, result.message)
        self._event(
            Event(
                kind="run_finished",
                run_id=self.run_id,
                message=f"{result.status}: {result.message}" if result.message else result.status,
                data={"status": result.status, "usage": result.usage.model_dump()},
            )
        )
        return result

    def _stop_before(self, until: str) -> list[str] | None:
        """Where `--until PHASE` stops: before the next phase of this run starts.

        Stopping there (rather than right after the phase's gate) means a phase that
        needs approval still pauses for it, a rejected phase re-runs before the stop,
        and an approved one stops before the next phase begins.
        """
        key = self.pipeline.phase(until).key
        keys = [p.key for p in self.pipeline.phases if p.key in self.shape.phases]
        if key not in keys:
            raise ConfigError(
                f"--until {until}: phase {key} is not one of this run's phases ({', '.join(keys)})"
            )
        later = keys[keys.index(key) + 1 :]
        return [node(later[0], NodeKind.ROUTE)] if later else None

    async def result(self, error: PhasegraphError | None = None) -> RunResult:
        """The run as it stands, in manifest form."""
        snapshot = await self.graph.aget_state(self.config)
        values = cast("RunState", snapshot.values or {})
        records = await self.journal.spending()
        return build_result(self.pipeline, values, snapshot, error, self.run_dir, records)

    def _event(self, event: Event) -> None:
        log.info(
            event.kind,
            run_id=event.run_id,
            phase=event.phase,
            agent=event.agent,
            message=event.message,
            **{k: v for k, v in event.data.items() if k in ("to", "path", "status")},
        )
        if self.on_event is not None:
            self.on_event(event)


def build_result(
    pipeline: Pipeline,
    values: RunState,
    snapshot: StateSnapshot | None,
    error: PhasegraphError | None,
    run_dir: Path,
    records: Sequence[UsageRecord] = (),
) -> RunResult:
    """Fold checkpoint state, the journal's usage `records` and the error that stopped the run
    (if any) into a RunResult."""
    phases = [_phase_result(pipeline, key, values, run_dir, records) for key in values.get("phases") or []]
    status, message, error_type = _status(phases, snapshot, error)
    config = values.get("config")
    return RunResult(
        run_id=values.get("run_id", ""),
        status=status,
        task=values.get("task", ""),
        pipeline=config["pipeline"] if config else "",
        phases=phases,
        usage=sum_records(records),
        provider=config["provider"] if config else "",
        model=config["model"] if config else "",
        message=message,
        error_type=error_type,
        run_dir=str(run_dir),
    )


def _phase_result(
    pipeline: Pipeline, key: str, values: RunState, run_dir: Path, records: Sequence[UsageRecord]
) -> PhaseResult:
    """One phase of the run: its status, its route's reasons, and its agents' own (not imported) work."""
    spec = pipeline.phase(key)
    st = (values.get("phase_status") or {}).get(key)
    route = (values.get("routes") or {}).get(key)
    mine = [o for o in (values.get("outputs") or {}).values() if o["phase"] == key and not o.get("imported")]
    return PhaseResult(
        key=key,
        label=spec.label,
        name=spec.name,
        status=st["status"] if st else "pending",
        primary=route["primary"] if route else None,
        reasons=_reasons(route),
        agents=[_agent_result(o, records) for o in sorted(mine, key=lambda o: o["seq"])],
        missing=(st.get("missing") if st else None) or {},
        message=(st.get("message") if st else None) or "",
        usage=sum_records(r for r in records if r.phase == key),
        run_dir=str(run_dir),
    )


def _reasons(route: RouteRecord | None) -> list[Reason]:
    """Why the route chose its primary: the primary candidate's reasons."""
    if not route or not route["primary"]:
        return []
    top = next((c for c in route["candidates"] if c["id"] == route["primary"]), None)
    return [Reason.model_validate(r) for r in top["reasons"]] if top else []


def _agent_result(out: AgentOutput, records: Sequence[UsageRecord]) -> AgentResult:
    return AgentResult(
        id=out["agent"],
        role=out["role"],
        handed_off_by=out["handed_off_by"],
        brief=out["brief"],
        deliverables=[
            Deliverable(name=name, path=out["paths"][name], chars=len(text), repaired=name in out["repaired"])
            for name, text in out["deliverables"].items()
        ],
        usage=sum_records(r for r in records if r.phase == out["phase"] and r.agent == out["agent"]),
    )


def _status(
    phases: list[PhaseResult], snapshot: StateSnapshot | None, error: PhasegraphError | None
) -> tuple[RunStatus, str, str | None]:
    if isinstance(error, BudgetExceeded):
        return "budget_exceeded", error.message, type(error).__name__
    if error is not None:
        return "failed", error.message, type(error).__name__
    failed = [p for p in phases if p.status == "failed"]
    if failed:
        return "failed", f"phase {failed[0].key}: {failed[0].message}", "GateFailed"
    if snapshot is not None and (snapshot.next or snapshot.tasks):
        waiting = [t for t in snapshot.tasks if t.interrupts]
        if waiting:
            phase = _phase_at(waiting[0].name, phases)
            for p in phases:
                if p.key == phase:
                    p.status = "paused"
            return "paused", f"waiting for approval of phase {phase}", "AwaitingApproval"
        nxt = _phase_at((snapshot.next or [t.name for t in snapshot.tasks])[0], phases)
        return "paused", f"stopped before phase {nxt}; `phasegraph resume` continues", None
    return "completed", "", None


def _phase_at(name: str, phases: list[PhaseResult]) -> str:
    """The phase of graph node `name`; before the first node of any phase, the run's first phase."""
    return phase_of(name) or (phases[0].key if phases else name)


def _model_name(settings: Settings) -> str:
    """The model a run reports: the offline provider answers for no real model."""
    return "offline" if settings.provider == "offline" else settings.model


def check_run_id(run_id: str) -> str:
    if not _RUN_ID.match(run_id):
        raise ConfigError(f"--run-id {run_id!r}: use letters, digits, '-' and '_' (at most 81 characters)")
    return run_id


def imported_outputs(source: Path) -> dict[str, AgentOutput]:
    """Earlier deliverables from an artifacts folder, as state outputs marked imported."""
    manifest = read_manifest(source)
    outputs: dict[str, AgentOutput] = {}
    for phase in manifest.phases:
        texts = phase.deliverables
        for agent in phase.agents:
            outputs[f"{phase.key}/{agent.id}"] = AgentOutput(
                phase=phase.key,
                agent=agent.id,
                role=agent.role,
                handed_off_by=agent.handed_off_by,
                brief=agent.brief,
                depth=0,
                seq=f"imported.{agent.id}",
                deliverables=texts.get(agent.id, {}),
                paths={d.name: d.path for d in agent.deliverables},
                repaired=[],
                imported=True,
            )
    return outputs


OnCall = Callable[[str, str], Awaitable[None]]


def phase_keys(pipeline: Any, wanted: Sequence[str]) -> list[str]:
    """Phase keys in pipeline order; `wanted` may use keys or labels."""
    if not wanted:
        return [p.key for p in pipeline.phases]
    chosen = {pipeline.phase(w).key for w in wanted}
    return [p.key for p in pipeline.phases if p.key in chosen]


def run_dir_for(out_dir: Path, run_id: str) -> Path:
    return safe_join(out_dir, check_run_id(run_id))


def ensure_exists(run_id: str, values: dict[str, Any] | None, where: str) -> dict[str, Any]:
    if not values or "task" not in values:
        raise NotFound(f"run {run_id!r} not found in {where}")
    return values


def provider_failed(result: RunResult) -> bool:
    """True when a provider error (after retries) stopped the run: exit code 3."""
    from orchestrator import errors

    cls = getattr(errors, result.error_type or "", None)
    return isinstance(cls, type) and issubclass(cls, ProviderError)


class Runner:
    """Opens runs against one checkpointer; the CLI and `Orchestrator` both drive this."""

    def __init__(
        self,
        settings: Settings,
        *,
        provider: Any | None = None,
        chat_model: Any | None = None,
        on_event: EventHandler | None = None,
        on_call: OnCall | None = None,
    ) -> None:
        self.settings = settings
        self._provider = provider
        self._chat_model = chat_model
        self.on_event = on_event
        self.on_call = on_call

    async def start(self, opts: RunOptions) -> RunResult:
        """Start a new run and drive it until it ends or pauses; every input is checked before
        anything is written or any model is called."""
        from orchestrator.catalog import Catalog
        from orchestrator.phases import load_pipeline
        from orchestrator.project import project_dir as checked_project_dir

        project_dir = checked_project_dir(opts.project_dir)
        run_id = check_run_id(opts.run_id) if opts.run_id else new_run_id()
        pipeline_name = opts.pipeline or self.settings.pipeline
        pipeline = load_pipeline(pipeline_name, project_dir=project_dir)
        keys = phase_keys(pipeline, opts.phases)
        agents_dirs = [Path(d).resolve() for d in (*opts.agents_dirs, *self.settings.agents_dirs)]
        catalog = Catalog.load(agents_dirs, project_dir=project_dir).check()
        out_dir = out_dir_for(self.settings, project_dir)
        if self.settings.out_dir is None:  # the default artifacts folder is inside it
            private_dir(project_dir / ".phasegraph")
        check_writable(out_dir, "--out" if self.settings.out_dir else "artifacts folder (--out)")
        outputs: dict[str, AgentOutput] = {}
        source = opts.from_artifacts or (run_dir_for(out_dir, opts.from_run) if opts.from_run else None)
        if source is not None:
            outputs = imported_outputs(Path(source))
        config: RunConfig = {
            "pipeline": pipeline_name,
            "project_dir": str(project_dir),
            "out_dir": str(out_dir),
            "agents_dirs": [str(d) for d in agents_dirs],
            "approval_gates": bool(
                self.settings.approval_gates if opts.approval_gates is None else opts.approval_gates
            ),
            "provider": self._provider.name if self._provider is not None else self.settings.provider,
            "model": self._provider.model if self._provider is not None else _model_name(self.settings),
            "cassette": str(self.settings.cassette) if self.settings.cassette else None,
            "phases": keys,
        }
        state = RunState(run_id=run_id, task=opts.task, phases=keys, config=config, outputs=outputs)
        async with self._open(run_id, config, fresh=True, pipeline=pipeline, catalog=catalog) as session:
            session._event(
                Event(
                    kind="run_started",
                    run_id=run_id,
                    message=opts.task,
                    data={"phases": keys, "run_dir": str(session.run_dir)},
                )
            )
            return await session.execute(state, until=opts.until)

    async def resume(self, run_id: str, project_dir: Path, *, until: str | None = None) -> RunResult:
        """Continue a run that stopped (crash, `--until`, budget, provider failure)."""
        config = await self._stored_config(run_id, project_dir)
        async with self._open(run_id, config) as session:
            snapshot = await session.graph.aget_state(session.config)
            if any(t.interrupts for t in snapshot.tasks):
                return await session.result()
            if not snapshot.next and not snapshot.tasks:
                # Finished. A step whose tasks all completed but whose writes were not yet
                # applied (killed in between) has no `next` either, but still has `tasks`.
                return await session.result()
            return await session.execute(None, until=until)

    async def decide(
        self, run_id: str, project_dir: Path, *, approve: bool, text: str = "", until: str | None = None
    ) -> RunResult:
        """Approve (with optional feedback for the next phase) or reject (with a reason) a paused phase."""
        from langgraph.types import Command

        config = await self._stored_config(run_id, project_dir)
        async with self._open(run_id, config) as session:
            snapshot = await session.graph.aget_state(session.config)
            if not any(t.interrupts for t in snapshot.tasks):
                raise ConfigError(f"run {run_id} is not waiting for approval")
            if not approve and not text.strip():
                raise ConfigError("reject needs a reason (--reason TEXT)")
            return await session.execute(Command(resume={"approve": approve, "text": text}), until=until)

    async def show(self, run_id: str, project_dir: Path) -> RunResult:
        """The run as its checkpoint and its recorded outcome have it now; reads only, needs no provider."""
        from orchestrator.checkpoint import open_persistence

        check_run_id(run_id)
        async with open_persistence(self.settings.checkpoint_url, project_dir.resolve()) as pers:
            return await _read_run(self.settings, pers, run_id)

    async def list(self, project_dir: Path) -> list[dict[str, Any]]:
        """Every run in the checkpointer: id, task, status (from the registry), newest first; reads only."""
        from orchestrator.checkpoint import open_persistence

        rows: dict[str, dict[str, Any]] = {}
        async with open_persistence(self.settings.checkpoint_url, project_dir.resolve()) as pers:
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
                        found = await _read_run(self.settings, pers, row["run_id"])
                        outcome = (found.status, found.error_type, found.message)
                    except PhasegraphError:
                        outcome = ("unknown", None, "")
                row["status"], row["error_type"] = outcome[0], outcome[1]
        return sorted(rows.values(), key=lambda r: str(r["updated"]), reverse=True)

    async def _stored_config(self, run_id: str, project_dir: Path) -> RunConfig:
        from orchestrator.checkpoint import open_persistence

        check_run_id(run_id)
        async with open_persistence(self.settings.checkpoint_url, project_dir.resolve()) as pers:
            return _state_of(await _checkpoint_of(pers, run_id), run_id, pers)["config"].copy()

    def _open(
        self,
        run_id: str,
        config: RunConfig,
        *,
        fresh: bool = False,
        pipeline: Any = None,
        catalog: Any = None,
    ) -> AbstractAsyncContextManager[Session]:
        return _open_session(self, run_id, config, fresh=fresh, pipeline=pipeline, catalog=catalog)


async def _checkpoint_of(pers: Any, run_id: str) -> Any:
    """The run's latest checkpoint tuple, or None."""
    return await pers.saver.aget_tuple({"configurable": {"thread_id": run_id, "checkpoint_ns": ""}})


def _state_of(found: Any, run_id: str, pers: Any) -> RunState:
    """A checkpoint's values; `NotFound` for a run id the checkpointer does not know."""
    values = ensure_exists(run_id, found.checkpoint.get("channel_values") if found else None, pers.where)
    return cast("RunState", values)


Outcome = tuple[Any, str | None, str]
"""A run's status, error type and message."""


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


async def _read_run(settings: Settings, pers: Any, run_id: str) -> RunResult:
    """A run from its checkpoint, with the status, error and message its last command recorded."""
    values = _state_of(await _checkpoint_of(pers, run_id), run_id, pers)
    result = await _read_only_session(settings, pers, run_id, values).result()
    registry = pers.registry
    stored, holder = await registry.status(run_id), await registry.holder(run_id)
    outcome = _recorded(run_id, stored, holder, await registry.now())
    if outcome is None:
        return result
    status, error_type, message = outcome
    return result.model_copy(update={"status": status, "error_type": error_type, "message": message})


def _read_only_session(settings: Settings, pers: Persistence, run_id: str, values: RunState) -> Session:
    """The run's graph over its checkpoint, to read its state: no provider, no project scan, no lease.

    The graph's shape comes from the stored phases, pipeline and approval setting;
    the session has no run context, so it can read the run but never advance it.
    """
    from orchestrator.phases import load_pipeline

    config = values["config"]
    pipeline = load_pipeline(config["pipeline"], project_dir=Path(config["project_dir"]))
    shape = _shape(config, pipeline, values.get("phases"))
    return Session(
        run_id=run_id,
        graph=_compiled(pers, shape),
        shape=shape,
        pipeline=pipeline,
        ctx=None,
        config={"configurable": {"thread_id": run_id}, "recursion_limit": settings.max_steps},
        run_dir=run_dir_for(Path(config["out_dir"]), run_id),
        on_event=None,
        journal=pers.journal(run_id),
        registry=pers.registry,
    )


def _shape(config: RunConfig, pipeline: Pipeline, stored: Sequence[str] | None) -> GraphShape:
    """The run's graph shape: its stored phases (else its config's, else the pipeline's) and approvals."""
    keys = list(stored or config.get("phases") or [p.key for p in pipeline.phases])
    return GraphShape.of(pipeline, keys, bool(config.get("approval_gates")))


def _compiled(pers: Persistence, shape: GraphShape) -> CompiledGraph:
    """The one place a run's graph is compiled: it depends on the shape and the checkpointer only."""
    from orchestrator._graph import compile_graph

    return compile_graph(shape, pers.saver, pers.store)


@asynccontextmanager
async def _open_session(
    runner: Runner,
    run_id: str,
    config: RunConfig,
    *,
    fresh: bool,
    pipeline: Any = None,
    catalog: Any = None,
) -> AsyncIterator[Session]:
    """The run's graph, ready to advance, with the run's lease held until the caller is done."""
    from orchestrator._turn import RunContext
    from orchestrator.catalog import Catalog
    from orchestrator.checkpoint import open_persistence
    from orchestrator.phases import load_pipeline
    from orchestrator.project import ProjectSnapshot
    from orchestrator.prompts import PromptBook
    from orchestrator.providers import make_provider
    from orchestrator.providers.metered import metered
    from orchestrator.routing import Router
    from orchestrator.usage import UsageLedger, UsageLimits, require_price

    settings = runner.settings
    project_dir = Path(config["project_dir"])
    out_dir = Path(config["out_dir"])
    run_dir = run_dir_for(out_dir, run_id)
    if catalog is None:
        catalog = Catalog.load([Path(d) for d in config["agents_dirs"]], project_dir=project_dir)
    pipeline = pipeline or load_pipeline(config["pipeline"], project_dir=project_dir)
    snapshot = ProjectSnapshot.scan(project_dir)
    async with AsyncExitStack() as stack:
        provider = runner._provider
        if provider is None:
            overrides: dict[str, Any] = {"provider": config["provider"], "model": config["model"]}
            cassette = config.get("cassette")
            if cassette and not settings.cassette:
                overrides["cassette"] = Path(cassette)
            provider = make_provider(settings.model_copy(update=overrides), chat_model=runner._chat_model)
            stack.push_async_callback(provider.aclose)
        limits = UsageLimits(max_tokens=settings.max_tokens, max_usd=settings.max_usd)
        if provider.billed:
            require_price(provider.model, settings.prices, limits)
        pers = await stack.enter_async_context(open_persistence(settings.checkpoint_url, project_dir))
        # Before anything reads the run's state: what it reads must still hold when it writes.
        await stack.enter_async_context(run_lease(pers.registry, run_id))
        stored = await _checkpoint_of(pers, run_id)
        if fresh and stored is not None:
            raise ConfigError(
                f"--run-id {run_id}: a run with this id already exists (use `phasegraph resume`)"
            )
        journal = pers.journal(run_id)
        ledger = UsageLedger(records=await journal.spending())
        ctx = RunContext(
            settings=settings,
            catalog=catalog,
            pipeline=pipeline,
            snapshot=snapshot,
            router=Router(catalog, snapshot),
            provider=metered(provider, ledger, limits, journal=journal),
            ledger=ledger,
            prompts=PromptBook([project_dir / "prompts"]),
            run_dir=run_dir,
            run_id=run_id,
            on_call=runner.on_call,
        )
        values = cast("RunState", stored.checkpoint.get("channel_values") or {}) if stored else RunState()
        shape = _shape(config, pipeline, values.get("phases"))
        yield Session(
            run_id=run_id,
            graph=_compiled(pers, shape),
            shape=shape,
            pipeline=pipeline,
            ctx=ctx,
            config={"configurable": {"thread_id": run_id}, "recursion_limit": settings.max_steps},
            run_dir=run_dir,
            on_event=runner.on_event,
            journal=journal,
            registry=pers.registry,
        )
