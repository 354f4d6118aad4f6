"""The fake OpenAI server: the real SDK parses its answers, faults are seeded, usage matches the log."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import jsonschema  # type: ignore[import-untyped]
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.lib._parsing._completions import type_to_response_format_param
from openai.lib._pydantic import to_strict_json_schema
from pydantic import BaseModel, Field, ValidationError, create_model

from benchmarks._tokens import ApproxCounter, load_counter
from benchmarks.fake_openai import REFUSAL, FakeOpenAI, FakeOpenAIProcess, FaultConfig, SchemaFaker

SEED_CARD = Path(__file__).parent / "fixtures" / "seed_backend_python.md"
MESSAGES: list[Any] = [
    {"role": "system", "content": "You design services."},
    {"role": "user", "content": "Go."},
]


class Handoff(BaseModel):
    to: Literal["database-specialist", "security-expert", "qa-automation"]
    brief: str


class Design(BaseModel):
    architecture: str
    risks: list[str]
    handoffs: list[Handoff]
    notes: str | None


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def client(server: FakeOpenAI) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=5) as c:
        yield c


async def test_parse_helper_returns_the_pydantic_model(client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.parse(model="m", messages=MESSAGES, response_format=Design)
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Design)
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.refusal is None


async def test_create_answers_json_valid_against_the_strict_schema(client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="m", messages=MESSAGES, response_format=type_to_response_format_param(Design)
    )
    content = completion.choices[0].message.content
    assert content is not None
    jsonschema.validate(json.loads(content), to_strict_json_schema(Design))


async def test_plain_request_gets_plain_text(client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(model="m", messages=MESSAGES)
    content = completion.choices[0].message.content or ""
    assert content.startswith("Fake answer for the request:")
    assert len(content.split()) > 50


async def test_usage_is_what_the_log_recorded(server: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(model="m", messages=MESSAGES)
    (entry,) = server.requests
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (
        entry.prompt_tokens,
        entry.completion_tokens,
    )
    assert completion.usage.total_tokens == entry.prompt_tokens + entry.completion_tokens


async def test_prompt_tokens_follow_openai_message_accounting(
    server: FakeOpenAI, client: openai.AsyncOpenAI
) -> None:
    counter = load_counter(server.config.encoding)
    await client.chat.completions.create(model="m", messages=MESSAGES)
    expected = 3 + sum(3 + counter.count(m["role"]) + counter.count(m["content"]) for m in MESSAGES)
    assert server.requests[0].prompt_tokens == expected


async def test_completion_tokens_count_the_answer(server: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(model="m", messages=MESSAGES)
    counter = load_counter(server.config.encoding)
    assert server.requests[0].completion_tokens == counter.count(completion.choices[0].message.content or "")


async def test_schema_counts_toward_prompt_tokens_unless_disabled(server: FakeOpenAI) -> None:
    fmt = type_to_response_format_param(Design)
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="t", max_retries=0) as c:
        await c.chat.completions.create(model="m", messages=MESSAGES, response_format=fmt)
        with_schema = server.requests[0].prompt_tokens
        server.reset(FaultConfig(count_schema_tokens=False))
        await c.chat.completions.create(model="m", messages=MESSAGES, response_format=fmt)
        await c.chat.completions.create(model="m", messages=MESSAGES)
    without_schema, plain = (r.prompt_tokens for r in server.requests)
    assert without_schema == plain < with_schema


async def test_models_endpoint_lists_the_configured_model(client: openai.AsyncOpenAI) -> None:
    models = await client.models.list()
    assert [m.id for m in models.data] == ["fake-model"]


async def test_phasegraph_headers_tag_the_request_log(server: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    headers = {
        "X-Phasegraph-Agent": "backend-python",
        "X-Phasegraph-Phase": "design",
        "X-Phasegraph-Run": "r1",
    }
    await client.chat.completions.create(model="gpt-x", messages=MESSAGES, extra_headers=headers)
    entry = server.requests[0]
    assert (entry.agent, entry.phase, entry.run, entry.model) == ("backend-python", "design", "r1", "gpt-x")
    assert entry.status == 200
    assert entry.t_end is not None and entry.t_end >= entry.t_start


async def test_body_metadata_tags_the_request_log(server: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    await client.chat.completions.create(
        model="m", messages=MESSAGES, metadata={"agent": "qa-automation", "phase": "verify", "run": "r2"}
    )
    entry = server.requests[0]
    assert (entry.agent, entry.phase, entry.run) == ("qa-automation", "verify", "r2")


async def test_injected_429_carries_retry_after_headers() -> None:
    with FakeOpenAI(FaultConfig(rate_429=1.0, retry_after_s=1.5)) as fake:
        async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="t", max_retries=0) as c:
            with pytest.raises(openai.RateLimitError) as info:
                await c.chat.completions.create(model="m", messages=MESSAGES)
        assert fake.requests[0].fault == "rate_limit"
    headers = info.value.response.headers
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("2", "1500")
    assert info.value.code == "rate_limit_exceeded"


async def test_injected_500_is_an_internal_server_error() -> None:
    with FakeOpenAI(FaultConfig(rate_500=1.0)) as fake:
        async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="t", max_retries=0) as c:
            with pytest.raises(openai.InternalServerError):
                await c.chat.completions.create(model="m", messages=MESSAGES)
        assert (fake.requests[0].status, fake.requests[0].fault) == (500, "server_error")


async def test_malformed_answer_is_not_json_and_fails_the_parse_helper() -> None:
    with FakeOpenAI(FaultConfig(rate_malformed=1.0)) as fake:
        async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="t", max_retries=0) as c:
            fmt = type_to_response_format_param(Design)
            completion = await c.chat.completions.create(model="m", messages=MESSAGES, response_format=fmt)
            with pytest.raises(ValidationError):
                await c.chat.completions.parse(model="m", messages=MESSAGES, response_format=Design)
    assert completion.choices[0].finish_reason == "stop"
    with pytest.raises(json.JSONDecodeError):
        json.loads(completion.choices[0].message.content or "")


async def test_length_fault_truncates_with_finish_reason_length() -> None:
    with FakeOpenAI(FaultConfig(rate_length=1.0)) as fake:
        async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="t", max_retries=0) as c:
            completion = await c.chat.completions.create(model="m", messages=MESSAGES)
            with pytest.raises(openai.LengthFinishReasonError):
                await c.chat.completions.parse(model="m", messages=MESSAGES, response_format=Design)
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens < 100


async def test_refusal_fault_sets_the_refusal_with_null_content_and_usage() -> None:
    with FakeOpenAI(FaultConfig(rate_refusal=1.0)) as fake:
        async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="t", max_retries=0) as c:
            fmt = type_to_response_format_param(Design)
            completion = await c.chat.completions.create(model="m", messages=MESSAGES, response_format=fmt)
        entry = fake.requests[0]
    message = completion.choices[0].message
    assert (message.content, message.refusal) == (None, REFUSAL)
    assert (completion.choices[0].finish_reason, entry.fault, entry.status) == ("stop", "refusal", 200)
    assert completion.usage is not None and completion.usage.completion_tokens > 0


async def test_mismatch_fault_is_valid_json_that_does_not_fit_the_schema() -> None:
    fmt = type_to_response_format_param(Design)
    schema = to_strict_json_schema(Design)
    with FakeOpenAI(FaultConfig(rate_mismatch=1.0)) as fake:
        async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="t", max_retries=0) as c:
            completion = await c.chat.completions.create(model="m", messages=MESSAGES, response_format=fmt)
            with pytest.raises(ValidationError):
                await c.chat.completions.parse(model="m", messages=MESSAGES, response_format=Design)
        assert {r.fault for r in fake.requests} == {"mismatch"}
    value = json.loads(completion.choices[0].message.content or "")
    assert not jsonschema.Draft202012Validator(schema).is_valid(value)


@pytest.mark.parametrize(
    ("config", "fault", "billed", "hung"),
    [
        (FaultConfig(), "none", True, False),
        (FaultConfig(rate_malformed=1.0), "malformed", True, False),
        (FaultConfig(rate_mismatch=1.0), "mismatch", True, False),
        (FaultConfig(rate_length=1.0), "length", True, False),
        (FaultConfig(rate_refusal=1.0), "refusal", True, False),
        (FaultConfig(rate_429=1.0), "rate_limit", False, False),
        (FaultConfig(rpm_limit=1), "rpm_limit", False, False),
        (FaultConfig(rate_500=1.0), "server_error", False, False),
        (FaultConfig(rate_hang=1.0, hang_s=30), "hang", False, True),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
async def test_the_log_keeps_what_each_request_billed(
    config: FaultConfig, fault: str, billed: bool, hung: bool
) -> None:
    """`billed` and the tokens are exactly the `usage` the client read; a hang bills nothing but is kept."""
    fmt = type_to_response_format_param(Design)
    with FakeOpenAI(config) as fake:
        async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="t", max_retries=0, timeout=0.5) as c:
            if fault == "rpm_limit":
                await c.chat.completions.create(model="m", messages=MESSAGES, response_format=fmt)
            try:
                completion = await c.chat.completions.create(
                    model="m", messages=MESSAGES, response_format=fmt
                )
                usage = completion.usage
            except openai.APIError:
                usage = None
        entry = fake.requests[-1]
    assert (entry.fault, entry.billed, entry.hung) == (fault, billed, hung)
    read = (usage.prompt_tokens, usage.completion_tokens) if usage is not None else (0, 0)
    assert (entry.prompt_tokens, entry.completion_tokens) == read
    assert (read[0] > 0) == billed


async def test_the_control_endpoint_reports_what_each_request_billed(server: FakeOpenAI) -> None:
    """What FakeOpenAIProcess reads back: the log over HTTP, with the billing fields."""
    async with httpx.AsyncClient(base_url=server.base_url.removesuffix("/v1"), timeout=5) as c:
        await c.post("/v1/chat/completions", json={"model": "m", "messages": MESSAGES})
        logged = (await c.get("/_fake/requests")).json()
    assert [(e["billed"], e["hung"]) for e in logged] == [(True, False)]
    assert logged[0]["prompt_tokens"] == server.requests[0].prompt_tokens > 0


async def test_hung_request_hits_the_client_timeout() -> None:
    with FakeOpenAI(FaultConfig(rate_hang=1.0, hang_s=5)) as fake:
        async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="t", max_retries=0, timeout=0.3) as c:
            with pytest.raises(openai.APITimeoutError):
                await c.chat.completions.create(model="m", messages=MESSAGES)
        assert (fake.requests[0].fault, fake.requests[0].status) == ("hang", None)


async def test_hung_connection_does_not_delay_other_requests() -> None:
    config = FaultConfig(seed=0, rate_hang=0.5, hang_s=5)
    with FakeOpenAI(config) as fake:
        async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="t", max_retries=0, timeout=1.0) as c:
            results = await asyncio.gather(
                *(c.chat.completions.create(model="m", messages=MESSAGES) for _ in range(8)),
                return_exceptions=True,
            )
        faults = [r.fault for r in fake.requests]
    assert "hang" in faults and "none" in faults
    # Every request that was not hung got its answer within the client's 1 s timeout.
    assert sum(not isinstance(r, BaseException) for r in results) == faults.count("none")


async def test_stop_releases_hung_connections_promptly() -> None:
    fake = FakeOpenAI(FaultConfig(rate_hang=1.0, hang_s=30)).start()
    async with httpx.AsyncClient(base_url=fake.base_url, timeout=5) as c:
        pending = asyncio.create_task(c.post("/chat/completions", json={"model": "m", "messages": MESSAGES}))
        while not fake.requests:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(fake.stop)
        with pytest.raises(httpx.HTTPError) as info:
            await pending
    # Released by stop() (the connection closed), not left to run into the client's own timeout.
    assert not isinstance(info.value, httpx.TimeoutException)


def _fault_sequence(fake: FakeOpenAI, n: int) -> list[str]:
    with httpx.Client(base_url=fake.base_url, timeout=5) as c:
        for _ in range(n):
            c.post("/chat/completions", json={"model": "m", "messages": MESSAGES})
    return [r.fault for r in fake.requests]


MIXED = FaultConfig(seed=7, rate_429=0.3, rate_500=0.1, rate_malformed=0.1, rate_length=0.1, retry_after_s=0)


def test_seeded_fault_sequence_repeats_after_reset() -> None:
    with FakeOpenAI(MIXED) as fake:
        first = _fault_sequence(fake, 30)
        fake.reset()
        assert _fault_sequence(fake, 30) == first
    assert {"rate_limit", "server_error", "malformed", "length", "none"} <= set(first)


def test_seeded_fault_sequence_is_the_same_on_a_new_server_and_differs_by_seed() -> None:
    with (
        FakeOpenAI(MIXED) as one,
        FakeOpenAI(MIXED) as two,
        FakeOpenAI(MIXED.model_copy(update={"seed": 8})) as other,
    ):
        assert _fault_sequence(one, 30) == _fault_sequence(two, 30) != _fault_sequence(other, 30)


async def test_rpm_limit_answers_429_with_the_wait_until_a_slot_frees() -> None:
    with FakeOpenAI(FaultConfig(rpm_limit=2)) as fake:
        async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="t", max_retries=0) as c:
            for _ in range(2):
                await c.chat.completions.create(model="m", messages=MESSAGES)
            with pytest.raises(openai.RateLimitError) as info:
                await c.chat.completions.create(model="m", messages=MESSAGES)
        assert [r.fault for r in fake.requests] == ["none", "none", "rpm_limit"]
    headers = info.value.response.headers
    assert 59_000 < int(headers["retry-after-ms"]) <= 60_000
    assert headers["retry-after"] == "60"
    assert headers["x-ratelimit-limit-requests"] == "2"


async def test_latency_delays_the_answer_and_is_logged() -> None:
    with FakeOpenAI(FaultConfig(latency_ms=150)) as fake:
        async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="t", max_retries=0) as c:
            started = time.monotonic()
            await c.chat.completions.create(model="m", messages=MESSAGES)
            assert time.monotonic() - started >= 0.15
        assert fake.requests[0].latency_s == pytest.approx(0.15)


def test_latency_jitter_stays_within_its_band() -> None:
    with FakeOpenAI(FaultConfig(latency_ms=20, latency_jitter_ms=20, seed=3)) as fake:
        _fault_sequence(fake, 10)
        latencies = [r.latency_s for r in fake.requests]
    assert all(0 <= x <= 0.04 for x in latencies)
    assert len(set(latencies)) > 1


async def test_concurrent_requests_are_served_in_parallel() -> None:
    """Every request hangs until the server is stopped, so all of them being open at once in the
    server's own log proves they are served side by side; a serial server never gets past one."""
    requests = 50
    with FakeOpenAI(FaultConfig(rate_hang=1.0, hang_s=600)) as fake:
        async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="t", max_retries=0, timeout=600) as c:
            calls = [
                asyncio.create_task(c.chat.completions.create(model="m", messages=MESSAGES))
                for _ in range(requests)
            ]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_all_open(fake, requests), timeout=120)
            open_at_once = sum(r.t_end is None for r in fake.requests)
            await asyncio.to_thread(fake.stop)
            await asyncio.gather(*calls, return_exceptions=True)
    assert open_at_once == requests


