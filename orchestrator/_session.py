"""An open run: its graph over the checkpointer, its context, and the configuration it keeps.

`orchestrator.run.Runner` opens one per command (`open_session`, holding the run's
lease) or, to read a run, without lease or provider (`read_only_session`). A run
keeps how it was started in its checkpointed state (`config`, a `StoredConfig`),
so any process can open it again from its id alone.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from langgraph.errors import GraphRecursionError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator._log import get_logger
from orchestrator._nodes import GraphShape, NodeKind, is_node, node, phase_of
from orchestrator.artifacts import read_manifest, write_manifest
from orchestrator.checks.model import CheckOptions
from orchestrator.errors import (
    BudgetExceeded,
    ConfigError,
    NotFound,
    PhasegraphError,
    StepLimitReached,
)
from orchestrator.events import Event, EventHandler
from orchestrator.lease import run_lease
from orchestrator.providers.base import Provider
from orchestrator.providers.metered import MeteredProvider
from orchestrator.registry import Registry, RunInfo
from orchestrator.result import (
    AgentResult,
    Change,
    Deliverable,
    PhaseResult,
    Reason,
    RunResult,
    RunStatus,
    WorkspaceResult,
)
from orchestrator.run import run_dir_for
from orchestrator.runtime import current_runtime
from orchestrator.settings import Settings
from orchestrator.state import AgentOutput, RouteRecord, RunConfig, RunState
from orchestrator.usage import UsageLimits, UsageRecord, sum_records
from orchestrator.workspace import Workspace

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig
    from langgraph.types import Command, StateSnapshot

    from orchestrator._graph import CompiledGraph
    from orchestrator._turn import RunContext
    from orchestrator.catalog import Catalog
    from orchestrator.checkpoint import Persistence
    from orchestrator.journal import CallJournal
    from orchestrator.phases import Pipeline
    from orchestrator.run import Runner

log = get_logger("phasegraph.run")


class StoredConfig(BaseModel):
    """How a run was started, as its checkpointed state keeps it (`config`): enough for any
    process to open the run again. The checkpoint holds plain JSON; this model writes and reads it."""

    model_config = ConfigDict(extra="ignore")

    pipeline: str
    project_dir: Path
    out_dir: Path
    agents_dirs: list[Path] = Field(default_factory=list)
    """Card folders the run searches before the project's and the built-in ones, absolute."""
    no_builtin_agents: bool = False
    """The run's catalogue leaves the built-in cards out (a resume keeps it so)."""
    approval_gates: bool = False
    provider: str
    """The provider's name (`offline`, `openai`, ...), also of a `Provider` instance passed in."""
    model: str
    cassette: Path | None = None
    phases: list[str] = Field(default_factory=list)
    """The run's phase keys; empty in runs older than this field: the whole pipeline."""
    checks: CheckOptions = Field(default_factory=CheckOptions)
    """The run's `--check*` options: which checks, their timeout, network and Python."""
    workspace: Workspace | None = None
    """Where the run writes code; None for a run without a writing phase (or older than workspaces)."""

    @classmethod
    def for_new_run(
        cls,
        settings: Settings,
        provider: Provider | None,
        *,
        pipeline: str,
        project_dir: Path,
        out_dir: Path,
        agents_dirs: Sequence[Path],
        approval_gates: bool | None,
        phases: Sequence[str],
        checks: CheckOptions | None = None,
    ) -> StoredConfig:
        """A new run's configuration: `provider` (an instance) wins over the settings' provider."""
        return cls(
            pipeline=pipeline,
            project_dir=project_dir,
            out_dir=out_dir,
            agents_dirs=list(agents_dirs),
            no_builtin_agents=settings.no_builtin_agents,
            approval_gates=bool(settings.approval_gates if approval_gates is None else approval_gates),
            provider=provider.name if provider is not None else settings.provider,
            model=provider.model if provider is not None else _model_name(settings),
            cassette=settings.cassette,
            phases=list(phases),
            checks=checks or CheckOptions(),
        )

    @classmethod
    def from_state(cls, values: Mapping[str, Any], run_id: str) -> StoredConfig:
        """The configuration in a run's checkpointed state."""
        try:
            return cls.model_validate(values.get("config") or {})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(
                f"run {run_id}: its stored configuration cannot be read ({where}: {first['msg']})"
            ) from None

    def to_state(self) -> RunConfig:
        """The JSON the checkpoint keeps (paths as text)."""
        return cast("RunConfig", self.model_dump(mode="json"))

    def provider_settings(self, settings: Settings) -> Settings:
        """`settings` with the run's own provider and model, and its cassette unless one is given now."""
        overrides: dict[str, Any] = {"provider": self.provider, "model": self.model}
        if self.cassette is not None and not settings.cassette:
            overrides["cassette"] = self.cassette
        return settings.model_copy(update=overrides)

    def phase_keys(self, pipeline: Pipeline) -> list[str]:
        """The run's phases: as stored, else (an older run) the whole pipeline."""
        return list(self.phases or [p.key for p in pipeline.phases])


