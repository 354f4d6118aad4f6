"""Run: the one service that starts, resumes, approves, rejects, verifies, shows and lists runs.

A run is one LangGraph thread (thread id = run id) in the checkpointer. Its state
holds the task, the phases, the routing decisions, every deliverable and every
call's usage; its artifacts folder holds the same deliverables as files plus
`manifest.json`. Any process can pick a run up again by its id, one at a time:
advancing a run takes its lease (`orchestrator.lease`), and every outcome is
recorded in the registry beside the checkpoints, so reading a run (`show`,
`list`) needs neither the lease nor the run's provider.

The CLI and the Python API (`Orchestrator`) are thin shells over `Runner`: every
check of what a caller asks for (the task, the project folder, the phases, where
earlier deliverables come from) is made here or in `RunOptions`, once, for both.
The open run itself is `orchestrator._session`; reading runs is `orchestrator._listing`.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError
from orchestrator.events import EventHandler
from orchestrator.result import RunResult
from orchestrator.settings import Settings
from orchestrator.workspace import ApplyOutcome, Workspace, create_workspace, ensure_private_dir

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from orchestrator.catalog import Catalog
    from orchestrator.checks.model import CheckOptions
    from orchestrator.phases import PhaseSpec, Pipeline
    from orchestrator.providers.base import Provider
    from orchestrator.routing import PlannedPhase, Route, Router
    from orchestrator.state import AgentOutput

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,80}$")
_NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
"""Control characters other than tab, newline and CR (C0, DEL, C1), and lone surrogates."""

VERIFY_TASK = "Verify the project: run its tests and report on coverage, correctness and risks."
"""The task `verify` runs when none is given."""

OnCall = Callable[[str, str], Awaitable[None]]


@dataclass
class RunOptions:
    """What to run: the task, where, which phases, and what to start from.

    Building one checks everything that needs no file: the task, the run id, and that
    earlier deliverables come from one source at most. `Runner` checks the rest (the
    project folder, the pipeline and its phases) before anything is written.
    """

    task: str
    project_dir: Path = field(default_factory=lambda: Path("."))
    pipeline: str | None = None
    phases: Sequence[str] | str = ()
    """Phase keys or labels to run (default: the whole pipeline); a string is comma-separated."""
    until: str | None = None
    """Stop after this phase; `resume` continues."""
    run_id: str | None = None
    agents_dirs: Sequence[Path] = ()
    approval_gates: bool | None = None
    from_run: str | None = None
    """Take earlier phases' deliverables from this run's artifacts."""
    from_artifacts: Path | None = None
    """Take earlier phases' deliverables from this artifacts folder."""
    checks: Sequence[str] | None = None
    """The commands a phase with `checks:` runs (`--check`); None: the project's configuration,
    else detection."""
    check_timeout: float | None = None
    """Seconds before a check is killed with every process it started (default 600)."""
    check_network: bool = False
    """Let checks reach the network (`--check-network`)."""
    check_python: Path | None = None
    """The Python that runs Python checks (`--check-python`); default the project's `.venv`, else PATH."""
    fix_rounds: int | None = None
    """Rounds in which failing checks go back to the agent that wrote the code (default 2; 0 for CI)."""
    in_place: bool = False
    """Write code in the project's own checkout (on a new branch) instead of a workspace: for CI."""
    include_uncommitted: bool = False
    """Carry the project's uncommitted changes into the workspace instead of refusing to start."""

    def __post_init__(self) -> None:
        check_task(self.task)
        if isinstance(self.phases, str):
            self.phases = [p.strip() for p in self.phases.split(",") if p.strip()]
        self.phases = list(self.phases)
        self.project_dir = Path(self.project_dir)
        self.agents_dirs = [Path(d) for d in self.agents_dirs]
        if self.from_artifacts is not None:
            self.from_artifacts = Path(self.from_artifacts)
        if self.run_id:
            check_run_id(self.run_id)
        self.check_options()
        if self.from_run and self.from_artifacts:
            raise ConfigError(
                "use either --from RUN_ID or --from-artifacts DIR, not both "
                "(in Python, either from_run or from_artifacts)"
            )

    def to_json(self) -> dict[str, Any]:
        """Every option as JSON, paths absolute: what a queued run's message carries to a worker
        that sees the project at the same path (`orchestrator.submit.RunMessage`)."""
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value.absolute())
            elif f.name == "agents_dirs":
                value = [str(Path(d).absolute()) for d in value]
            elif isinstance(value, Sequence) and not isinstance(value, str):
                value = list(value)
            data[f.name] = value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunOptions:
        """The options `to_json` wrote; checked again as any new `RunOptions` is."""
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        if kwargs.get("check_python") is not None:
            kwargs["check_python"] = Path(kwargs["check_python"])
        return cls(**kwargs)

    def check_options(self) -> CheckOptions:
        """The run's `--check*` options, checked (`ConfigError` naming the flag)."""
        from pydantic import ValidationError

        from orchestrator.checks.model import DEFAULT_FIX_ROUNDS, DEFAULT_TIMEOUT_S, CheckOptions

        timeout = DEFAULT_TIMEOUT_S if self.check_timeout is None else self.check_timeout
        commands = None if self.checks is None else list(self.checks)
        try:
            return CheckOptions(
                commands=commands,
                timeout_s=timeout,
                network=self.check_network,
                python=self.check_python,
                fix_rounds=DEFAULT_FIX_ROUNDS if self.fix_rounds is None else self.fix_rounds,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            flags = {"timeout_s": "--check-timeout", "python": "--check-python", "fix_rounds": "--fix-rounds"}
            flag = flags.get(str(first["loc"][0]), "--check")
            message = first["msg"].removeprefix("Value error, ")
            raise ConfigError(f"{flag}: {message} (got {first.get('input')!r})") from None


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


def check_run_id(run_id: str) -> str:
    if not _RUN_ID.match(run_id):
        raise ConfigError(f"--run-id {run_id!r}: use letters, digits, '-' and '_' (at most 81 characters)")
    return run_id


def new_run_id() -> str:
    """A sortable, unique run id: `20261128-063012-3f9a`."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


def out_dir_for(settings: Settings, project_dir: Path) -> Path:
    """Where run folders go: `--out`, else `.phasegraph/runs` under the project."""
    return (settings.out_dir or project_dir / ".phasegraph" / "runs").resolve()


def run_dir_for(out_dir: Path, run_id: str) -> Path:
    from orchestrator.artifacts import safe_join

    return safe_join(out_dir, check_run_id(run_id))


def phase_keys(pipeline: Pipeline, wanted: Sequence[str]) -> list[str]:
    """Phase keys in pipeline order; `wanted` may use keys or labels."""
    if not wanted:
        return [p.key for p in pipeline.phases]
    chosen = {pipeline.phase(w).key for w in wanted}
    return [p.key for p in pipeline.phases if p.key in chosen]


def check_until(pipeline: Pipeline, keys: Sequence[str], until: str) -> str:
    """The key of the `--until` phase, which must be one of the run's phases `keys`."""
    key = pipeline.phase(until).key
    if key not in keys:
        raise ConfigError(f"--until {until}: phase {key} is not one of this run's phases ({', '.join(keys)})")
    return key


def _workspace_maker(
    opts: RunOptions, project_dir: Path, run_id: str, out_dir: Path
) -> Callable[[], Workspace]:
    """What makes a new run's workspace, once its id is known to be free (`open_session`)."""

    def make() -> Workspace:
        return create_workspace(
            project_dir,
            run_id,
            in_place=opts.in_place,
            include_uncommitted=opts.include_uncommitted,
            leave_out=(out_dir,),
        )

    return make


def checked_project_dir(path: Path) -> Path:
    """`path` resolved, or the one "not a directory" error every entry point gives."""
    from orchestrator.project import project_dir

    return project_dir(Path(path))


def _checked_python(options: CheckOptions) -> CheckOptions:
    """`--check-python` must name an executable before the run starts (absolute from then on)."""
    if options.python is None:
        return options
    from orchestrator.checks.selection import python_for

    path = Path(options.python).absolute()  # not resolved: a venv's python is a symlink
    python_for(Path("."), path)
    return options.model_copy(update={"python": path})


class Runner:
    """The run service: every command and every `Orchestrator` method that plans or runs goes here.

    One object per set of settings and callbacks; each method takes what is
    particular to one call. `provider` (an instance) wins over `settings.provider`;
    `chat_model` serves `provider="langchain"`.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        provider: Provider | None = None,
        chat_model: BaseChatModel | None = None,
        on_event: EventHandler | None = None,
        on_call: OnCall | None = None,
    ) -> None:
        self.settings = settings
        self.provider = provider
        self.chat_model = chat_model
        self.on_event = on_event
        self.on_call = on_call

    # Looking before running: no model call.

    def catalog(self, project_dir: Path, agents_dirs: Sequence[Path] = ()) -> Catalog:
        """Every card a run in `project_dir` can use: `agents_dirs`, the settings' folders, the
        project's `agents/`, the built-ins (in that order). Cards that fail to load are in `problems`."""
        from orchestrator.catalog import Catalog

        checked_project_dir(project_dir)  # card sources stay as relative as `project_dir` is
        return Catalog.load(
            [*agents_dirs, *self.settings.agents_dirs],
            project_dir=Path(project_dir),
            include_builtin=not self.settings.no_builtin_agents,
        )

    def router(
        self, project_dir: Path, agents_dirs: Sequence[Path] = (), pipeline: str | None = None
    ) -> tuple[Router, Pipeline]:
        """One scan, one catalogue, one pipeline: everything a route or plan reads."""
        from orchestrator.phases import load_pipeline
        from orchestrator.project import ProjectSnapshot
        from orchestrator.routing import Router

        root = checked_project_dir(project_dir)
        chosen = load_pipeline(pipeline or self.settings.pipeline, project_dir=root)
        catalog = self.catalog(root, agents_dirs).check()
        return Router(catalog, ProjectSnapshot.scan(root)), chosen

    def plan(
        self,
        task: str,
        project_dir: Path,
        *,
        agents_dirs: Sequence[Path] = (),
        pipeline: str | None = None,
        approval_gates: bool = False,
        checks: CheckOptions | None = None,
    ) -> tuple[Pipeline, list[PlannedPhase]]:
        """Who would work on each phase of the pipeline, what each must deliver, and which real
        checks a phase would run (with `checks`, the run's `--check*` options)."""
        from orchestrator.routing import plan

        router, chosen = self.router(project_dir, agents_dirs, pipeline)
        if approval_gates or self.settings.approval_gates:
            chosen = chosen.with_approval_gates()
        return chosen, plan(router, task, chosen, checks)

    def route(
        self,
        task: str,
        project_dir: Path,
        *,
        phase: str | None = None,
        agents_dirs: Sequence[Path] = (),
        pipeline: str | None = None,
    ) -> tuple[Route, PhaseSpec]:
        """Every agent's score for one phase: the pipeline's by key or label, else any phase file,
        else the pipeline's first."""
        from orchestrator.errors import NotFound
        from orchestrator.phases import find_phase

        router, chosen = self.router(project_dir, agents_dirs, pipeline)
        spec = chosen.phases[0]
        if phase is not None:
            try:
                spec = chosen.phase(phase)
            except NotFound:
                spec = find_phase(phase, project_dir=checked_project_dir(project_dir))
        return router.route(task, spec), spec

    def phases_of(self, opts: RunOptions) -> list[str]:
        """The phase keys a run of `opts` goes through, in order (checked, nothing written)."""
        from orchestrator.phases import load_pipeline

        project_dir = checked_project_dir(opts.project_dir)
        pipeline = load_pipeline(opts.pipeline or self.settings.pipeline, project_dir=project_dir)
        return phase_keys(pipeline, opts.phases)

    # Running.

    async def start(self, opts: RunOptions) -> RunResult:
        """Start a new run and drive it until it ends or pauses; every input is checked before
        anything is written or any model is called."""
        from orchestrator._session import StoredConfig, imported_outputs, open_session
        from orchestrator.artifacts import check_writable
        from orchestrator.catalog import Catalog
        from orchestrator.phases import load_pipeline
        from orchestrator.state import RunState

        project_dir = checked_project_dir(opts.project_dir)
        run_id = opts.run_id or new_run_id()
        pipeline_name = opts.pipeline or self.settings.pipeline
        pipeline = load_pipeline(pipeline_name, project_dir=project_dir)
        keys = phase_keys(pipeline, opts.phases)
        if opts.until is not None:
            check_until(pipeline, keys, opts.until)
        agents_dirs = [Path(d).resolve() for d in (*opts.agents_dirs, *self.settings.agents_dirs)]
        catalog = Catalog.load(
            agents_dirs, project_dir=project_dir, include_builtin=not self.settings.no_builtin_agents
        ).check()
        out_dir = out_dir_for(self.settings, project_dir)
        writes = any(pipeline.phase(k).writes for k in keys)
        if self.settings.out_dir is None:  # the default artifacts folder is inside it
            ensure_private_dir(project_dir)
        check_writable(out_dir, "--out" if self.settings.out_dir else "artifacts folder (--out)")
        if writes or not self.settings.checkpoint_url:  # workspaces or the default state go inside it
            ensure_private_dir(project_dir)
        outputs: dict[str, AgentOutput] = {}
        source = opts.from_artifacts or (run_dir_for(out_dir, opts.from_run) if opts.from_run else None)
        if source is not None:
            outputs = imported_outputs(Path(source))
        config = StoredConfig.for_new_run(
            self.settings,
            self.provider,
            pipeline=pipeline_name,
            project_dir=project_dir,
            out_dir=out_dir,
            agents_dirs=agents_dirs,
            approval_gates=opts.approval_gates,
            phases=keys,
            checks=await self._checks_of(opts, project_dir),
        )
        make = _workspace_maker(opts, project_dir, run_id, out_dir) if writes else None
        async with open_session(
            self, run_id, project_dir, config, pipeline=pipeline, catalog=catalog, make_workspace=make
        ) as session:
            state = RunState(
                run_id=run_id, task=opts.task, phases=keys, config=config.to_state(), outputs=outputs
            )
            session.started(opts.task, keys)
            return await session.execute(state, until=opts.until)

    async def _checks_of(self, opts: RunOptions, project_dir: Path) -> CheckOptions:
        """The run's check options; with `--from RUN_ID`, the code under test is that run's workspace."""
        options = _checked_python(opts.check_options())
        if opts.from_run:
            from orchestrator.errors import NotFound

            try:
                ws = await self.workspace(opts.from_run, project_dir)
            except NotFound:  # its artifacts without its checkpoint: the project is the code
                ws = None
            if ws is not None:
                options = options.model_copy(update={"code": ws.path})
        return options

    async def verify(self, opts: RunOptions, junit: Path | None = None) -> RunResult:
        """Run the Verify phase alone, as CI does; `junit` (checked before the run) gets a JUnit report."""
        if junit is not None:
            from orchestrator.artifacts import check_file_writable

            check_file_writable(Path(junit), "--junit")
        result = await self.start(replace(opts, phases=["verify"], approval_gates=False))
        if junit is not None:
            from orchestrator.junit import write_junit

            write_junit(result, Path(junit))
        return result

    async def resume(self, run_id: str, project_dir: Path, *, until: str | None = None) -> RunResult:
        """Continue a run that stopped (crash, `--until`, budget, provider failure)."""
        from orchestrator._session import open_session

        async with open_session(self, check_run_id(run_id), checked_project_dir(project_dir)) as session:
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

        from orchestrator._session import open_session

        async with open_session(self, check_run_id(run_id), checked_project_dir(project_dir)) as session:
            snapshot = await session.graph.aget_state(session.config)
            if not any(t.interrupts for t in snapshot.tasks):
                raise ConfigError(f"run {run_id} is not waiting for approval")
            if not approve and not text.strip():
                raise ConfigError("reject needs a reason (--reason TEXT)")
            return await session.execute(Command(resume={"approve": approve, "text": text}), until=until)

    async def approve(
        self, run_id: str, project_dir: Path, *, feedback: str = "", until: str | None = None
    ) -> RunResult:
        """Approve the phase a run waits on and continue; `feedback` goes into the next phase's prompt."""
        return await self.decide(run_id, project_dir, approve=True, text=feedback, until=until)

    async def reject(
        self, run_id: str, project_dir: Path, *, reason: str, until: str | None = None
    ) -> RunResult:
        """Reject the phase a run waits on; it runs again with `reason` as feedback."""
        return await self.decide(run_id, project_dir, approve=False, text=reason, until=until)

    # The run's code: no lease, no provider.

    async def workspace(self, run_id: str, project_dir: Path) -> Workspace | None:
        """Where run `run_id` wrote code, from its checkpoint; None for a run without a writing phase."""
        from orchestrator._session import StoredConfig, checkpoint_values
        from orchestrator.checkpoint import open_persistence

        check_run_id(run_id)
        async with open_persistence(self.settings.checkpoint_url, checked_project_dir(project_dir)) as pers:
            values = await checkpoint_values(pers, run_id)
        return StoredConfig.from_state(values, run_id).workspace

    async def diff(self, run_id: str, project_dir: Path) -> str:
        """The run's changes as a unified diff (empty when it wrote no code)."""
        from orchestrator.workspace import diff

        ws = await self.workspace(run_id, project_dir)
        return diff(ws) if ws is not None and ws.root.is_dir() else ""

    async def apply(self, run_id: str, project_dir: Path) -> ApplyOutcome:
        """Bring the run's changes into the project's working tree (`phasegraph apply`)."""
        from orchestrator.errors import WorkspaceError
        from orchestrator.workspace import ApplyOutcome, bring_home

        ws = await self.workspace(run_id, project_dir)
        if ws is None:
            return ApplyOutcome(False, f"run {run_id} had no phase that writes code")
        if not ws.root.is_dir():
            raise WorkspaceError(f"run {run_id}: its workspace {ws.root} is gone")
        return bring_home(ws, checked_project_dir(project_dir))

    # Reading: no lease, no provider.

    async def show(self, run_id: str, project_dir: Path) -> RunResult:
        """The run as its checkpoint and its recorded outcome have it now; reads only, needs no provider."""
        from orchestrator._listing import read_run
        from orchestrator.checkpoint import open_persistence

        check_run_id(run_id)
        async with open_persistence(self.settings.checkpoint_url, checked_project_dir(project_dir)) as pers:
            return await read_run(self.settings, pers, run_id)

    async def list(self, project_dir: Path) -> list[dict[str, Any]]:
        """Every run in the checkpointer: id, task, status (from the registry), newest first; reads only."""
        from orchestrator._listing import list_runs
        from orchestrator.checkpoint import open_persistence

        async with open_persistence(self.settings.checkpoint_url, checked_project_dir(project_dir)) as pers:
            return await list_runs(self.settings, pers)
