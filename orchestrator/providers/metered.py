"""The one meter in a run's call path: journal, budget and bookkeeping around any provider.

A run wraps its provider once: `metered(provider, ledger, limits, journal=...)`. For
each request the meter
1. returns the answer the journal already holds (a resumed run never pays twice);
2. checks the budget, so a run that crosses it stops cleanly at the next call
   boundary with `BudgetExceeded` (calls already in flight finish and are recorded);
3. calls the provider and records what came back, whatever happens to it next:
   a usable answer, an answer that was refused, truncated or malformed (each billed),
   and attempts that got no answer at all (which providers may bill; counted apart
   and held against the budget as an estimate), also when the call is cancelled with
   its request on the wire (a sibling call failed, or Ctrl-C).
Records go to the in-memory `UsageLedger` (the live total budgets are checked
against) and, when a journal is given, durably to it in the same step.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from orchestrator.errors import BudgetExceeded, ProviderError
from orchestrator.providers._tally import CANCEL_GRACE_S, CallCancelled, finish_despite_cancel
from orchestrator.providers.base import ModelRequest, ModelResponse, Provider, T
from orchestrator.usage import CallUsage, UsageLedger, UsageLimits

if TYPE_CHECKING:
    from orchestrator.journal import CallJournal


class MeteredProvider(Provider):
    """A provider that answers from `journal` first, enforces `limits` and records every call."""

    def __init__(
        self,
        inner: Provider,
        ledger: UsageLedger,
        limits: UsageLimits | None = None,
        *,
        journal: CallJournal | None = None,
    ) -> None:
        self.inner = inner
        self.ledger = ledger
        self.limits = limits or UsageLimits()
        self.journal = journal
        self.name = inner.name
        self.model = inner.model
        self.billed = inner.billed

    async def complete(self, request: ModelRequest[T]) -> ModelResponse[T]:
        """The journal's answer, or a budget-checked call whose cost is recorded however it ends."""
        fingerprint = request.fingerprint() if self.journal is not None else ""
        if self.journal is not None:
            saved = await self.journal.get(fingerprint)
            if saved is not None:
                output = request.output_model.model_validate_json(saved.raw)
                return ModelResponse(output=output, usage=saved.usage, raw=saved.raw, journaled=True)
        try:
            self.limits.check(self.ledger.total)
        except BudgetExceeded as exc:
            raise BudgetExceeded(f"{exc.message} (the next call was for {request.describe()})") from None
        started = time.time()
        try:
            response = await self.inner.complete(request)
        except ProviderError as exc:
            if isinstance(exc.usage, CallUsage):
                await self._record(request, exc.usage, None, started)
            raise
        except CallCancelled as cancelled:
            answer = (fingerprint, cancelled.raw) if cancelled.raw is not None else None
            record = self._record(request, cancelled.usage, answer, started)
            await finish_despite_cancel(record, CANCEL_GRACE_S)
            raise
        await self._record(request, response.usage, (fingerprint, response.raw), started)
        return response

    async def _record(
        self, request: ModelRequest[T], usage: CallUsage, answer: tuple[str, str] | None, started: float
    ) -> None:
        # When and why the call was made, for the report's timeline: the meter is the one
        # place every call passes, whichever provider answered it.
        stamped = usage.model_copy(update={"started_at": started, "repair": request.repair})
        record = self.ledger.record(request.agent, request.phase, stamped)
        if self.journal is not None:
            await self.journal.save(record, answer)

    async def aclose(self) -> None:
        """Close the wrapped provider."""
        await self.inner.aclose()


def metered(
    provider: Provider,
    ledger: UsageLedger,
    limits: UsageLimits | None = None,
    *,
    journal: CallJournal | None = None,
) -> MeteredProvider:
    """`provider` behind the meter: journal lookup, budget check before each call, a record after it."""
    return MeteredProvider(provider, ledger, limits, journal=journal)