def _model_name(settings: Settings) -> str:
    """The model a run reports: the offline provider answers for no real model."""
    return "offline" if settings.provider == "offline" else settings.model


@dataclass
class Session:
    """One open run: its graph, context and checkpointer config; use inside `open_session`."""

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
        if isinstance(payload, dict) and "task" in payload:  # a new run: listed from now on
            await self.registry.describe(self.run_id, _info(payload))
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
                    write_manifest(self.run_dir, await self.result(), html=False)
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
        # An advancing session's ledger holds what its journal holds (seeded from it, then every
        # record goes to both under the run's lease); only a reading session asks the database.
        records = self.ctx.ledger.records if self.ctx is not None else await self.journal.spending()
        result = build_result(self.pipeline, values, snapshot, error, self.run_dir, records)
        provider = self.ctx.provider if self.ctx is not None else None
        if isinstance(provider, MeteredProvider) and provider.limits != UsageLimits():
            result.budget = provider.limits
        return result

    def started(self, task: str, phases: list[str]) -> None:
        """Report the start of a new run (`run_started`), before its first step."""
        self._event(
            Event(
                kind="run_started",
                run_id=self.run_id,
                message=task,
                data={"phases": phases, "run_dir": str(self.run_dir)},
            )
        )

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


def _info(state: RunState) -> RunInfo:
    """What a list shows of a new run."""
    config = state.get("config")
    return RunInfo(
        task=state.get("task", ""),
        pipeline=config["pipeline"] if config else "",
        phases=list(state.get("phases") or []),
        options={},
        created_at=time.time(),
    )


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
        workspace=_workspace_result(config),
        calls=list(records),
        run_dir=str(run_dir),
    )


def _workspace_result(config: RunConfig | None) -> WorkspaceResult | None:
    """The run's workspace for the manifest: its head read from git (the base if it is gone)."""
    record = config.get("workspace") if config else None
    if not record:
        return None
    from orchestrator.errors import WorkspaceError
    from orchestrator.workspace import diff_stat, head

    ws = Workspace.model_validate(record)
    tip, files = ws.base, []
    try:
        if ws.root.is_dir():
            tip = head(ws)
            files = diff_stat(ws, ws.base, tip)
    except WorkspaceError:
        pass
    return WorkspaceResult(
        path=str(ws.path), branch=ws.branch, base=ws.base, head=tip, in_place=ws.in_place, files=files
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
        **_checks_of(values, key),
        usage=sum_records(r for r in records if r.phase == key),
        run_dir=str(run_dir),
    )


def _checks_of(values: RunState, key: str) -> dict[str, Any]:
    """The phase's real checks as `PhaseResult` fields (none when the phase runs none)."""
    from orchestrator.checks.phase import phase_results, phase_rounds

    found = (values.get("checks") or {}).get(key)
    if not found:
        return {}
    return {
        "checks": phase_results(values, key),
        "checks_python": found["python"],
        "checks_note": found["note"],
        "fix_rounds": phase_rounds(values, key),
    }


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
        by=out.get("decided_by"),
        brief=out["brief"],
        deliverables=[
            Deliverable(name=name, path=out["paths"][name], chars=len(text), repaired=name in out["repaired"])
            for name, text in out["deliverables"].items()
        ],
        usage=sum_records(r for r in records if r.phase == out["phase"] and r.agent == out["agent"]),
        changes=[Change.model_validate(c) for c in out.get("changes") or []],
        commit=out.get("commit"),
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