async def _all_open(fake: FakeOpenAI, count: int) -> None:
    """Return once `count` requests are in the server's hands and none has been answered."""
    while sum(r.t_end is None for r in fake.requests) < count:
        await asyncio.sleep(0.01)


async def test_array_items_cycle_through_enum_values(server: FakeOpenAI) -> None:
    server.reset(FaultConfig(array_items=3))
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="t", max_retries=0) as c:
        completion = await c.chat.completions.parse(model="m", messages=MESSAGES, response_format=Design)
    parsed = completion.choices[0].message.parsed
    assert parsed is not None
    assert [h.to for h in parsed.handoffs] == ["database-specialist", "security-expert", "qa-automation"]


async def test_unsatisfiable_schema_is_a_bad_request(client: openai.AsyncOpenAI) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 5, "maximum": 4}}}
    fmt: Any = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model="m", messages=MESSAGES, response_format=fmt)


@pytest.mark.parametrize(
    "rates", [{"rate_429": 0.6, "rate_500": 0.5}, {"rate_refusal": 0.6, "rate_mismatch": 0.5}]
)
def test_rates_adding_up_to_more_than_one_are_rejected(rates: dict[str, float]) -> None:
    with pytest.raises(ValidationError, match="must be <= 1"):
        FaultConfig(**rates)


