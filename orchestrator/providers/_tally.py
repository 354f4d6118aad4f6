"""Attempts that were sent: counted per call, whether or not an answer came back.

A request that timed out (or lost its connection after it was sent) may still be
billed by the provider. The retry policy reports each failed attempt; this tally keeps
the unanswered ones so the call's `CallUsage` (or the error that ends the call) says
how many there were and what they may have cost, and budgets hold that estimate.

A call can also be cancelled while its request is on the wire: LangGraph cancels the
other calls of a step when one of them fails, and Ctrl-C cancels everything. The
server answers (and bills) such a request all the same, so the tally waits a bounded
grace period for that answer and hands it to the meter with the cancellation
(`CallCancelled`); an answer that does not come in time is an unanswered attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from orchestrator.errors import ProviderError
from orchestrator.usage import CallUsage, cost_of, estimate_tokens

if TYPE_CHECKING:
    from orchestrator.providers._errors import Failure
    from orchestrator.providers._retry import RetryPolicy
    from orchestrator.settings import ModelPrice

R = TypeVar("R")

CANCEL_GRACE_S = 30.0
"""How long a cancelled call waits for the answer to a request already sent."""


class CallCancelled(asyncio.CancelledError):
    """A cancellation that caught a request on the wire: what it cost, and its answer if usable."""

    def __init__(self, usage: CallUsage, raw: str | None) -> None:
        super().__init__("cancelled with a request on the wire")
        self.usage = usage
        self.raw = raw


async def finish_despite_cancel(work: Awaitable[R], within_s: float) -> R | None:
    """Await `work` for up to `within_s` seconds even while being cancelled; None if it did not finish.

    Used only after a cancellation was delivered, to finish the bookkeeping of money
    already spent; every wait is bounded, so a cancelled run still stops.
    """
    task = asyncio.ensure_future(work)
    deadline = asyncio.get_running_loop().time() + within_s
    while not task.done():
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            task.cancel()
            return None
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({task}, timeout=left)
    if task.cancelled() or task.exception() is not None:
        return None
    return task.result()


@dataclass
class UnansweredTally:
    """Counts one call's sent attempts; pass it as the retry policy's `on_failure`."""

    model: str
    """The model asked, which prices the estimate."""

    prompt_chars: int
    """Characters of the prompt each attempt sent."""

    prices: Mapping[str, ModelPrice] | None = None
    """The price table overrides (`Settings.prices`)."""

    grace_s: float = CANCEL_GRACE_S
    """How long a cancelled call waits for an answer already on its way."""

    count: int = 0
    """Unanswered attempts so far."""

    sent: int = 0
    """Attempts that reached the point of sending."""

    late: Any = None
    """The answer to an attempt that was on the wire when the call was cancelled."""

    def __call__(self, failure: Failure) -> None:
        if failure.unanswered:
            self.count += 1

    async def retried(
        self,
        retry: RetryPolicy,
        attempt: Callable[[int], Awaitable[R]],
        *,
        where: str,
        log_fields: Mapping[str, Any],
        usage_of: Callable[[Any, int], CallUsage],
        raw_of: Callable[[Any, CallUsage], str],
        secrets: Sequence[str] = (),
    ) -> tuple[R, int]:
        """`retry.call(attempt)` with this tally counting: a call that ends without an answer
        carries its unanswered attempts on the error, a cancelled one raises `CallCancelled`
        (see `cancelled` for `usage_of` and `raw_of`)."""
        try:
            return await retry.call(
                attempt, where=where, secrets=secrets, log_fields=log_fields, on_failure=self
            )
        except ProviderError as exc:
            self.charge(exc)
            raise
        except asyncio.CancelledError:
            late = self.cancelled(usage_of, raw_of)
            if late is None:
                raise
            raise late from None

    async def send(self, request: Awaitable[R]) -> R:
        """Await one attempt; if the call is cancelled meanwhile, keep a late answer (see module doc)."""
        self.sent += 1
        task = asyncio.ensure_future(request)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            self.late = await finish_despite_cancel(task, self.grace_s)
            if self.late is None:
                self.count += 1
            raise

    def cancelled(
        self, usage_of: Callable[[Any, int], CallUsage], raw_of: Callable[[Any, CallUsage], str]
    ) -> CallCancelled | None:
        """What a cancelled call cost, for the meter; None when nothing had been sent.

        `usage_of(answer, attempts)` reads a late answer's usage; `raw_of(answer, usage)`
        its JSON, raising `ProviderError` when the answer is unusable (it is paid for all the same).
        """
        if self.late is None:
            return CallCancelled(self._unanswered(), None) if self.count else None
        usage = self.settle(usage_of(self.late, self.sent))
        try:
            raw: str | None = raw_of(self.late, usage)
        except ProviderError:
            raw = None
        return CallCancelled(usage, raw)

    def _reserve(self) -> tuple[int, float]:
        tokens = estimate_tokens(self.prompt_chars) * self.count
        return tokens, cost_of(self.model, tokens, 0, 0, self.prices) if tokens else 0.0

    def settle(self, usage: CallUsage) -> CallUsage:
        """`usage` of the answer that finally came, with the unanswered attempts before it."""
        if not self.count:
            return usage
        tokens, usd = self._reserve()
        return usage.model_copy(
            update={"unanswered_attempts": self.count, "reserved_tokens": tokens, "reserved_usd": usd}
        )

    def charge(self, error: ProviderError) -> None:
        """Attach the unanswered attempts to the error that ends a call without any answer."""
        if self.count and error.usage is None:
            error.usage = self._unanswered()

    def _unanswered(self) -> CallUsage:
        tokens, usd = self._reserve()
        return CallUsage(
            model=self.model,
            prompt_tokens=0,
            completion_tokens=0,
            attempts=self.count,
            answered=False,
            unanswered_attempts=self.count,
            reserved_tokens=tokens,
            reserved_usd=usd,
            estimated=True,
        )
