"""The exception tree: one root, a family per layer, and the exit code each maps to.

Everything phasegraph raises on purpose is a `PhasegraphError`. The CLI turns any
of them into one line on stderr and the exit code in `EXIT_CODES`; a traceback
means a bug in phasegraph, never a mistake by the user.
"""

from __future__ import annotations

from pathlib import Path


class PhasegraphError(Exception):
    """Base class of every error phasegraph raises on purpose."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


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


class RunLocked(ConfigError):
    """Another process holds the run's lease and is advancing it; one writer per run at a time."""


# Provider errors: the model or the network, after the retry policy gave up.


class ProviderError(PhasegraphError):
    """The model provider failed and retrying did not help."""

    exit_code = 3

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

    exit_code = 4


class StepLimitReached(BudgetExceeded):
    """The run took more graph steps than `max_steps` allows (a loop guard)."""


class GateFailed(PhasegraphError):
    """A phase gate found deliverables missing or empty after one repair."""

    exit_code = 1


class UnsafePath(PhasegraphError):
    """A path would have escaped the run folder; it was refused."""


class WriteFailed(PhasegraphError):
    """A file could not be written: no permission, a file where a folder should be, a full disk."""


EXIT_CODES: dict[str, int] = {
    "completed": 0,
    "gate_failed": 1,
    "usage_error": 2,
    "provider_failed": 3,
    "budget_exceeded": 4,
    "paused": 5,
}
"""The CLI's documented exit codes (README, "Exit codes")."""
