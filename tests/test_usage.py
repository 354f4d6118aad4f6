"""Usage: one way to add up, rollups per agent and phase, budgets, and the price table."""

from __future__ import annotations

import pytest

from orchestrator.errors import BudgetExceeded, ConfigError
from orchestrator.pricing import DEFAULT_PRICES, price_for
from orchestrator.settings import ModelPrice, load_settings
from orchestrator.usage import CallUsage, Usage, UsageLedger, UsageLimits, cost_of, require_price
from tests.conftest import LogCapture


def call(prompt: int, completion: int, cached: int = 0, cost: float = 0.0) -> CallUsage:
    return CallUsage(
        model="gpt-4o-mini",
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        latency_s=0.5,
        attempts=1,
        cost_usd=cost,
    )


def test_adding_a_call_returns_a_new_total_and_leaves_the_old_one() -> None:
    before = Usage()
    after = before.add(call(100, 20, cached=30, cost=0.01))
    assert before == Usage()
    assert (after.calls, after.prompt_tokens, after.completion_tokens, after.cached_tokens) == (
        1,
        100,
        20,
        30,
    )
    assert after.total_tokens == 120
    assert after.cost_usd == pytest.approx(0.01)


def test_usages_add_field_by_field() -> None:
    one = Usage().add(call(100, 20, cached=30, cost=0.01))
    two = Usage().add(call(50, 5, cached=50, cost=0.002)).add(call(1, 1))
    total = one + two
    assert (total.calls, total.prompt_tokens, total.completion_tokens, total.cached_tokens) == (
        3,
        151,
        26,
        80,
    )
    assert total.cost_usd == pytest.approx(0.012)


def test_total_tokens_is_serialised_for_reports() -> None:
    assert Usage().add(call(7, 3)).model_dump()["total_tokens"] == 10


def test_ledger_rolls_up_per_agent_and_per_phase_in_first_seen_order() -> None:
    ledger = UsageLedger()
    ledger.record("architect", "design", call(100, 10))
    ledger.record("backend", "build", call(200, 20, cached=150))
    ledger.record("architect", "build", call(300, 30))
    assert list(ledger.by_agent()) == ["architect", "backend"]
    assert ledger.by_agent()["architect"].prompt_tokens == 400
    assert ledger.by_phase()["build"].cached_tokens == 150
    assert ledger.by_phase()["build"].calls == 2
    assert ledger.total.total_tokens == 660


def test_empty_ledger_totals_zero() -> None:
    assert UsageLedger().total == Usage()


def test_ledger_round_trips_through_json() -> None:
    ledger = UsageLedger()
    ledger.record("architect", "design", call(100, 10, cached=5, cost=0.5))
    assert UsageLedger.model_validate_json(ledger.model_dump_json()) == ledger


@pytest.mark.parametrize(
    ("limits", "spent", "stops"),
    [
        (UsageLimits(max_tokens=1000), Usage().add(call(900, 99)), False),
        (UsageLimits(max_tokens=1000), Usage().add(call(900, 100)), True),
        (UsageLimits(max_usd=0.5), Usage().add(call(1, 1, cost=0.49)), False),
        (UsageLimits(max_usd=0.5), Usage().add(call(1, 1, cost=0.5)), True),
        (UsageLimits(), Usage().add(call(10**9, 10**9, cost=10**6)), False),
    ],
    ids=["tokens-under", "tokens-reached", "usd-under", "usd-reached", "no-limits"],
)
def test_limits_stop_once_a_budget_is_reached(limits: UsageLimits, spent: Usage, stops: bool) -> None:
    if stops:
        with pytest.raises(BudgetExceeded):
            limits.check(spent)
    else:
        limits.check(spent)


def test_budget_message_says_what_was_spent_and_the_limit() -> None:
    with pytest.raises(BudgetExceeded) as info:
        UsageLimits(max_tokens=1000, max_usd=5).check(Usage().add(call(1200, 300, cost=0.25)))
    message = str(info.value)
    assert "spent 1,500 tokens / $0.2500" in message
    assert "limit of 1,000 tokens" in message
    assert "\n" not in message


def test_limits_come_from_settings() -> None:
    limits = UsageLimits.from_settings(load_settings(max_tokens=5000, max_usd=1.5))
    assert (limits.max_tokens, limits.max_usd) == (5000, 1.5)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("openai/gpt-4.1-nano", "gpt-4.1-nano"),
        ("GPT-5-mini", "gpt-5-mini"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("o3-pro", "o3-pro"),
        ("o3-pro-2025-06-10", "o3-pro"),
        ("gpt-5-pro", "gpt-5-pro"),
        ("o1-mini", "o1-mini"),
        ("gpt-5.1", "gpt-5.1"),
        ("chatgpt-4o-latest", "chatgpt-4o-latest"),
        ("gpt-4-turbo-2024-04-09", "gpt-4-turbo"),
    ],
)
def test_dated_and_routed_model_names_find_their_price(model: str, expected: str) -> None:
    assert price_for(model) == DEFAULT_PRICES[expected]


