"""The offline provider: deterministic, schema-valid answers without any model.

It is a product, not a test hack: `make demo`, the notebook and most of phasegraph's
own tests run on it, and users can run their own cards through it in their tests.
Every answer validates against the request's output model; the same request gives
the same answer, byte for byte; strings say plainly that they are offline output.
A writing phase's `changes` is always empty: offline output never invents code.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import to_jsonable_python

from orchestrator.errors import SchemaViolation
from orchestrator.providers._offline_data import OfflineData
from orchestrator.providers.base import ModelRequest, ModelResponse, Provider, T
from orchestrator.usage import CallUsage, estimate_tokens

CustomOutput = Mapping[str, Any] | Callable[[ModelRequest[Any]], Mapping[str, Any] | None]


class OfflineProvider(Provider):
    """Answers any request with generated data that fits its output model.

    Args:
        seed: mixed into the per-request seed; change it to get a different (still
            deterministic) set of answers.
        custom_output: field values to force, either a mapping applied to every
            request or a function of the request returning a mapping (or None to
            leave that request alone). Forced values are validated like the rest,
            e.g. `lambda r: {"handoffs": []} if r.agent == "architect" else None`.
    """

    __test__ = False
    name = "offline"
    billed = False

    def __init__(self, *, seed: int = 0, custom_output: CustomOutput | None = None) -> None:
        self.model = "offline"
        self.seed = seed
        self.custom_output = custom_output

    async def complete(self, request: ModelRequest[T]) -> ModelResponse[T]:
        """Generate, validate and return the answer; token counts are estimated, cost is 0."""
        started = time.perf_counter()
        model = request.output_model
        seed = int(request.fingerprint()[:16], 16) ^ self.seed
        named = (_named("agent", request.agent), _named("phase", request.phase))
        context = " in ".join(part for part in named if part)
        data = OfflineData(model.model_json_schema(), seed=seed, context=context).value()
        if "changes" in model.model_fields:
            data["changes"] = []  # offline output describes; it never invents code
        data.update(self._forced(request))
        try:
            output = model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            field = ".".join(str(p) for p in first["loc"]) or "(root)"
            raise SchemaViolation(
                f"offline provider could not satisfy {model.__name__}.{field}: {first['msg']}; "
                "force a value for it with OfflineProvider(custom_output=...)"
            ) from None
        raw = json.dumps(to_jsonable_python(data), ensure_ascii=False)
        usage = CallUsage(
            model=self.model,
            prompt_tokens=estimate_tokens(request.prompt_chars()),
            completion_tokens=estimate_tokens(len(raw)),
            latency_s=time.perf_counter() - started,
            attempts=1,
            cost_usd=0.0,
            estimated=True,
        )
        return ModelResponse(output=output, usage=usage, raw=raw)

    def _forced(self, request: ModelRequest[Any]) -> Mapping[str, Any]:
        if self.custom_output is None:
            return {}
        if callable(self.custom_output):
            return self.custom_output(request) or {}
        return self.custom_output


def _named(kind: str, value: str) -> str:
    return f"{kind} {value}" if value else ""
