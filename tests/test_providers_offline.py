"""The offline provider: always schema-valid, deterministic, and plainly labelled offline.

The property tests build arbitrary pydantic models (nested models, enums, literals,
lists, optional fields, bounded numbers and strings) with `create_model` and check
that the offline answer validates, and that the strict OpenAI schema of the same
model is strict.
"""

from __future__ import annotations

import datetime
import itertools
import re
import uuid
from enum import Enum, StrEnum
from typing import Annotated, Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, create_model

from orchestrator.errors import SchemaViolation
from orchestrator.providers import Message, ModelRequest, OfflineProvider
from orchestrator.providers._schema import strict_json_schema

_names = itertools.count()
_WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)


def _unique(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


@st.composite
def string_types(draw: st.DrawFn) -> Any:
    low = draw(st.integers(0, 40))
    high = draw(st.none() | st.integers(low, low + 400))
    described = draw(st.none() | _WORDS.map(lambda w: f"The {w} of the design"))
    return Annotated[str, Field(min_length=low, max_length=high, description=described)]


@st.composite
def int_types(draw: st.DrawFn) -> Any:
    low = draw(st.none() | st.integers(-1000, 1000))
    span = draw(st.integers(2, 500))
    high = draw(st.none() | st.just(None if low is None else low + span))
    strict = draw(st.booleans())
    step = draw(st.none() | st.integers(1, 7)) if low is None or span >= 7 else None
    if strict:
        return Annotated[int, Field(gt=low, lt=high, multiple_of=step)]
    return Annotated[int, Field(ge=low, le=high, multiple_of=step)]


@st.composite
def float_types(draw: st.DrawFn) -> Any:
    low = draw(st.none() | st.floats(-1e6, 1e6))
    high = draw(st.none() | st.just(None if low is None else low + 1.0))
    if draw(st.booleans()):
        return Annotated[float, Field(gt=low, lt=high)]
    return Annotated[float, Field(ge=low, le=high)]


@st.composite
def enum_types(draw: st.DrawFn) -> Any:
    values = draw(st.lists(_WORDS, min_size=1, max_size=5, unique=True))
    if draw(st.booleans()):
        return Enum(_unique("Choice"), {f"m{i}_{v}": v for i, v in enumerate(values)})
    return Literal[tuple(values)]


LEAVES = st.one_of(
    string_types(),
    int_types(),
    float_types(),
    enum_types(),
    st.sampled_from([bool, datetime.date, datetime.datetime, uuid.UUID]),
)


@st.composite
def list_types(draw: st.DrawFn, items: st.SearchStrategy[Any]) -> Any:
    item = draw(items)
    low = draw(st.integers(0, 2))
    high = draw(st.none() | st.integers(low, low + 3))
    return Annotated[list[item], Field(min_length=low, max_length=high)]  # type: ignore[valid-type]


@st.composite
def model_types(draw: st.DrawFn, fields: st.SearchStrategy[Any]) -> type[BaseModel]:
    annotations = draw(st.lists(fields, min_size=1, max_size=5))
    definitions: dict[str, Any] = {}
    for index, annotation in enumerate(annotations):
        optional = draw(st.booleans())
        name = f"field_{index}_{draw(_WORDS)}"
        definitions[name] = (annotation | None, None) if optional else (annotation, ...)
    model: type[BaseModel] = create_model(_unique("Generated"), **definitions)
    return model


def _children(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(list_types(inner), model_types(inner))


MODELS = model_types(st.recursive(LEAVES, _children, max_leaves=8))


def ask(
    model: type[BaseModel], content: str = "Design JWT auth.", agent: str = "architect"
) -> ModelRequest[Any]:
    return ModelRequest(
        messages=[Message(role="system", content="You design."), Message(role="user", content=content)],
        output_model=model,
        agent=agent,
        phase="design",
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=MODELS)
async def test_offline_output_always_validates_against_generated_models(model: type[BaseModel]) -> None:
    response = await OfflineProvider().complete(ask(model))
    assert isinstance(response.output, model)
    assert model.model_validate_json(response.raw) == response.output


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=MODELS)
def test_strict_schema_of_generated_models_is_strict(model: type[BaseModel]) -> None:
    assert_strict(strict_json_schema(model))


def assert_strict(node: Any) -> None:
    """What OpenAI strict mode demands, checked recursively."""
    if isinstance(node, list):
        for item in node:
            assert_strict(item)
        return
    if not isinstance(node, dict):
        return
    assert not {"default", "minLength", "maxLength", "title", "const", "oneOf", "allOf"} & set(node), node
    if node.get("type") == "object":
        assert node["additionalProperties"] is False
        assert sorted(node["required"]) == sorted(node["properties"])
    if "$ref" in node:
        assert len(node) == 1
    for key in ("properties", "$defs"):
        for sub in node.get(key, {}).values():
            assert_strict(sub)
    for key in ("items", "anyOf"):
        if key in node:
            assert_strict(node[key])


class Severity(StrEnum):
    low = "low"
    high = "high"


class Handoff(BaseModel):
    to: Literal["database-specialist", "security-expert"]
    severity: Severity
    brief: str = Field(min_length=1)


class DesignDeliverables(BaseModel):
    api_design: str = Field(min_length=1, description="The HTTP API and its error model")
    data_model: str = Field(min_length=1)
    short_title: str = Field(max_length=24)
    handoffs: list[Handoff]


async def test_same_request_gives_the_same_answer_byte_for_byte() -> None:
    first = await OfflineProvider().complete(ask(DesignDeliverables))
    second = await OfflineProvider().complete(ask(DesignDeliverables))
    assert first.raw == second.raw


async def test_seed_changes_the_answer_deterministically() -> None:
    a = await OfflineProvider(seed=1).complete(ask(DesignDeliverables))
    b = await OfflineProvider(seed=2).complete(ask(DesignDeliverables))
    again = await OfflineProvider(seed=2).complete(ask(DesignDeliverables))
    assert a.raw != b.raw
    assert b.raw == again.raw


async def test_strings_are_substantive_and_say_they_are_offline() -> None:
    output = (await OfflineProvider().complete(ask(DesignDeliverables))).output
    for text in (output.api_design, output.data_model):
        assert text.startswith("Offline output")
        assert len(re.findall(r"[.!?](\s|$)", text)) >= 3
        assert not re.search(r"\b(TBD|TODO|FIXME|placeholder|lorem)\b", text, re.IGNORECASE)
    assert "HTTP API and its error model" in output.api_design
    assert "agent architect in phase design" in output.api_design


async def test_length_limits_are_respected() -> None:
    output = (await OfflineProvider().complete(ask(DesignDeliverables))).output
    assert 0 < len(output.short_title) <= 24
    assert output.short_title.startswith("Offline")


async def test_lists_of_objects_hold_zero_to_two_items_varying_with_the_request() -> None:
    counts = set()
    for n in range(20):
        output = (await OfflineProvider().complete(ask(DesignDeliverables, content=f"task {n}"))).output
        counts.add(len(output.handoffs))
    assert counts == {0, 1, 2}


async def test_custom_output_forces_fields_for_chosen_requests() -> None:
    forced = {"handoffs": [{"to": "security-expert", "severity": "high", "brief": "Review the token flow."}]}
    provider = OfflineProvider(custom_output=lambda r: forced if r.agent == "architect" else None)
    chosen = (await provider.complete(ask(DesignDeliverables, agent="architect"))).output
    assert [h.to for h in chosen.handoffs] == ["security-expert"]


async def test_custom_output_that_does_not_validate_is_a_schema_violation() -> None:
    provider = OfflineProvider(custom_output={"short_title": "x" * 100})
    with pytest.raises(SchemaViolation, match="short_title"):
        await provider.complete(ask(DesignDeliverables))


async def test_usage_is_estimated_and_free() -> None:
    request = ask(DesignDeliverables)
    response = await OfflineProvider().complete(request)
    chars = sum(len(m.content) for m in request.messages)
    assert response.usage.prompt_tokens == -(-chars // 4)
    assert response.usage.completion_tokens == -(-len(response.raw) // 4)
    assert response.usage.cost_usd == 0.0
    assert response.usage.estimated


def test_offline_provider_is_not_collected_as_a_test() -> None:
    assert OfflineProvider.__test__ is False
