"""Orchestrator: the Python entry point: plan, route, run, resume, verify and step through runs.

One object holds what every call shares (settings, provider, extra card folders,
callbacks); each method takes what is particular to one call (the task, the
project). Every run method has an async form (`arun`, `aresume`, ...) and a
synchronous one (`run`, `resume`, ...); the synchronous ones also work inside a
running event loop such as Jupyter's (see `orchestrator._sync`). Like the CLI, it
is a thin shell over the run service, `orchestrator.run.Runner`, which checks
every option the same way for both.

Runs that stop (a failed gate, a budget, a provider failure) come back as a
`RunResult` whose `status` says so, exactly like `manifest.json`; errors that mean
nothing could run (a bad setting, an unknown run id, a broken card) are raised.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, Field

from orchestrator._log import configure_logging
from orchestrator._sync import Inbox, run_sync, submit
from orchestrator.errors import ConfigError
from orchestrator.events import Event, EventHandler
from orchestrator.providers.base import Provider
from orchestrator.result import RunResult
from orchestrator.routing import PlannedPhase, Route
from orchestrator.run import VERIFY_TASK as VERIFY_TASK  # re-exported: the task `verify` runs by default
from orchestrator.run import Runner, RunOptions
from orchestrator.settings import Settings, load_settings
from orchestrator.workspace import ApplyOutcome

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from orchestrator.catalog import Catalog
    from orchestrator.stepping import Run
    from orchestrator.submit import RunHandle

T = TypeVar("T")
PathLike = str | Path


class Plan(BaseModel):
    """The whole run as it would happen, phase by phase, with no model call (`phasegraph plan`)."""

    pipeline: str
    phases: list[PlannedPhase] = Field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """Why phases have no agent (empty when every phase has one)."""
        return [p.message for p in self.phases if p.message]

    def _repr_markdown_(self) -> str:
        lines = [f"**Plan** (pipeline `{self.pipeline}`)", "", "| phase | agent | role | deliverables |"]
        lines.append("|---|---|---|---|")
        for p in self.phases:
            if p.primary is None:
                lines.append(f"| {p.label} {p.phase} | — | | {p.message or ''} |")
                continue
            for agent, items in p.deliverables.items():
                role = "primary" if agent == p.primary else "collaborator"
                lines.append(f"| {p.label} {p.phase} | `{agent}` | {role} | {'; '.join(items)} |")
        return "\n".join(lines) + "\n"


class Orchestrator:
    """Runs software tasks through a pipeline of phases, with agents chosen by their cards.

    Args:
        agents_dirs: extra card folders, searched before the project's `agents/`
            and the built-in catalogue (then `PHASEGRAPH_AGENTS_DIRS`).
        pipeline: pipeline name (`default`, `full`, or one in the project's
            `phases/pipelines/`); None takes the setting (`default`).
        provider: `"offline"`, `"openai"`, `"replay"`, `"langchain"`, a `Provider`
            instance, or None for the setting (`PHASEGRAPH_PROVIDER`, default offline).
        chat_model: a LangChain `BaseChatModel`; implies provider `"langchain"`.
        checkpoint_url: `postgresql://...` or `sqlite:///path`; None keeps each
            project's `.phasegraph/state.sqlite`.
        settings: a `Settings` to start from instead of the environment and `.env`.
        on_event: called with every `Event` of every run this object drives.
        checks: the commands a phase with `checks:` (Verify) runs, like `--check`; None takes
            the project's `[tool.phasegraph] checks`, else what it detects; `[]` runs none.
        check_timeout: seconds before a check is killed with all it started (default 600).
        check_network: let checks reach the network (default: cut off where the OS allows).
        check_python: the Python that runs Python checks (default: the project's `.venv`, else PATH).
        fix_rounds: rounds in which failing checks go back to the agent that wrote the code, whose
            changes are committed in the run's workspace before the checks run again (default 2).
        **overrides: any other setting by field name (`max_usd=0.5`, `model="gpt-4o"`,
            `cassette="ci/verify.cassette.jsonl"`); see `.env.example`.
    """

    def __init__(
        self,
        agents_dirs: Sequence[PathLike] = (),
        pipeline: str | None = None,
        provider: str | Provider | None = None,
        chat_model: BaseChatModel | None = None,
        checkpoint_url: str | None = None,
        settings: Settings | None = None,
        on_event: EventHandler | None = None,
        checks: Sequence[str] | None = None,
        check_timeout: float | None = None,
        check_network: bool = False,
        check_python: PathLike | None = None,
        fix_rounds: int | None = None,
        **overrides: Any,
    ) -> None:
        given: dict[str, Any] = dict(overrides)
        instance: Provider | None = None
        if isinstance(provider, str):
            given["provider"] = provider
        elif isinstance(provider, Provider):
            instance = provider
        elif provider is not None:
            raise ConfigError(
                f"provider: expected a name or a Provider, got {type(provider).__name__} "
                "(pass a LangChain chat model as chat_model=)"
            )
        elif chat_model is not None:
            given["provider"] = "langchain"
        if pipeline is not None:
            given["pipeline"] = pipeline
        if checkpoint_url is not None:
            given["checkpoint_url"] = checkpoint_url
        self.settings: Settings = _with_overrides(settings, given)
        """The effective settings of every call this object makes."""
        if {"log_format", "log_level"} & self.settings.model_fields_set:
            configure_logging(level=self.settings.log_level, fmt=self.settings.log_format)
        self.agents_dirs: tuple[Path, ...] = tuple(Path(d) for d in agents_dirs)
        self.provider = instance
        self.chat_model = chat_model
        self.on_event = on_event
        self.check_options: dict[str, Any] = {
            "checks": None if checks is None else list(checks),
            "check_timeout": check_timeout,
            "check_network": check_network,
            "check_python": _path(check_python),
            "fix_rounds": fix_rounds,
        }
        """The `--check*` options of every run this object starts (checked by `RunOptions`)."""

    def __repr__(self) -> str:
        provider = self.provider.name if self.provider is not None else self.settings.provider
        return f"Orchestrator(pipeline={self.settings.pipeline!r}, provider={provider!r})"

    # Looking before running: no model call.

    def catalog(self, project_dir: PathLike = ".") -> Catalog:
        """Every card a run in `project_dir` can use (extra folders, project `agents/`, built-ins)."""
        return self._runner(None).catalog(Path(project_dir), self.agents_dirs)

    def plan(
        self,
        task: str,
        project_dir: PathLike = ".",
        *,
        pipeline: str | None = None,
        approval_gates: bool = False,
    ) -> Plan:
        """Who would work on each phase and what each must deliver, without calling a model."""
        chosen, planned = self._runner(None).plan(
            task,
            Path(project_dir),
            agents_dirs=self.agents_dirs,
            pipeline=pipeline,
            approval_gates=approval_gates,
        )
        return Plan(pipeline=chosen.name, phases=planned)

    def route(
        self, task: str, project_dir: PathLike = ".", *, phase: str | None = None, pipeline: str | None = None
    ) -> Route:
        """Every agent's score for one phase (default: the pipeline's first), each point with its reason."""
        runner = self._runner(None)
        found, _ = runner.route(
            task, Path(project_dir), phase=phase, agents_dirs=self.agents_dirs, pipeline=pipeline
        )
        return found

    # Running: async forms.

    async def arun(
        self,
        task: str,
        project_dir: PathLike = ".",
        *,
        pipeline: str | None = None,
        phases: Sequence[str] | str = (),
        until: str | None = None,
        run_id: str | None = None,
        approval_gates: bool | None = None,
        from_run: str | None = None,
        from_artifacts: PathLike | None = None,
        in_place: bool = False,
        include_uncommitted: bool = False,
        on_event: EventHandler | None = None,
    ) -> RunResult:
        """Run `task` through the pipeline (or only `phases`) until it ends, pauses or stops.

        `until` stops after that phase (`aresume` continues); `from_run` / `from_artifacts`
        supply earlier phases' deliverables when running later phases alone. A phase that writes
        code works in the run's own workspace (`RunResult.workspace`; `apply` brings it home):
        `in_place` writes in the project's checkout instead, `include_uncommitted` carries its
        uncommitted changes along instead of refusing to start.
        """
        opts = self._options(
            task,
            project_dir,
            pipeline=pipeline,
            phases=phases,
            until=until,
            run_id=run_id,
            approval_gates=approval_gates,
            from_run=from_run,
            from_artifacts=from_artifacts,
            in_place=in_place,
            include_uncommitted=include_uncommitted,
        )
        return await self._runner(self._handler(on_event)).start(opts)

    async def aresume(
        self,
        run_id: str,
        project_dir: PathLike = ".",
        *,
        until: str | None = None,
        on_event: EventHandler | None = None,
    ) -> RunResult:
        """Continue a run after `until`, a crash, a budget stop or a provider failure."""
        return await self._runner(self._handler(on_event)).resume(run_id, Path(project_dir), until=until)

    async def aapprove(
        self,
        run_id: str,
        project_dir: PathLike = ".",
        *,
        feedback: str = "",
        until: str | None = None,
        on_event: EventHandler | None = None,
    ) -> RunResult:
        """Approve the phase a run waits on and continue; `feedback` goes into the next phase's prompt."""
        runner = self._runner(self._handler(on_event))
        return await runner.approve(run_id, Path(project_dir), feedback=feedback, until=until)

    async def areject(
        self,
        run_id: str,
        project_dir: PathLike = ".",
        *,
        reason: str,
        until: str | None = None,
        on_event: EventHandler | None = None,
    ) -> RunResult:
        """Reject the phase a run waits on; it runs again with `reason` as feedback."""
        runner = self._runner(self._handler(on_event))
        return await runner.reject(run_id, Path(project_dir), reason=reason, until=until)

    async def averify(
        self,
        project_dir: PathLike = ".",
        *,
        task: str = VERIFY_TASK,
        from_run: str | None = None,
        from_artifacts: PathLike | None = None,
        junit: PathLike | None = None,
        pipeline: str | None = None,
        run_id: str | None = None,
        on_event: EventHandler | None = None,
    ) -> RunResult:
        """Run the Verify phase alone, as CI does; `junit` writes a JUnit XML report there."""
        opts = self._options(
            task,
            project_dir,
            pipeline=pipeline,
            run_id=run_id,
            from_run=from_run,
            from_artifacts=from_artifacts,
        )
        return await self._runner(self._handler(on_event)).verify(opts, _path(junit))

    async def ashow(self, run_id: str, project_dir: PathLike = ".") -> RunResult:
        """A run as its checkpoint has it now."""
        return await self._runner(None).show(run_id, Path(project_dir))

    async def aapply(self, run_id: str, project_dir: PathLike = ".") -> ApplyOutcome:
        """Bring run `run_id`'s code into the project's working tree; `applied` is False when there was
        nothing to apply. A clash with local changes raises `WorkspaceError` and changes nothing."""
        return await self._runner(None).apply(run_id, Path(project_dir))

    async def adiff(self, run_id: str, project_dir: PathLike = ".") -> str:
        """Run `run_id`'s changes as a unified diff (empty when it wrote no code)."""
        return await self._runner(None).diff(run_id, Path(project_dir))

    async def areport_html(self, run_id: str, project_dir: PathLike = ".") -> str:
        """The run's `report.html` page as it stands now (graph, timeline, spending, deliverables)."""
        from orchestrator.report_html import render_html

        return render_html(await self.ashow(run_id, project_dir))

    async def aruns(self, project_dir: PathLike = ".") -> list[dict[str, Any]]:
        """Every run in the checkpointer, newest first: run_id, task, status, phases, pipeline, updated."""
        return await self._runner(None).list(Path(project_dir))

    async def astream(self, task: str, project_dir: PathLike = ".", **options: Any) -> AsyncIterator[Event]:
        """`arun` as an async iterator of its events, the last one `run_finished`.

        Takes `arun`'s options. Leaving the loop early cancels the run; it stays
        checkpointed and `aresume` continues it. A run that cannot start raises here.
        """
        events: asyncio.Queue[Event | None] = asyncio.Queue()
        handler = self._handler(options.pop("on_event", None))

        def forward(event: Event) -> None:
            if handler is not None:
                handler(event)
            events.put_nowait(event)

        opts = self._options(task, project_dir, **options)
        running = asyncio.ensure_future(self._runner(forward).start(opts))
        running.add_done_callback(lambda _: events.put_nowait(None))
        try:
            while (event := await events.get()) is not None:
                yield event
            running.result()
        finally:
            if not running.done():
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)

    # Running: synchronous forms, usable inside a running event loop (Jupyter).

    def run(
        self,
        task: str,
        project_dir: PathLike = ".",
        *,
        pipeline: str | None = None,
        phases: Sequence[str] | str = (),
        until: str | None = None,
        run_id: str | None = None,
        approval_gates: bool | None = None,
        from_run: str | None = None,
        from_artifacts: PathLike | None = None,
        in_place: bool = False,
        include_uncommitted: bool = False,
        on_event: EventHandler | None = None,
    ) -> RunResult:
        """`arun`, synchronously; callbacks run in the calling thread."""
        opts = self._options(
            task,
            project_dir,
            pipeline=pipeline,
            phases=phases,
            until=until,
            run_id=run_id,
            approval_gates=approval_gates,
            from_run=from_run,
            from_artifacts=from_artifacts,
            in_place=in_place,
            include_uncommitted=include_uncommitted,
        )
        return self._sync(lambda runner: runner.start(opts), on_event)

    def resume(
        self,
        run_id: str,
        project_dir: PathLike = ".",
        *,
        until: str | None = None,
        on_event: EventHandler | None = None,
    ) -> RunResult:
        """`aresume`, synchronously."""
        return self._sync(lambda runner: runner.resume(run_id, Path(project_dir), until=until), on_event)

    def approve(
        self,
        run_id: str,
        project_dir: PathLike = ".",
        *,
        feedback: str = "",
        until: str | None = None,
        on_event: EventHandler | None = None,
    ) -> RunResult:
        """`aapprove`, synchronously."""
        return self._sync(
            lambda runner: runner.approve(run_id, Path(project_dir), feedback=feedback, until=until), on_event
        )

    def reject(
        self,
        run_id: str,
        project_dir: PathLike = ".",
        *,
        reason: str,
        until: str | None = None,
        on_event: EventHandler | None = None,
    ) -> RunResult:
        """`areject`, synchronously."""
        return self._sync(
            lambda runner: runner.reject(run_id, Path(project_dir), reason=reason, until=until), on_event
        )

    def verify(
        self,
        project_dir: PathLike = ".",
        *,
        task: str = VERIFY_TASK,
        from_run: str | None = None,
        from_artifacts: PathLike | None = None,
        junit: PathLike | None = None,
        pipeline: str | None = None,
        run_id: str | None = None,
        on_event: EventHandler | None = None,
    ) -> RunResult:
        """`averify`, synchronously."""
        opts = self._options(
            task,
            project_dir,
            pipeline=pipeline,
            run_id=run_id,
            from_run=from_run,
            from_artifacts=from_artifacts,
        )
        return self._sync(lambda runner: runner.verify(opts, _path(junit)), on_event)

    def show(self, run_id: str, project_dir: PathLike = ".") -> RunResult:
        """`ashow`, synchronously."""
        return run_sync(self.ashow(run_id, project_dir))

    def apply(self, run_id: str, project_dir: PathLike = ".") -> ApplyOutcome:
        """`aapply`, synchronously."""
        return run_sync(self.aapply(run_id, project_dir))

    def diff(self, run_id: str, project_dir: PathLike = ".") -> str:
        """`adiff`, synchronously."""
        return run_sync(self.adiff(run_id, project_dir))

    def report_html(self, run_id: str, project_dir: PathLike = ".") -> str:
        """`areport_html`, synchronously: one self-contained HTML page, to save or display."""
        return run_sync(self.areport_html(run_id, project_dir))

    def runs(self, project_dir: PathLike = ".") -> list[dict[str, Any]]:
        """`aruns`, synchronously."""
        return run_sync(self.aruns(project_dir))

    def submit(
        self,
        task: str,
        project_dir: PathLike = ".",
        *,
        broker: str | None = None,
        queue: str = "phasegraph",
        pipeline: str | None = None,
        phases: Sequence[str] | str = (),
        until: str | None = None,
        run_id: str | None = None,
        approval_gates: bool | None = None,
        from_run: str | None = None,
        from_artifacts: PathLike | None = None,
        in_place: bool = False,
        include_uncommitted: bool = False,
    ) -> RunHandle:
        """Queue the run for `phasegraph worker` processes (README, "Running on many machines"):
        a handle with `wait()`, `status()`, `result()`, `approve()` and `reject()`."""
        from orchestrator.submit import RunHandle, require_broker
        from orchestrator.submit import submit as queue_run

        if self.provider is not None or self.chat_model is not None:
            raise ConfigError(
                "submit: workers build their own provider; name it (provider='openai'), not an instance"
            )
        opts = self._options(
            task,
            project_dir,
            pipeline=pipeline,
            phases=phases,
            until=until,
            run_id=run_id,
            approval_gates=approval_gates,
            from_run=from_run,
            from_artifacts=from_artifacts,
            in_place=in_place,
            include_uncommitted=include_uncommitted,
        )
        url = require_broker(self.settings, broker)
        queued = run_sync(queue_run(self.settings, opts, broker=url, queue=queue))
        return RunHandle(queued, Path(project_dir).resolve(), self.settings, url, queue)

    def events(self, task: str, project_dir: PathLike = ".", **options: Any) -> Iterator[Event]:
        """`astream`, synchronously: a run's events as they happen, in the calling thread."""
        inbox: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        handler = self._handler(options.pop("on_event", None))
        opts = self._options(task, project_dir, **options)
        call = submit(_then_close(self._runner(inbox.put).start(opts), inbox))
        try:
            while (event := inbox.get()) is not None:
                if handler is not None:
                    handler(event)
                yield event
            call.outcome.result()
        finally:
            call.cancel()

    # Stepping (notebooks).

    def start(
        self,
        task: str,
        project_dir: PathLike = ".",
        *,
        pipeline: str | None = None,
        phases: Sequence[str] | str = (),
        run_id: str | None = None,
        approval_gates: bool | None = None,
        from_run: str | None = None,
        from_artifacts: PathLike | None = None,
        in_place: bool = False,
        include_uncommitted: bool = False,
    ) -> Run:
        """A run handle with its run id and nothing executed yet; `run.next()` runs one phase.
        `in_place` and `include_uncommitted` are `run`'s, for a pipeline with a phase that writes."""
        from orchestrator.run import new_run_id
        from orchestrator.stepping import Run

        opts = self._options(
            task,
            project_dir,
            pipeline=pipeline,
            phases=phases,
            run_id=run_id or new_run_id(),
            approval_gates=approval_gates,
            from_run=from_run,
            from_artifacts=from_artifacts,
            in_place=in_place,
            include_uncommitted=include_uncommitted,
        )
        return Run(self, opts, keys=self._runner(None).phases_of(opts))

    def get_run(self, run_id: str, project_dir: PathLike = ".") -> Run:
        """A handle on an existing run, from its checkpoint (e.g. after a kernel restart)."""
        from orchestrator.stepping import Run

        return Run.from_result(self, self.show(run_id, project_dir), Path(project_dir))

    @classmethod
    def attach(
        cls, run_id: str, *, project_dir: PathLike = ".", checkpoint_url: str | None = None, **kwargs: Any
    ) -> Run:
        """Re-open a run by id from its checkpoint; `kwargs` are `Orchestrator(...)` arguments."""
        return cls(checkpoint_url=checkpoint_url, **kwargs).get_run(run_id, project_dir)

    # Internals.

    def _options(
        self,
        task: str,
        project_dir: PathLike,
        *,
        pipeline: str | None = None,
        phases: Sequence[str] | str = (),
        until: str | None = None,
        run_id: str | None = None,
        approval_gates: bool | None = None,
        from_run: str | None = None,
        from_artifacts: PathLike | None = None,
        in_place: bool = False,
        include_uncommitted: bool = False,
    ) -> RunOptions:
        """One call's options, checked by `RunOptions` as the CLI's are; this object's card folders."""
        return RunOptions(
            task=task,
            project_dir=Path(project_dir),
            pipeline=pipeline,
            phases=phases,
            until=until,
            run_id=run_id,
            agents_dirs=list(self.agents_dirs),
            approval_gates=approval_gates,
            from_run=from_run,
            from_artifacts=_path(from_artifacts),
            **self.check_options,
            in_place=in_place,
            include_uncommitted=include_uncommitted,
        )

    def _runner(self, on_event: EventHandler | None) -> Runner:
        """The run service with this object's settings, provider and chat model."""
        return Runner(self.settings, provider=self.provider, chat_model=self.chat_model, on_event=on_event)

    def _handler(self, extra: EventHandler | None) -> EventHandler | None:
        """This object's callback and the call's own, in that order."""
        handlers = [h for h in (self.on_event, extra) if h is not None]
        if not handlers:
            return None
        if len(handlers) == 1:
            return handlers[0]

        def both(event: Event) -> None:
            for handler in handlers:
                handler(event)

        return both

    def _sync(self, call: Callable[[Runner], Coroutine[Any, Any, T]], on_event: EventHandler | None) -> T:
        """Run `call(runner)` on the worker loop; event callbacks run here, in the calling thread."""
        handler = self._handler(on_event)
        if handler is None:
            return run_sync(call(self._runner(None)))
        inbox = Inbox()

        def post(event: Event) -> None:
            inbox.call(partial(handler, event))

        return run_sync(call(self._runner(post)), inbox)


def _path(value: PathLike | None) -> Path | None:
    return Path(value) if value is not None else None


async def _then_close(
    run: Coroutine[Any, Any, RunResult], inbox: queue.SimpleQueue[Event | None]
) -> RunResult:
    """Await `run`, then tell the iterating thread there are no more events."""
    try:
        return await run
    finally:
        inbox.put(None)


def _with_overrides(base: Settings | None, overrides: dict[str, Any]) -> Settings:
    """`base` (or the environment) with `overrides` on top; unknown names are an error, not ignored."""
    unknown = sorted(k for k in overrides if k not in Settings.model_fields)
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r}; every setting is listed in .env.example")
    if base is None:
        return load_settings(**overrides)
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return base
    checked = load_settings(**given)
    return base.model_copy(update={k: getattr(checked, k) for k in given})
