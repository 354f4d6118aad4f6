"""Tokens, latency and money: per call, rolled up per agent, per phase and per run.

Every provider returns a `CallUsage` with each answer. A `UsageLedger` keeps one
`UsageRecord` per call of a run; `UsageLimits` turns the run's budget into a check
made before every call, so crossing a budget stops the run at the next call boundary.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, computed_field

from orchestrator._log import get_logger
from orchestrator.errors import BudgetExceeded, ConfigError
from orchestrator.pricing import price_for, price_table
from orchestrator.runtime import current_runtime
from orchestrator.settings import ModelPrice

if TYPE_CHECKING:
    from orchestrator.settings import Settings

_log = get_logger("phasegraph.usage")


class CallUsage(BaseModel):
    """What one model call consumed."""

    model_config = ConfigDict(frozen=True)

    model: str
    """The model that answered, as the provider reported it (e.g. `gpt-4o-mini-2024-07-18`)."""

    prompt_tokens: int = Field(ge=0)
    """Input tokens of this call, cached ones included."""

    completion_tokens: int = Field(ge=0)
    """Output tokens of this call."""

    cached_tokens: int = Field(0, ge=0)
    """The part of `prompt_tokens` served from the provider's prompt cache (billed cheaper)."""

    latency_s: float = Field(0.0, ge=0)
    """Seconds from the first attempt to the validated answer, retries and waits included."""

    attempts: int = Field(1, ge=0)
    """HTTP attempts the retry policy needed (1 when the first one succeeded; 0 when replayed)."""

    cost_usd: float = Field(0.0, ge=0)
    """Price of this call from the price table; 0.0 for offline, replayed or unpriced models."""

    estimated: bool = False
    """True when the provider reported no token counts and they were estimated (4 characters a token)."""

    answered: bool = True
    """False for a call that got no answer at all (every attempt timed out or lost its connection):
    it counts no call and no tokens, only `unanswered_attempts` and the estimate held against budgets."""

    unanswered_attempts: int = Field(0, ge=0)
    """Attempts of this call that were sent and got no answer (timeouts, dropped connections):
    the provider may have billed them, so they are counted apart from answers."""

    reserved_tokens: int = Field(0, ge=0)
    """Estimated prompt tokens of the unanswered attempts, held against `max_tokens`."""

    reserved_usd: float = Field(0.0, ge=0)
    """Estimated price of the unanswered attempts' prompts, held against `max_usd`."""

    started_at: float | None = None
    """Unix time the meter sent the call (None in records older than the report's timeline)."""

    repair: bool = False
    """True for the gate's repair request, False for an agent's turn."""


class Usage(BaseModel):
    """A sum of calls: the total of a run, an agent or a phase."""

    model_config = ConfigDict(frozen=True)

    calls: int = 0
    """Answers received (usable or not: a refused, truncated or malformed answer was paid for too)."""

    prompt_tokens: int = 0
    """Input tokens, cached ones included."""

    completion_tokens: int = 0
    """Output tokens."""

    cached_tokens: int = 0
    """Input tokens served from the prompt cache."""

    cost_usd: float = 0.0
    """Total price in USD."""

    unanswered_attempts: int = 0
    """Attempts sent that got no answer (timeouts, dropped connections); providers may bill them."""

    reserved_tokens: int = 0
    """Estimated prompt tokens of the unanswered attempts; budgets count them as spent."""

    reserved_usd: float = 0.0
    """Estimated USD of the unanswered attempts; budgets count them as spent."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_tokens(self) -> int:
        """Input plus output tokens (cached tokens are part of the input)."""
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def of(cls, call: CallUsage) -> Usage:
        """The usage of a single call."""
        return cls(
            calls=int(call.answered),
            prompt_tokens=call.prompt_tokens,
            completion_tokens=call.completion_tokens,
            cached_tokens=call.cached_tokens,
            cost_usd=call.cost_usd,
            unanswered_attempts=call.unanswered_attempts,
            reserved_tokens=call.reserved_tokens,
            reserved_usd=call.reserved_usd,
        )

    def add(self, call: CallUsage) -> Usage:
        """A new `Usage` with `call` added."""
        return self + Usage.of(call)

    def __add__(self, other: Usage) -> Usage:
        """Field-by-field sum: the one place where usage is added up."""
        return Usage(**{name: getattr(self, name) + getattr(other, name) for name in Usage.model_fields})


class UsageRecord(BaseModel):
    """One call of a run, with who made it."""

    model_config = ConfigDict(frozen=True)

    agent: str
    """The agent id the call was made for ("" when not given)."""

    phase: str
    """The phase key the call was made in ("" when not given)."""

    call: CallUsage
    """What the call consumed."""


class UsageLedger(BaseModel):
    """Every call of a run, in order; the totals are derived, never stored twice."""

    records: list[UsageRecord] = Field(default_factory=list)
    """One record per call, in the order the answers arrived."""

    def record(self, agent: str, phase: str, call: CallUsage) -> UsageRecord:
        """Append one call and return its record."""
        entry = UsageRecord(agent=agent, phase=phase, call=call)
        self.records.append(entry)
        return entry

    @property
    def total(self) -> Usage:
        """The whole run."""
        return sum_records(self.records)

    def by_agent(self) -> dict[str, Usage]:
        """Totals per agent id, in order of each agent's first call."""
        return self._rollup(lambda r: r.agent)

    def by_phase(self) -> dict[str, Usage]:
        """Totals per phase key, in order of each phase's first call."""
        return self._rollup(lambda r: r.phase)

    def _rollup(self, key: Callable[[UsageRecord], str]) -> dict[str, Usage]:
        totals: dict[str, Usage] = {}
        for entry in self.records:
            name = key(entry)
            totals[name] = totals.get(name, Usage()).add(entry.call)
        return totals


