"""The exception tree: one root, a family per layer, and the exit code each maps to.

Everything phasegraph raises on purpose is a `PhasegraphError`. The CLI turns any
of them into one line on stderr and the exit code `exit_code` gives; a traceback
means a bug in phasegraph, never a mistake by the user. A run that stopped records
the class name of what stopped it (`error_type` in `manifest.json`); `error_class`
turns that name back into the class.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from orchestrator.result import RunResult


class PhasegraphError(Exception):
    """Base class of every error phasegraph raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    @property
    def exit_code(self) -> int:
        """The CLI's exit code for this error (see `exit_code`)."""
        return exit_code(self)


# Input errors: the user's cards, phases, settings or flags.


class CardError(PhasegraphError):
    """A card (or phase file) that cannot be read; carries the path and line."""

    def __init__(self, message: str, path: Path | str | None = None, line: int | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        super().__init__(f"{where}{message}")
        self.reason = message


class ConfigError(PhasegraphError):
    """A setting, flag or environment variable with a bad value."""


class NotFound(PhasegraphError):
    """An agent, phase, pipeline or run id that does not exist."""


class WaitTimedOut(PhasegraphError):
    """`runs wait --timeout` passed before the run ended; the run itself goes on."""


class BrokerUnreachable(ConfigError):
    """The broker (RabbitMQ or Redis) did not take a queued run's message."""


class RunLocked(ConfigError):
    """Another process holds the run's lease and is advancing it; one writer per run at a time."""


# Provider errors: the model or the network, after the retry policy gave up.


class ProviderError(PhasegraphError):
    """The model provider failed and retrying did not help."""

    usage: object | None = None
    """The `CallUsage` of an answer that arrived but was unusable (refusal, truncation,
    bad JSON), so budgets still count the tokens it cost; None when nothing was billed."""


class RateLimited(ProviderError):
    """The provider kept answering 429 until the retry cap."""


class ProviderTimeout(ProviderError):
    """The provider did not answer within the timeout, on every attempt."""


class ProviderUnavailable(ProviderError):
    """Connection errors or 5xx answers until the retry cap."""


class AuthenticationFailed(ProviderError):
    """The provider refused the credentials (401/403); never retried."""


class BadRequest(ProviderError):
    """The provider rejected the request itself (400/404/422); never retried."""


class Refused(ProviderError):
    """The model refused to answer."""


class Truncated(ProviderError):
    """The answer stopped at the token limit (`finish_reason=length`)."""


class SchemaViolation(ProviderError):
    """The answer was not valid JSON or did not match the output model."""


class ReplayMiss(ProviderError):
    """A replayed run asked for a request the cassette does not hold."""


# Run outcomes that stop a run on purpose.


class BudgetExceeded(PhasegraphError):
    """The run crossed its token or USD budget; it stopped at a call boundary."""


class StepLimitReached(BudgetExceeded):
    """The run took more graph steps than `max_steps` allows (a loop guard)."""


class GateFailed(PhasegraphError):
    """A phase gate found deliverables missing or empty after one repair."""


class UnsafePath(PhasegraphError):
    """A path would have escaped the run folder; it was refused."""


class WriteFailed(PhasegraphError):
    """A file could not be written: no permission, a file where a folder should be, a full disk."""


class WorkspaceError(PhasegraphError):
    """A run's workspace cannot be made or brought home: a dirty tree, a conflict, a git failure."""


# A run's recorded outcome and the exit codes.

AWAITING_APPROVAL: Final = "AwaitingApproval"
"""The `error_type` of a run paused at an approval gate: a recorded outcome, not an error class."""

ERROR_TYPES: Final[dict[str, type[PhasegraphError]]] = {
    cls.__name__: cls
    for cls in (
        PhasegraphError,
        CardError,
        ConfigError,
        NotFound,
        RunLocked,
        WaitTimedOut,
        BrokerUnreachable,
        ProviderError,
        RateLimited,
        ProviderTimeout,
        ProviderUnavailable,
        AuthenticationFailed,
        BadRequest,
        Refused,
        Truncated,
        SchemaViolation,
        ReplayMiss,
        BudgetExceeded,
        StepLimitReached,
        GateFailed,
        UnsafePath,
        WriteFailed,
        WorkspaceError,
    )
}
"""Every error class by the name a run records in `error_type` (`manifest.json`, the registry)."""


def error_class(error_type: str | None) -> type[PhasegraphError] | None:
    """The class a recorded `error_type` names; None for no error, `AwaitingApproval`, or a name
    this version does not know (a manifest written by another one)."""
    return ERROR_TYPES.get(error_type or "")


class ExitCode(IntEnum):
    """The CLI's documented exit codes (README, "Exit codes")."""

    COMPLETED = 0
    """Completed, or stopped where `--until` asked."""
    GATE_FAILED = 1
    NOTHING_TO_APPLY = 1
    """`diff` and `apply`: the run wrote no code, or its code is already applied."""
    USAGE_ERROR = 2
    PROVIDER_FAILED = 3
    BUDGET_EXCEEDED = 4
    AWAITING_APPROVAL = 5
    TIMED_OUT = 6
    """`runs wait --timeout` passed first; the run goes on."""


EXIT_CODES: Final[dict[type[PhasegraphError], ExitCode]] = {
    GateFailed: ExitCode.GATE_FAILED,
    ProviderError: ExitCode.PROVIDER_FAILED,
    BudgetExceeded: ExitCode.BUDGET_EXCEEDED,
    WaitTimedOut: ExitCode.TIMED_OUT,
    PhasegraphError: ExitCode.USAGE_ERROR,
}
"""The exit code of each error family; a class takes its nearest listed ancestor's."""


def exit_code(outcome: PhasegraphError | RunResult) -> ExitCode:
    """The exit code of a raised error, or of a command's finished (or stopped) run."""
    if isinstance(outcome, PhasegraphError):
        return _family_code(type(outcome))
    if outcome.status == "completed":
        return ExitCode.COMPLETED
    if outcome.status == "paused":
        waits = outcome.error_type == AWAITING_APPROVAL
        return ExitCode.AWAITING_APPROVAL if waits else ExitCode.COMPLETED
    if outcome.status == "budget_exceeded":
        return ExitCode.BUDGET_EXCEEDED
    if outcome.error_type is None:
        return ExitCode.GATE_FAILED
    return _family_code(error_class(outcome.error_type) or PhasegraphError)


def _family_code(cls: type[PhasegraphError]) -> ExitCode:
    return next(EXIT_CODES[k] for k in cls.__mro__ if k in EXIT_CODES)
