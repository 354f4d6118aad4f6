"""What a model accepts, read from its name: for now, whether it takes `temperature`.

Reasoning models (o1, o3, o4-mini, gpt-5, ...) answer HTTP 400 to a request that sets
`temperature`. A gateway or proxy may prefix the name (`openai/o3`, `azure/gpt-5-mini`),
so the table is matched against the last path segment, lowercased, with a fine-tune's
`ft:` taken off. A name it does not know (an Azure deployment called `prod-chat`, a local
model) is unknown: `PHASEGRAPH_REASONING_MODEL` then says what the model is.
"""

from __future__ import annotations

import re

_TEMPERATURE: tuple[tuple[re.Pattern[str], bool], ...] = (
    (re.compile(r"^gpt-5(?:\.\d+)?-chat"), True),
    (re.compile(r"^(?:o\d|gpt-5|codex-mini)"), False),
    (re.compile(r"^(?:gpt-4|gpt-3\.5|chatgpt-4o)"), True),
)
"""(pattern, accepts temperature), first match wins: `gpt-5-chat-latest` is not a reasoning model."""


def base_name(model: str) -> str:
    """`openai/o3-2025-04-16` -> `o3-2025-04-16`; `ft:gpt-4o-mini:org::x` -> `gpt-4o-mini:org::x`."""
    name = model.strip().rsplit("/", 1)[-1].lower()
    return name.removeprefix("ft:")


def accepts_temperature(model: str) -> bool | None:
    """True or False when the table knows the model, None when it does not."""
    name = base_name(model)
    for pattern, accepts in _TEMPERATURE:
        if pattern.match(name):
            return accepts
    return None


def temperature_to_send(model: str, temperature: float | None, reasoning_model: bool | None) -> float | None:
    """The `temperature` a request carries, or None to leave it out.

    Unset stays unset. A set temperature is sent unless the model rejects it: as declared by
    `reasoning_model` when given, else as the table says (an unknown name gets it).
    """
    if temperature is None:
        return None
    if reasoning_model is not None:
        return None if reasoning_model else temperature
    return None if accepts_temperature(model) is False else temperature