def test_new_faults_leave_the_sequence_of_a_seed_unchanged() -> None:
    """Refusal and mismatch draw after the older faults, so their seeds keep giving the same runs."""
    with FakeOpenAI(MIXED) as fake:
        before = _fault_sequence(fake, 30)
        fake.reset(MIXED.model_copy(update={"rate_refusal": 0.1, "rate_mismatch": 0.1}))
        after = _fault_sequence(fake, 30)
    assert [a for a, b in zip(after, before, strict=True) if b != "none"] == [
        b for b in before if b != "none"
    ]
    assert {"refusal", "mismatch"} <= set(after)


# -- the schema generator ---------------------------------------------------------------------------

SCHEMAS: list[tuple[str, dict[str, Any]]] = [
    ("string bounds", {"type": "string", "minLength": 300, "maxLength": 310}),
    ("short string", {"type": "string", "maxLength": 3}),
    ("const", {"const": "fixed"}),
    ("enum", {"enum": [3, "x"]}),
    ("exclusive number", {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}),
    ("integer multipleOf", {"type": "integer", "minimum": 10, "maximum": 20, "multipleOf": 7}),
    ("type list", {"type": ["null", "integer"], "maximum": -5}),
    ("tuple", {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "boolean"}]}),
    ("min items", {"type": "array", "items": {"type": "string"}, "minItems": 3, "uniqueItems": True}),
    ("max items zero", {"type": "array", "items": {"type": "string"}, "maxItems": 0}),
    ("dict", {"type": "object", "additionalProperties": {"type": "integer"}, "minProperties": 2}),
    (
        "formats",
        {
            "type": "object",
            "properties": {
                f: {"type": "string", "format": f} for f in ("date-time", "date", "email", "uri", "uuid")
            },
        },
    ),
    ("pattern", {"type": "string", "pattern": "^[a-z]+$"}),
    (
        "allOf",
        {
            "allOf": [
                {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                {"properties": {"b": {"type": "boolean"}}, "required": ["b"]},
            ]
        },
    ),
    (
        "oneOf discriminated",
        {
            "oneOf": [
                {"type": "object", "properties": {"k": {"const": "a"}}, "required": ["k"]},
                {"type": "object", "properties": {"k": {"const": "b"}}, "required": ["k"]},
            ]
        },
    ),
    (
        "recursive $ref",
        {
            "$ref": "#/$defs/Node",
            "$defs": {
                "Node": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "children", "parent"],
                    "properties": {
                        "name": {"type": "string"},
                        "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                        "parent": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]},
                    },
                }
            },
        },
    ),
    ("empty", {}),
]