class UsageLimits(BaseModel):
    """A run's budget; either limit may be left out."""

    model_config = ConfigDict(frozen=True)

    max_tokens: int | None = Field(None, gt=0)
    """Stop once the run has used this many tokens (input plus output)."""

    max_usd: float | None = Field(None, gt=0)
    """Stop once the run has cost this many US dollars."""

    @classmethod
    def from_settings(cls, settings: Settings) -> UsageLimits:
        """The budget configured by `PHASEGRAPH_MAX_TOKENS` / `PHASEGRAPH_MAX_USD`."""
        return cls(max_tokens=settings.max_tokens, max_usd=settings.max_usd)

    def check(self, spent: Usage) -> None:
        """Raise `BudgetExceeded` if `spent` has reached a limit; call it before each model call."""
        tokens = spent.total_tokens + spent.reserved_tokens
        usd = spent.cost_usd + spent.reserved_usd
        crossed = []
        if self.max_tokens is not None and tokens >= self.max_tokens:
            crossed.append(f"{self.max_tokens:,} tokens")
        if self.max_usd is not None and usd >= self.max_usd:
            crossed.append(f"${self.max_usd:.4f}")
        if crossed:
            unanswered = (
                f" and {spent.unanswered_attempts} unanswered attempt(s) estimated at "
                f"{spent.reserved_tokens:,} tokens / ${spent.reserved_usd:.4f}"
                if spent.unanswered_attempts
                else ""
            )
            raise BudgetExceeded(
                f"budget exceeded: spent {spent.total_tokens:,} tokens / ${spent.cost_usd:.4f} "
                f"in {spent.calls} answer(s){unanswered}, reaching the limit of {' and '.join(crossed)}; "
                "stopped before the next call (raise PHASEGRAPH_MAX_TOKENS / PHASEGRAPH_MAX_USD to go on)"
            )


def cost_of(
    model: str,
    prompt_tokens: int,
    cached_tokens: int,
    completion_tokens: int,
    prices: Mapping[str, ModelPrice] | None = None,
    *,
    asked: str | None = None,
) -> float:
    """USD for one call; `prices` (e.g. `Settings.prices`) overrides the default table.

    `model` is the model that answered; when the table does not know it, the model
    that was `asked` for prices the call (a server may answer under another name).
    A call neither prices costs 0.0 and is reported once per runtime (for the default
    runtime, once per process); a run with a USD budget never gets that far
    (`require_price` refuses to start it).
    """
    table = price_table(prices)
    price = price_for(model, table) or (price_for(asked, table) if asked else None)
    if price is None:
        if current_runtime().first_time(("unpriced model", model)):
            _log.warning(
                "usage.unpriced_model",
                model=model,
                hint="add it to PHASEGRAPH_PRICES (or --price-in/--price-out); its calls count as $0",
            )
        return 0.0
    cached = min(max(cached_tokens, 0), prompt_tokens)
    fresh = prompt_tokens - cached
    return (fresh * price.input + cached * price.cached_input + completion_tokens * price.output) / 1_000_000


def require_price(model: str, prices: Mapping[str, ModelPrice] | None, limits: UsageLimits) -> None:
    """Refuse a USD budget that could not be enforced: the model must have a price.

    Raised as a `ConfigError` (exit 2) before the first call, never discovered after
    the money is spent.
    """
    if limits.max_usd is None or price_for(model, price_table(prices)) is not None:
        return
    raise ConfigError(
        f"--max-usd {limits.max_usd:g}: no price is known for model {model!r}, so the budget could not be "
        "enforced; give its prices with --price-in/--price-out (USD per million tokens) or "
        "PHASEGRAPH_PRICES, or drop the USD budget"
    )


def estimate_tokens(text_chars: int) -> int:
    """Tokens for `text_chars` characters when no tokenizer counted them (4 characters a token)."""
    return math.ceil(text_chars / 4)


def sum_records(records: Iterable[UsageRecord]) -> Usage:
    """The total of usage records (a run's, or a filtered part of it)."""
    return sum((Usage.of(record.call) for record in records), Usage())
