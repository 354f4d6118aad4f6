"""Run: a handle for stepping through a run one phase at a time (notebooks, REPLs).

`Orchestrator.start()` gives a handle with a run id and nothing executed;
`run.next()` runs the next phase and returns its `PhaseResult`; `approve()` and
`reject()` answer an approval gate. Every step is checkpointed, so
`Orchestrator.attach(run_id, ...)` re-opens the run after a kernel restart.

Each step is one call to the runner with `until=<that phase>`: the first starts
the run, the others resume it. The handle itself holds nothing the checkpoint
does not, only the latest `RunResult` for display.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator import errors
from orchestrator.errors import ConfigError, GateFailed, PhasegraphError
from orchestrator.result import PhaseResult, RunResult

if TYPE_CHECKING:
    from orchestrator.orchestrator import Orchestrator
    from orchestrator.run import Runner, RunOptions

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
        if self._result is None or self._result.error_type != "AwaitingApproval":
            return None
        return next((p.key for p in self._result.phases if p.status == "paused"), None)

    # Stepping.

    async def anext(self) -> PhaseResult:
        """Run the next phase and return its result (see `next`)."""
        return await self._next(self._runner())

    async def aapprove(self, feedback: str = "") -> PhaseResult:
        """Approve the waiting phase (see `approve`)."""
        return await self._decide(self._runner(), True, feedback)

    async def areject(self, reason: str) -> PhaseResult:
        """Reject the waiting phase (see `reject`)."""
        return await self._decide(self._runner(), False, reason)

    def next(self) -> PhaseResult:
        """Run the next phase and return its `PhaseResult`.

        A phase whose gate fails comes back with status `failed`; one that needs
        approval comes back `paused` (answer with `approve` or `reject`). A run
        stopped by a budget or a provider failure raises that error; `next()`
        again resumes it.
        """
        return self._orch._sync(self._next, None)

    def approve(self, feedback: str = "") -> PhaseResult:
        """Approve the phase waiting at its approval gate; `feedback` goes into the next phase's prompt.

        Nothing else runs: `next()` runs the next phase.
        """
        return self._orch._sync(lambda runner: self._decide(runner, True, feedback), None)

    def reject(self, reason: str) -> PhaseResult:
        """Run the waiting phase again with `reason` as feedback; it waits for approval again."""
        return self._orch._sync(lambda runner: self._decide(runner, False, reason), None)

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

    def _runner(self) -> Runner:
        return self._orch._runner(self._orch._handler(None))

    async def _next(self, runner: Runner) -> PhaseResult:
        if self._result is None:
            key = self._keys[0]
            result = await runner.start(replace(self._options, until=key))
        else:
            key = self._next_key()
            result = await runner.resume(self.run_id, self.project_dir, until=key)
        return self._took(result, key)

    async def _decide(self, runner: Runner, approve: bool, text: str) -> PhaseResult:
        if self.waiting is None:
            raise ConfigError(f"run {self.run_id} is not waiting for approval ({self.status})")
        key = self.waiting
        result = await runner.decide(self.run_id, self.project_dir, approve=approve, text=text, until=key)
        return self._took(result, key)

    def _next_key(self) -> str:
        """The first phase not yet done, or an error saying why nothing can run."""
        result = self._result
        assert result is not None
        if self.waiting:
            raise ConfigError(
                f"phase {self.waiting} of run {self.run_id} waits for approval: "
                "call run.approve(feedback=...) or run.reject(reason)"
            )
        if result.status == "failed" and result.error_type in (None, "GateFailed"):
            raise GateFailed(f"run {self.run_id} stopped: {result.message}")
        for phase in result.phases:
            if phase.status not in _DONE:
                return phase.key
        raise ConfigError(f"run {self.run_id} has run every phase ({result.status})")

    def _took(self, result: RunResult, key: str) -> PhaseResult:
        """Keep the new state; raise what stopped the run if it was not the phase's own outcome."""
        self._result = result
        self._keys = [p.key for p in result.phases] or self._keys
        if result.error_type not in (None, "GateFailed", "AwaitingApproval"):
            raise _error(result)
        return result.phase(key)


def _error(result: RunResult) -> PhasegraphError:
    """The exception that stopped a run, rebuilt from its manifest (`BudgetExceeded`, `RateLimited`, ...)."""
    cls = getattr(errors, result.error_type or "", None)
    if not (isinstance(cls, type) and issubclass(cls, PhasegraphError)):
        cls = PhasegraphError
    return cls(f"run {result.run_id}: {result.message}")
