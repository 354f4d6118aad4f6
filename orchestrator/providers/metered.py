"""Budgets and bookkeeping around any provider: check before each call, record after.

A run wraps its provider once: `metered(provider, ledger, limits)`. The budget is
checked before every call, so a run that crosses it stops cleanly at the next call
boundary with `BudgetExceeded`; calls already in flight finish and are recorded, and
nothing already produced is lost. Answers that arrived but were unusable (refused,
truncated, malformed) are recorded too: they were paid for.
"""

from __future__ import annotations

from orchestrator.errors import BudgetExceeded, ProviderError
from orchestrator.providers.base import ModelRequest, ModelResponse, Provider, T
from orchestrator.usage import CallUsage, UsageLedger, UsageLimits


class MeteredProvider(Provider):
    """A provider that enforces `limits` and records every call in `ledger`."""

    def __init__(self, inner: Provider, ledger: UsageLedger, limits: UsageLimits | None = None) -> None:
        self.inner = inner
        self.ledger = ledger
        self.limits = limits or UsageLimits()
        self.name = inner.name
        self.model = inner.model

    async def complete(self, request: ModelRequest[T]) -> ModelResponse[T]:
        """Refuse if the budget is spent; otherwise call and record what it cost."""
        try:
            self.limits.check(self.ledger.total)
        except BudgetExceeded as exc:
            raise BudgetExceeded(f"{exc.message} (the next call was for {request.describe()})") from None
        try:
            response = await self.inner.complete(request)
        except ProviderError as exc:
            if isinstance(exc.usage, CallUsage):
                self.ledger.record(request.agent, request.phase, exc.usage)
            raise
        self.ledger.record(request.agent, request.phase, response.usage)
        return response

    async def aclose(self) -> None:
        """Close the wrapped provider."""
        await self.inner.aclose()


def metered(provider: Provider, ledger: UsageLedger, limits: UsageLimits | None = None) -> MeteredProvider:
    """`provider` with a budget check before each call and a ledger entry after it."""
    return MeteredProvider(provider, ledger, limits)