@pytest.mark.parametrize(("name", "schema"), SCHEMAS, ids=[name for name, _ in SCHEMAS])
def test_generated_value_validates(name: str, schema: dict[str, Any]) -> None:
    value = SchemaFaker(schema, array_items=2).generate()
    jsonschema.validate(value, schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def test_generated_strings_are_substantive_text() -> None:
    value = SchemaFaker(to_strict_json_schema(Design)).generate()
    texts = [value["architecture"], *value["risks"], value["notes"], *(h["brief"] for h in value["handoffs"])]
    assert all(t.startswith("Fake answer for ") and len(t.split()) >= 10 for t in texts)
    assert not any(word in t.upper() for t in texts for word in ("TBD", "TODO"))


_names = itertools.count()


def _model(fields: list[Any]) -> type[BaseModel]:
    definitions: Any = {f"f{i}": (kind, ...) for i, kind in enumerate(fields)}
    return create_model(f"Model{next(_names)}", **definitions)


_words = st.text(alphabet="abcdefghij", min_size=1, max_size=6)
_leaves = st.one_of(
    st.sampled_from([str, int, float, bool]),
    st.lists(_words, min_size=1, max_size=4, unique=True).map(lambda xs: Literal[tuple(xs)]),
    st.tuples(st.integers(0, 40), st.integers(0, 40)).map(
        lambda b: Annotated[str, Field(min_length=min(b), max_length=max(b))]
    ),
    st.tuples(st.integers(-50, 50), st.integers(-50, 50)).map(
        lambda b: Annotated[int, Field(ge=min(b), le=max(b))]
    ),
    st.tuples(st.floats(-1e3, 1e3), st.floats(1e-3, 1e3)).map(
        lambda b: Annotated[float, Field(gt=b[0], lt=b[0] + b[1])]
    ),
)
_field_types = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        inner.map(lambda t: list[t]),  # type: ignore[valid-type]
        inner.map(lambda t: t | None),
        st.lists(inner, min_size=1, max_size=4).map(_model),
    ),
    max_leaves=8,
)
_models = st.lists(_field_types, min_size=1, max_size=5).map(_model)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=_models, items=st.integers(0, 3), strict=st.booleans())
def test_generated_answers_validate_for_random_pydantic_models(
    model: type[BaseModel], items: int, strict: bool
) -> None:
    schema = to_strict_json_schema(model) if strict else model.model_json_schema()
    value = SchemaFaker(schema, array_items=items).generate()
    jsonschema.validate(value, schema)
    model.model_validate_json(json.dumps(value))


