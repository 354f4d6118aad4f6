"""Answers that arrived but cannot be used, worded the same way by every provider.

A refusal, an answer cut at the token limit, text that is not JSON and JSON that
does not fit the output model are different problems with different fixes, so each
gets its own error and a message that says which field or limit is involved.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from orchestrator.errors import Refused, SchemaViolation, Truncated

T = TypeVar("T", bound=BaseModel)

_DETAIL_CHARS = 300


def clip(text: str) -> str:
    """`text` cut to a length that fits in a one-line message."""
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"


def refused(where: str, text: str) -> Refused:
    """The model declined to answer."""
    return Refused(f"{where}: the model refused to answer: {clip(text.strip()) or '(no reason given)'}")


def truncated(where: str, completion_tokens: int) -> Truncated:
    """The answer hit the output token limit, so its JSON is incomplete."""
    return Truncated(
        f"{where}: the answer stopped at the output token limit after {completion_tokens} tokens "
        "(finish_reason=length); ask for shorter deliverables or use a model with a larger output limit"
    )


def parse_output(raw: str | None, output_model: type[T], where: str) -> T:
    """`raw` validated as `output_model`, or a `SchemaViolation` that says what is wrong."""
    name = output_model.__name__
    if raw is None or not raw.strip():
        raise SchemaViolation(f"{where}: the answer was empty; expected JSON for {name}")
    try:
        data: Any = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SchemaViolation(
            f"{where}: the answer is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            f"it begins {clip(raw.strip())[:80]!r}"
        ) from None
    try:
        return output_model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        field = ".".join(str(part) for part in first["loc"]) or "(root)"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        problem = f"{field}: {first['msg']}{more}"
        raise SchemaViolation(f"{where}: the answer does not match {name}: {problem}") from None