async def started(pers: Persistence, run_id: str) -> bool:
    """Whether the run got as far as its first checkpoint with values: a start killed before that
    (an empty checkpoint at most) may start again under the same id."""
    try:
        await checkpoint_values(pers, run_id)
    except NotFound:
        return False
    return True


async def checkpoint_values(pers: Persistence, run_id: str) -> RunState:
    """The values of the run's latest checkpoint; `NotFound` for a run id the checkpointer does not know."""
    found = await pers.saver.aget_tuple({"configurable": {"thread_id": run_id, "checkpoint_ns": ""}})
    values = found.checkpoint.get("channel_values") if found else None
    if not values or "task" not in values:
        raise NotFound(f"run {run_id!r} not found in {pers.where}")
    return cast("RunState", dict(values))


def read_only_session(settings: Settings, pers: Persistence, run_id: str, values: RunState) -> Session:
    """The run's graph over its checkpoint, to read its state: no provider, no project scan, no lease.

    The graph's shape comes from the stored phases, pipeline and approval setting;
    the session has no run context, so it can read the run but never advance it.
    """
    config = StoredConfig.from_state(values, run_id)
    return _session(pers, run_id, config, _load_pipeline(config), values, settings.max_steps)


def _session(
    pers: Persistence,
    run_id: str,
    config: StoredConfig,
    pipeline: Pipeline,
    values: RunState,
    max_steps: int,
    ctx: RunContext | None = None,
    on_event: EventHandler | None = None,
    journal: CallJournal | None = None,
) -> Session:
    """A session over the run's compiled graph; without `ctx` it can only read the run."""
    shape = _shape(config, pipeline, values.get("phases"))
    return Session(
        run_id=run_id,
        graph=_compiled(pers, shape),
        shape=shape,
        pipeline=pipeline,
        ctx=ctx,
        config={"configurable": {"thread_id": run_id}, "recursion_limit": max_steps},
        run_dir=run_dir_for(config.out_dir, run_id),
        on_event=on_event,
        journal=journal or pers.journal(run_id),
        registry=pers.registry,
    )


def _shape(config: StoredConfig, pipeline: Pipeline, stored: Sequence[str] | None) -> GraphShape:
    """The run's graph shape: its stored phases (else its config's, else the pipeline's) and approvals."""
    return GraphShape.of(pipeline, list(stored or config.phase_keys(pipeline)), config.approval_gates)


def _compiled(pers: Persistence, shape: GraphShape) -> CompiledGraph:
    """The one place a run's graph is compiled: once per shape and runtime (`Runtime.graph`), then
    bound to this run's checkpointer (a copy: compiling costs more than the rest of a run's set-up)."""
    from orchestrator._graph import compile_graph

    graph = current_runtime().graph(shape, lambda: compile_graph(shape))
    bound = graph.copy(update={"checkpointer": pers.saver, "store": pers.store})
    # `copy` re-runs the constructor, which resets the serializer allowlist compile() computed.
    bound._serde_allowlist = graph._serde_allowlist
    return bound


