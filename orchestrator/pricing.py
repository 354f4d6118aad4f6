"""The price table: what a million tokens costs, per model, in one place.

The defaults are OpenAI's published list prices (USD per million tokens) when this
table was written; prices change, so `Settings.prices` (`PHASEGRAPH_PRICES` as JSON,
or `--price-in`/`--price-out` for the run's model) overrides or extends them entry by
entry. A dated snapshot such as `gpt-4o-mini-2024-07-18` is priced as its base model
(`gpt-4o-mini`), and a routed name such as `openai/gpt-4o` by the part after the last
`/`. Nothing else is guessed: `o3-pro` is not `o3`, `o1-mini` is not `o1`, and a
model the table does not know has no price (a USD budget then refuses to start).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from orchestrator.settings import ModelPrice

_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$")
"""A dated snapshot suffix: `-2024-07-18`, `-20240718`, `-0613`."""


def _p(input: float, cached_input: float, output: float) -> ModelPrice:
    return ModelPrice(input=input, cached_input=cached_input, output=output)


DEFAULT_PRICES: Mapping[str, ModelPrice] = {
    "gpt-5.1": _p(1.25, 0.125, 10.00),
    "gpt-5": _p(1.25, 0.125, 10.00),
    "gpt-5-pro": _p(15.00, 15.00, 120.00),
    "gpt-5-mini": _p(0.25, 0.025, 2.00),
    "gpt-5-nano": _p(0.05, 0.005, 0.40),
    "gpt-4.1": _p(2.00, 0.50, 8.00),
    "gpt-4.1-mini": _p(0.40, 0.10, 1.60),
    "gpt-4.1-nano": _p(0.10, 0.025, 0.40),
    "gpt-4o": _p(2.50, 1.25, 10.00),
    "gpt-4o-mini": _p(0.15, 0.075, 0.60),
    "gpt-4-turbo": _p(10.00, 10.00, 30.00),
    "gpt-3.5-turbo": _p(0.50, 0.50, 1.50),
    "chatgpt-4o-latest": _p(5.00, 5.00, 15.00),
    "o1": _p(15.00, 7.50, 60.00),
    "o1-mini": _p(1.10, 0.55, 4.40),
    "o3": _p(2.00, 0.50, 8.00),
    "o3-pro": _p(20.00, 20.00, 80.00),
    "o3-mini": _p(1.10, 0.55, 4.40),
    "o4-mini": _p(1.10, 0.275, 4.40),
}
"""USD per million input, cached-input and output tokens for common OpenAI models."""


def price_table(overrides: Mapping[str, ModelPrice] | None = None) -> dict[str, ModelPrice]:
    """The defaults with `overrides` (usually `Settings.prices`) laid on top."""
    table = dict(DEFAULT_PRICES)
    table.update(overrides or {})
    return table


def price_for(model: str, prices: Mapping[str, ModelPrice] | None = None) -> ModelPrice | None:
    """The price of `model`: its exact name, else its name without a dated snapshot suffix.

    `prices` is the complete table to search (default: `DEFAULT_PRICES`). Returns None
    for a model the table does not know.
    """
    table = {key.lower(): price for key, price in (DEFAULT_PRICES if prices is None else prices).items()}
    name = model.strip().rsplit("/", 1)[-1].lower()
    if name in table:
        return table[name]
    return table.get(_SNAPSHOT.sub("", name))