# -- token counting ---------------------------------------------------------------------------------

SEED_CARD_O200K_TOKENS = 5032
"""tiktoken 0.14 o200k_base count of tests/fixtures/seed_backend_python.md (see docs/fake-openai.md)."""


def test_estimate_is_within_five_percent_of_o200k_on_the_seed_card() -> None:
    estimate = ApproxCounter().count(SEED_CARD.read_text(encoding="utf-8"))
    assert abs(estimate - SEED_CARD_O200K_TOKENS) / SEED_CARD_O200K_TOKENS < 0.05


def test_unknown_encoding_falls_back_to_the_labelled_estimate() -> None:
    counter = load_counter("no-such-encoding")
    assert (counter.name, counter.exact) == ("approx:o200k-like", False)


def test_tiktoken_counts_the_seed_card_as_recorded() -> None:
    counter = load_counter("o200k_base")
    if not counter.exact:
        pytest.skip("tiktoken with an offline o200k_base file is not installed (benchmarks/requirements.txt)")
    assert counter.count(SEED_CARD.read_text(encoding="utf-8")) == SEED_CARD_O200K_TOKENS


# -- the child-process variant and the command line ---------------------------------------------------


@pytest.mark.slow
async def test_process_variant_serves_logs_and_resets() -> None:
    with FakeOpenAIProcess(FaultConfig(rpm_limit=1, latency_ms=10)) as fake:
        assert fake.base_url.startswith("http://127.0.0.1:")
        async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="t", max_retries=0) as c:
            await c.chat.completions.parse(model="m", messages=MESSAGES, response_format=Design)
            with pytest.raises(openai.RateLimitError):
                await c.chat.completions.create(model="m", messages=MESSAGES)
            assert [r.fault for r in fake.requests] == ["none", "rpm_limit"]
            fake.reset(FaultConfig(rate_500=1.0))
            with pytest.raises(openai.InternalServerError):
                await c.chat.completions.create(model="m", messages=MESSAGES)
        assert [(r.fault, r.status) for r in fake.requests] == [("server_error", 500)]
        assert fake.token_counter in ("approx:o200k-like", "tiktoken:o200k_base")
