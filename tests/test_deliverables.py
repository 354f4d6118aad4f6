"""Output models from deliverable names: any name a card may hold gives a field, and comes back."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.deliverables import field_names, output_spec
from orchestrator.providers._schema import response_format

AWKWARD = [
    "Model config",
    "model_config",
    "Handoffs",
    "handoffs",
    "Phase",
    "model_dump",
    "model_validate",
    "schema",
    "json",
    "copy",
    "dict",
    "class",
    "_private",
    "2nd pass",
    "API design",
    "api-design",
    "API  DESIGN!",
    "Архитектура",
    "设计文档",
    "🎯",
    "",
    "   ",
    "deliverable",
    "Deliverable 2",
]

names = st.lists(
    st.one_of(st.sampled_from(AWKWARD), st.text(max_size=80)),
    min_size=1,
    max_size=12,
    unique=True,
)


def _check(items: list[str], targets: tuple[str, ...]) -> None:
    spec = output_spec("agent-x", "design", items, handoff_targets=targets, shareable=items)
    strict = response_format(spec.model)["json_schema"]["schema"]
    fields = list(spec.fields.values())
    expected = fields + (["handoffs"] if targets else [])
    assert list(strict["properties"]) == expected
    assert strict["required"] == expected
    assert strict["additionalProperties"] is False
    assert len(set(fields)) == len(items)
    assert all(name.isidentifier() and not name.startswith("model_") for name in fields)
    texts = {item: f"Text number {i} for the deliverable, long enough." for i, item in enumerate(items)}
    answer: dict[str, object] = {spec.fields[item]: text for item, text in texts.items()}
    if targets:
        answer["handoffs"] = [{"to": targets[0], "brief": "Check it.", "deliverables_needed": items[:1]}]
    output = spec.model.model_validate_json(json.dumps(answer))
    assert spec.deliverables(output) == texts
    assert spec.handoffs(output) == (answer["handoffs"] if targets else [])


@given(items=names)
def test_any_deliverable_names_give_a_strict_schema_and_every_name_round_trips(items: list[str]) -> None:
    _check(items, ())


@given(items=names)
def test_deliverable_names_never_clash_with_the_handoffs_field(items: list[str]) -> None:
    _check(items, ("security-expert",))


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ("Model config", "deliverable_model_config"),
        ("Handoffs", "deliverable_handoffs"),
        ("model_dump", "deliverable_model_dump"),
        ("schema", "deliverable_schema"),
        ("Phase", "deliverable_phase"),
        ("2nd pass", "deliverable_2nd_pass"),
        ("API design", "api_design"),
        ("Архитектура", "deliverable"),
    ],
)
def test_a_name_that_collides_with_model_internals_gets_a_prefixed_field(item: str, field: str) -> None:
    assert field_names([item]) == {item: field}


def test_names_differing_only_in_punctuation_or_case_get_distinct_fields() -> None:
    assert field_names(["API design", "api-design", "API  DESIGN!"]) == {
        "API design": "api_design",
        "api-design": "api_design_2",
        "API  DESIGN!": "api_design_3",
    }


def test_the_original_name_reaches_the_model_in_the_schema() -> None:
    spec = output_spec("agent-x", "design", ["Model config"])
    strict = response_format(spec.model)["json_schema"]["schema"]
    assert "Model config" in strict["properties"]["deliverable_model_config"]["description"]