@pytest.mark.parametrize(
    "model",
    ["llama3.1:8b", "gpt-4oo", "o3-deep-research", "gpt-5-codex", "o1-preview", "gpt-4o-audio-preview"],
)
def test_a_model_is_never_priced_as_a_cheaper_relative(model: str) -> None:
    assert price_for(model) is None


@pytest.mark.parametrize(
    ("model", "limits", "prices", "refused"),
    [
        ("gpt-9", UsageLimits(max_usd=1.0), {}, True),
        ("gpt-9", UsageLimits(max_tokens=1000), {}, False),
        ("gpt-9", UsageLimits(), {}, False),
        ("gpt-9", UsageLimits(max_usd=1.0), {"gpt-9": ModelPrice(input=1, cached_input=1, output=2)}, False),
        ("gpt-4o-mini-2024-07-18", UsageLimits(max_usd=1.0), {}, False),
    ],
)
def test_a_usd_budget_is_refused_for_a_model_without_a_price(
    model: str, limits: UsageLimits, prices: dict[str, ModelPrice], refused: bool
) -> None:
    if refused:
        with pytest.raises(ConfigError, match=r"--max-usd 1: no price is known for model 'gpt-9'"):
            require_price(model, prices, limits)
    else:
        require_price(model, prices, limits)


def test_price_flags_price_the_configured_model() -> None:
    settings = load_settings(model="gpt-9", price_in=3.0, price_out=12.0)
    assert settings.prices["gpt-9"] == ModelPrice(input=3.0, cached_input=3.0, output=12.0)
    assert cost_of("gpt-9", 1_000_000, 0, 1_000_000, settings.prices) == pytest.approx(15.0)


def test_one_price_flag_alone_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"^settings: price_in and price_out go together"):
        load_settings(price_in=3.0)


def test_an_unknown_answering_model_is_priced_as_the_model_asked_for() -> None:
    assert cost_of("my-proxy-alias", 1_000_000, 0, 0, asked="gpt-4o-mini") == pytest.approx(0.15)


def test_unanswered_attempts_count_against_the_budget_but_are_not_calls() -> None:
    spent = Usage().add(
        CallUsage(
            model="gpt-4o-mini",
            prompt_tokens=0,
            completion_tokens=0,
            answered=False,
            unanswered_attempts=2,
            reserved_tokens=600,
            reserved_usd=0.5,
        )
    )
    assert (spent.calls, spent.unanswered_attempts, spent.total_tokens) == (0, 2, 0)
    with pytest.raises(BudgetExceeded, match="2 unanswered attempt"):
        UsageLimits(max_usd=0.5).check(spent)
    with pytest.raises(BudgetExceeded):
        UsageLimits(max_tokens=600).check(spent)
    UsageLimits(max_tokens=601, max_usd=0.51).check(spent)


def test_cost_prices_cached_input_at_the_cached_rate() -> None:
    # gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output per million tokens.
    assert cost_of("gpt-4o-mini", 1_000_000, 400_000, 100_000) == pytest.approx(0.09 + 0.03 + 0.06)


def test_price_overrides_from_settings_win_over_the_defaults() -> None:
    prices = {"gpt-4o-mini": ModelPrice(input=1.0, cached_input=0.5, output=2.0)}
    assert cost_of("gpt-4o-mini", 1_000_000, 0, 1_000_000, prices) == pytest.approx(3.0)


def test_price_overrides_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PHASEGRAPH_PRICES", '{"my-local-model": {"input": 1, "cached_input": 1, "output": 1}}'
    )
    assert cost_of("my-local-model", 500_000, 0, 500_000, load_settings().prices) == pytest.approx(1.0)


def test_unknown_model_costs_nothing_and_warns_once(logs: LogCapture) -> None:
    assert cost_of("mystery-model-for-warning-test", 1000, 0, 1000) == 0.0
    assert cost_of("mystery-model-for-warning-test", 1000, 0, 1000) == 0.0
    warnings = [e for e in logs.events if e["event"] == "usage.unpriced_model"]
    assert len(warnings) == 1
    assert warnings[0]["model"] == "mystery-model-for-warning-test"
