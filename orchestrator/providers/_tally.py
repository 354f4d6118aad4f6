"""Attempts that were sent and never answered: counted per call, priced as an estimate.

A request that timed out (or lost its connection after it was sent) may still be
billed by the provider. The retry policy reports each failed attempt; this tally keeps
the unanswered ones so the call's `CallUsage` (or the error that ends the call) says
how many there were and what they may have cost, and budgets hold that estimate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from orchestrator.errors import ProviderError
from orchestrator.providers._errors import Failure
from orchestrator.settings import ModelPrice
from orchestrator.usage import CallUsage, cost_of, estimate_tokens


@dataclass
class UnansweredTally:
    """Counts one call's unanswered attempts; pass it as the retry policy's `on_failure`."""

    model: str
    """The model asked, which prices the estimate."""

    prompt_chars: int
    """Characters of the prompt each attempt sent."""

    prices: Mapping[str, ModelPrice] | None = None
    """The price table overrides (`Settings.prices`)."""

    count: int = 0
    """Unanswered attempts so far."""

    def __call__(self, failure: Failure) -> None:
        if failure.unanswered:
            self.count += 1

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
        if not self.count or error.usage is not None:
            return
        tokens, usd = self._reserve()
        error.usage = CallUsage(
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