@asynccontextmanager
async def open_session(
    runner: Runner,
    run_id: str,
    project_dir: Path,
    config: StoredConfig | None = None,
    *,
    pipeline: Pipeline | None = None,
    catalog: Catalog | None = None,
    make_workspace: Callable[[], Workspace] | None = None,
) -> AsyncIterator[Session]:
    """The run's graph, ready to advance, with the run's lease held until the caller is done.

    With `config` this is a new run (its id must be free); `make_workspace` then makes its
    workspace, once the lease is held and the id is known to be free, into `config.workspace`.
    Without, the run's checkpoint in `project_dir`'s checkpointer, read once under the lease,
    says how to open it.
    """
    from orchestrator.checkpoint import open_persistence

    settings = runner.settings
    async with AsyncExitStack() as stack:
        if config is not None:  # a new run: check what its provider needs before opening the database
            provider, limits = _provider(runner, config, stack)
        pers = await stack.enter_async_context(open_persistence(settings.checkpoint_url, project_dir))
        # Before anything reads the run's state: what it reads must still hold when it writes.
        await stack.enter_async_context(run_lease(pers.registry, run_id))
        values = RunState()
        if config is not None:
            if await started(pers, run_id):
                raise ConfigError(
                    f"--run-id {run_id}: a run with this id already exists (use `phasegraph resume`)"
                )
            if make_workspace is not None:
                from orchestrator.workspace import discard_unstarted

                discard_unstarted(project_dir, run_id)
                config.workspace = make_workspace()
        else:
            values = await checkpoint_values(pers, run_id)
            config = StoredConfig.from_state(values, run_id)
            provider, limits = _provider(runner, config, stack)
            if config.workspace is not None:  # nothing a killed turn left uncommitted stays
                from orchestrator.workspace import reopen

                reopen(config.workspace)
        pipeline = pipeline or _load_pipeline(config)
        journal = pers.journal(run_id)
        ctx = await _context(runner, run_id, config, pipeline, catalog, journal, provider, limits)
        steps = settings.max_steps
        yield _session(pers, run_id, config, pipeline, values, steps, ctx, runner.on_event, journal)


def _load_pipeline(config: StoredConfig) -> Pipeline:
    from orchestrator.phases import load_pipeline

    return load_pipeline(config.pipeline, project_dir=config.project_dir)


def _provider(runner: Runner, config: StoredConfig, stack: AsyncExitStack) -> tuple[Provider, UsageLimits]:
    """The run's provider (the runner's instance, else the run's own, closed with `stack`) and its
    budget; a USD budget for a billed model without a price is refused here, before any call."""
    from orchestrator.providers import make_provider
    from orchestrator.usage import UsageLimits, require_price

    settings = runner.settings
    provider = runner.provider
    if provider is None:
        provider = make_provider(config.provider_settings(settings), chat_model=runner.chat_model)
        stack.push_async_callback(provider.aclose)
    limits = UsageLimits(max_tokens=settings.max_tokens, max_usd=settings.max_usd)
    if provider.billed:
        require_price(provider.model, settings.prices, limits)
    return provider, limits


async def _context(
    runner: Runner,
    run_id: str,
    config: StoredConfig,
    pipeline: Pipeline,
    catalog: Catalog | None,
    journal: CallJournal,
    provider: Provider,
    limits: UsageLimits,
) -> RunContext:
    """The non-state half of the run: catalogue, one project scan, the metered provider, prompts."""
    from orchestrator._turn import RunContext
    from orchestrator.catalog import Catalog
    from orchestrator.project import ProjectSnapshot
    from orchestrator.prompts import PromptBook
    from orchestrator.providers.metered import metered
    from orchestrator.routing import Router
    from orchestrator.usage import UsageLedger

    project_dir = config.project_dir
    if catalog is None:
        catalog = Catalog.load(
            config.agents_dirs, project_dir=project_dir, include_builtin=not config.no_builtin_agents
        )
    ws = config.workspace
    scanned = ""
    if ws is not None:
        from orchestrator.workspace import head

        scanned = head(ws)
    snapshot = ProjectSnapshot.scan(ws.path if ws is not None else project_dir)
    ledger = UsageLedger(records=await journal.spending())
    return RunContext(
        settings=runner.settings,
        catalog=catalog,
        pipeline=pipeline,
        snapshot=snapshot,
        router=Router(catalog, snapshot),
        provider=metered(provider, ledger, limits, journal=journal),
        ledger=ledger,
        prompts=PromptBook([project_dir / "prompts"]),
        run_dir=run_dir_for(config.out_dir, run_id),
        run_id=run_id,
        on_call=runner.on_call,
        project_dir=project_dir,
        check_options=config.checks,
        workspace=ws,
        scanned_head=scanned,
    )
