"""Run: a handle for stepping through a run one phase at a time (notebooks, REPLs).

`Orchestrator.start()` gives a handle with a run id and nothing executed;
`run.next()` runs the next phase and returns its `PhaseResult`; `approve()` and
`reject()` answer an approval gate. Every step is checkpointed, so
`Orchestrator.attach(run_id, ...)` re-opens the run after a kernel restart.

Each step is one call of the `Orchestrator`'s own public API with `until=<that
phase>`: the first `run`s the run, the others `resume`, `approve` or `reject` it. The
handle itself holds nothing the checkpoint does not, only the latest `RunResult`
for display.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import AWAITING_APPROVAL, ConfigError, GateFailed, PhasegraphError, error_class
from orchestrator.result import PhaseResult, RunResult

if TYPE_CHECKING:
    from orchestrator.orchestrator import Orchestrator
    from orchestrator.run import RunOptions

_DONE = frozenset({"completed", "imported", "skipped"})


class Run:
    """One run, stepped phase by phase. Build it with `Orchestrator.start()` or `.attach()`."""

    def __init__(
        self,
        orchestrator: Orchestrator,
        options: RunOptions,
        *,
        keys: list[str],
        result: RunResult | None = None,
    ) -> None:
        if options.run_id is None:
            raise ConfigError("a Run needs a run id (use Orchestrator.start)")
        self._orch = orchestrator
        self._options = options
        self._keys = list(keys)
        self._result = result

    @classmethod
    def from_result(cls, orchestrator: Orchestrator, result: RunResult, project_dir: Path) -> Run:
        """A handle on a run that already exists, as its checkpoint has it."""
        from orchestrator.run import RunOptions

        options = RunOptions(task=result.task, project_dir=project_dir, run_id=result.run_id)
        return cls(orchestrator, options, keys=[p.key for p in result.phases], result=result)

    @property
    def run_id(self) -> str:
        """The run's id (its checkpoint thread and its artifacts folder name)."""
        return str(self._options.run_id)

    @property
    def task(self) -> str:
        return self._options.task

    @property
    def project_dir(self) -> Path:
        return self._options.project_dir

    @property
    def phases(self) -> list[str]:
        """The phase keys this run goes through, in order."""
        return list(self._keys)

    @property
    def result(self) -> RunResult | None:
        """The run as of the last step (None before the first `next()`)."""
        return self._result

    @property
    def status(self) -> str:
        """`not started`, or the run's status (`paused`, `completed`, `failed`, ...)."""
        return "not started" if self._result is None else self._result.status

    @property
    def waiting(self) -> str | None:
        """The phase waiting for approval, if any."""
        if self._result is None or self._result.error_type != AWAITING_APPROVAL:
            return None
        return next((p.key for p in self._result.phases if p.status == "paused"), None)

    # Stepping.

    async def anext(self) -> PhaseResult:
        """Run the next phase and return its result (see `next`)."""
        if self._result is None:
            key = self._keys[0]
            return self._took(
                await self._orch.arun(self.task, self.project_dir, until=key, **self._how()), key
            )
        key = self._next_key()
        return self._took(await self._orch.aresume(self.run_id, self.project_dir, until=key), key)

    async def aapprove(self, feedback: str = "") -> PhaseResult:
        """Approve the waiting phase (see `approve`)."""
        key = self._waiting()
        result = await self._orch.aapprove(self.run_id, self.project_dir, feedback=feedback, until=key)
        return self._took(result, key)

    async def areject(self, reason: str) -> PhaseResult:
        """Reject the waiting phase (see `reject`)."""
        key = self._waiting()
        return self._took(
            await self._orch.areject(self.run_id, self.project_dir, reason=reason, until=key), key
        )

    def next(self) -> PhaseResult:
        """Run the next phase and return its `PhaseResult`.

        A phase whose gate fails comes back with status `failed`; one that needs
        approval comes back `paused` (answer with `approve` or `reject`). A run
        stopped by a budget or a provider failure raises that error; `next()`
        again resumes it.
        """
        if self._result is None:
            key = self._keys[0]
            return self._took(self._orch.run(self.task, self.project_dir, until=key, **self._how()), key)
        key = self._next_key()
        return self._took(self._orch.resume(self.run_id, self.project_dir, until=key), key)

    def approve(self, feedback: str = "") -> PhaseResult:
        """Approve the phase waiting at its approval gate; `feedback` goes into the next phase's prompt.

        Nothing else runs: `next()` runs the next phase.
        """
        key = self._waiting()
        return self._took(
            self._orch.approve(self.run_id, self.project_dir, feedback=feedback, until=key), key
        )

    def reject(self, reason: str) -> PhaseResult:
        """Run the waiting phase again with `reason` as feedback; it waits for approval again."""
        key = self._waiting()
        return self._took(self._orch.reject(self.run_id, self.project_dir, reason=reason, until=key), key)

    def refresh(self) -> RunResult:
        """Re-read the run from its checkpoint (another process may have moved it on)."""
        self._result = self._orch.show(self.run_id, self.project_dir)
        return self._result

    # Display.

    def __repr__(self) -> str:
        return f"Run(run_id={self.run_id!r}, status={self.status!r}, phases={self._keys!r})"

    def _repr_markdown_(self) -> str:
        statuses = {p.key: p for p in self._result.phases} if self._result else {}
        lines = [f"**Run `{self.run_id}`** — {self.status}", "", f"> {self.task}", ""]
        lines += ["| phase | status | primary | deliverables | tokens |", "|---|---|---|---|---|"]
        for key in self._keys:
            p = statuses.get(key)
            if p is None:
                lines.append(f"| {key} | pending | | | |")
                continue
            count = sum(len(a.deliverables) for a in p.agents)
            primary = f"`{p.primary}`" if p.primary else ""
            lines.append(f"| {p.label} {p.key} | {p.status} | {primary} | {count} | {p.usage.total_tokens} |")
        lines += ["", self._hint()]
        return "\n".join(lines) + "\n"

    def _repr_html_(self) -> str:
        """The table `_repr_markdown_` shows, then the run's graph, timeline and spending so far."""
        from orchestrator.report_html import markdown_html, render_fragment

        table = markdown_html(self._repr_markdown_())
        return f'<div class="pg-run">{table}</div>' + (render_fragment(self._result) if self._result else "")

    # Internals.

    def _hint(self) -> str:
        if self.waiting:
            return (
                f"Phase `{self.waiting}` waits for approval: "
                "`run.approve(feedback=...)` or `run.reject(reason)`."
            )
        if self._result is None:
            return f"`run.next()` runs phase `{self._keys[0]}`."
        if self._result.status in ("completed", "failed"):
            return f"{self._result.status.capitalize()}. {self._result.message}".strip()
        try:
            return f"`run.next()` runs phase `{self._next_key()}`."
        except PhasegraphError as exc:
            return exc.message

    def _how(self) -> dict[str, Any]:
        """How the first step starts the run: the options `Orchestrator.start` was given."""
        o = self._options
        return {
            "pipeline": o.pipeline,
            "phases": o.phases,
            "run_id": o.run_id,
            "approval_gates": o.approval_gates,
            "from_run": o.from_run,
            "from_artifacts": o.from_artifacts,
            "in_place": o.in_place,
            "include_uncommitted": o.include_uncommitted,
        }

    def _waiting(self) -> str:
        """The phase waiting for approval, or the error that says nothing is."""
        if self.waiting is None:
            raise ConfigError(f"run {self.run_id} is not waiting for approval ({self.status})")
        return self.waiting

    def _next_key(self) -> str:
        """The first phase not yet done, or an error saying why nothing can run."""
        result = self._result
        assert result is not None
        if self.waiting:
            raise ConfigError(
                f"phase {self.waiting} of run {self.run_id} waits for approval: "
                "call run.approve(feedback=...) or run.reject(reason)"
            )
        gate_failed = result.error_type is None or error_class(result.error_type) is GateFailed
        if result.status == "failed" and gate_failed:
            raise GateFailed(f"run {self.run_id} stopped: {result.message}")
        for phase in result.phases:
            if phase.status not in _DONE:
                return phase.key
        raise ConfigError(f"run {self.run_id} has run every phase ({result.status})")

    def _took(self, result: RunResult, key: str) -> PhaseResult:
        """Keep the new state; raise what stopped the run if it was not the phase's own outcome."""
        self._result = result
        self._keys = [p.key for p in result.phases] or self._keys
        if result.error_type is not None and result.error_type != AWAITING_APPROVAL:
            stopped = error_class(result.error_type) or PhasegraphError
            if stopped is not GateFailed:
                raise stopped(f"run {result.run_id}: {result.message}")
        phase = result.phase(key)
        ws = result.workspace
        commits = [a.commit for a in phase.agents if a.commit]
        if ws is not None and commits and Path(ws.path).is_dir():
            from orchestrator.workspace import commits_diff

            phase.diff = commits_diff(Path(ws.path), ws.base, ws.head, commits)
        return phase
