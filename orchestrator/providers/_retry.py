"""The one retry policy every network provider uses (built on tenacity).

Retried: 429, 5xx, 408/409, timeouts and connection errors. Never retried: any other
4xx (400, 401, 403, 404, 422), refusals and answers that do not parse. The wait before
attempt n+1 is the server's `Retry-After` / `retry-after-ms` when it sent one (plus a
little jitter, never less than asked), else exponential backoff with jitter. Attempts
are capped (`max_attempts`) and so is the total time spent waiting (`max_wait_s`); then
the typed error is raised, saying how many attempts were made. `sleep` and the clocks
are injectable so tests never sleep.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from orchestrator._log import get_logger
from orchestrator.providers._errors import Failure, classify

if TYPE_CHECKING:
    from orchestrator.settings import Settings

R = TypeVar("R")

_log = get_logger("phasegraph.providers")


class _FailedAttempt(Exception):
    """Carries a classified failure through tenacity to the end of the loop."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.error.message)
        self.failure = failure


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, _FailedAttempt) and exc.failure.retryable


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient failure."""

    max_attempts: int = 6
    """Attempts in all, the first one included."""

    max_wait_s: float = 120.0
    """Seconds of waiting between attempts, summed over the call; 0 disables retries."""

    base_delay_s: float = 0.5
    """Backoff before the second attempt; it doubles each time (before jitter)."""

    max_delay_s: float = 30.0
    """Longest single backoff (a server's `Retry-After` may ask for more)."""

    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    """How to wait; tests pass a fake clock's sleep."""

    wall_clock: Callable[[], float] = time.time
    """Epoch seconds, to read a `Retry-After` given as an HTTP date."""

    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)
    """Source of jitter; seed it for reproducible waits."""

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> RetryPolicy:
        """`PHASEGRAPH_MAX_ATTEMPTS` and `PHASEGRAPH_MAX_RETRY_WAIT_S`, plus test hooks in `overrides`."""
        return cls(max_attempts=settings.max_attempts, max_wait_s=settings.max_retry_wait_s, **overrides)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt `attempt` (1-based): half fixed, half random."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0 ** (attempt - 1))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    async def call(
        self,
        attempt: Callable[[int], Awaitable[R]],
        *,
        where: str,
        secrets: Sequence[str] = (),
        log_fields: Mapping[str, Any] | None = None,
        on_failure: Callable[[Failure], None] | None = None,
    ) -> tuple[R, int]:
        """Run `attempt(n)` until it succeeds or the policy gives up; return (result, attempts).

        `on_failure` sees every failed attempt as it happens (the meter counts the
        unanswered ones). Exceptions `classify` does not know (bugs) propagate unchanged
        on the first attempt.
        """
        fields = dict(log_fields or {})

        async def one(number: int) -> R:
            try:
                return await attempt(number)
            except Exception as exc:
                failure = classify(exc, where, secrets=secrets, now=self.wall_clock)
                if failure is None:
                    raise
                if on_failure is not None:
                    on_failure(failure)
                raise _FailedAttempt(failure) from exc

        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            reason = error.failure.error if isinstance(error, _FailedAttempt) else error
            _log.warning(
                "provider.retry",
                **fields,
                attempt=state.attempt_number,
                wait_s=round(state.upcoming_sleep, 3),
                error=type(reason).__name__,
                reason=str(reason),
            )

        retrying = AsyncRetrying(
            sleep=self.sleep,
            stop=self._should_stop,
            wait=self._wait,
            retry=retry_if_exception(_retryable),
            before_sleep=log_retry,
            reraise=True,
        )
        state: RetryCallState | None = None
        try:
            async for trial in retrying:
                state = trial.retry_state
                with trial:
                    result = await one(state.attempt_number)
                if state.outcome is not None and not state.outcome.failed:
                    return result, state.attempt_number
        except _FailedAttempt as failed:
            # The SDK's exception is not chained: its text may echo a key; ours is redacted.
            raise self._final(failed.failure, state) from None
        raise AssertionError("tenacity ended without an outcome")  # pragma: no cover

    def _remaining(self, state: RetryCallState) -> float:
        return self.max_wait_s - state.idle_for

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        asked = error.failure.retry_after_s if isinstance(error, _FailedAttempt) else None
        if asked is not None:
            return asked + self.retry_after_jitter(asked, self._remaining(state))
        return max(0.0, min(self.backoff(state.attempt_number), self._remaining(state)))

    def retry_after_jitter(self, asked: float, remaining: float) -> float:
        """Seconds added to a server's `Retry-After`, so callers it limited together retry apart.

        Up to a quarter of the wait (at least `base_delay_s`, at most `max_delay_s`), never
        more than the wait budget has left beyond what the server asked: never less than it asked.
        """
        spread = min(max(asked / 4, self.base_delay_s), self.max_delay_s, max(remaining - asked, 0.0))
        return self.rng.uniform(0, spread)

    def _should_stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self.max_attempts:
            return True
        remaining = self._remaining(state)
        return remaining <= 0 or state.upcoming_sleep > remaining + 1e-9

    def _final(self, failure: Failure, state: RetryCallState | None) -> BaseException:
        """The error to raise: unchanged if retrying could not help, else with what was tried."""
        if not failure.retryable or state is None:
            return failure.error
        attempts = state.attempt_number
        waited = state.idle_for
        if attempts < self.max_attempts and failure.retry_after_s is not None:
            left = max(self._remaining(state), 0)
            why = (
                f"the server asked to wait {failure.retry_after_s:.1f} s, more than the {left:.1f} s "
                f"left of PHASEGRAPH_MAX_RETRY_WAIT_S={self.max_wait_s:g}"
            )
        elif attempts < self.max_attempts:
            why = f"the {self.max_wait_s:g} s retry budget (PHASEGRAPH_MAX_RETRY_WAIT_S) is used up"
        else:
            why = f"PHASEGRAPH_MAX_ATTEMPTS={self.max_attempts} reached"
        tried = f"gave up after {attempts} attempt(s) and {waited:.1f} s of waiting"
        error = type(failure.error)(f"{failure.error.message} — {tried}: {why}")
        error.usage = failure.error.usage
        return error
