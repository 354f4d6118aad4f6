"""Strict JSON schemas for OpenAI structured outputs, from pydantic models.

The openai SDK's own `to_strict_json_schema` does the structural part (every object
closed with `additionalProperties: false`, every property required, `$ref`s with
siblings inlined). Strict mode accepts only a subset of JSON Schema, so this module
then removes what it would reject (`default`, `minLength`, `maxLength`, ...) and
keeps its meaning in the description, where the model can read it; pydantic still
enforces every constraint when the answer is validated. A field strict mode cannot
express at all (a free-form dict, a tuple) is a `TypeError` naming it: that is a bug
in the output model, found before any request is sent.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

from openai.lib._pydantic import to_strict_json_schema
from pydantic import BaseModel

from orchestrator.runtime import current_runtime

_KEPT = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "items", "anyOf", "enum",
        "$ref", "$defs", "description", "pattern", "format", "minimum", "maximum",
        "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
    }
)  # fmt: skip
"""Keywords OpenAI strict mode accepts (others are rewritten or dropped)."""

_DESCRIBED: dict[str, Callable[[Any], str]] = {
    "minLength": lambda n: "non-empty" if n == 1 else f"at least {n} characters",
    "maxLength": lambda n: f"at most {n} characters",
    "uniqueItems": lambda _: "items must be distinct",
}

_DROPPED = frozenset({"default", "title", "examples", "discriminator", "readOnly", "writeOnly", "deprecated"})

_UNSUPPORTED = ("prefixItems", "patternProperties", "propertyNames", "not", "if", "then", "else")


def response_format(model: type[BaseModel]) -> dict[str, Any]:
    """The `response_format` argument of a chat completion asking for `model`."""
    return {
        "type": "json_schema",
        "json_schema": {"name": _schema_name(model), "schema": strict_json_schema(model), "strict": True},
    }


def strict_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A strict-mode JSON schema for `model` (a fresh copy the caller may change)."""
    return copy.deepcopy(current_runtime().memo(_strict, maxsize=512)(model))


def _strict(model: type[BaseModel]) -> dict[str, Any]:
    schema: dict[str, Any] = _clean(to_strict_json_schema(model), path=model.__name__)
    _drop_unused_defs(schema)
    return schema


def _clean(node: Any, *, path: str, field: str | None = None) -> Any:
    """`node` with only the keywords strict mode accepts; `field` is the property name, if any."""
    if isinstance(node, list):
        return [_clean(item, path=path) for item in node]
    if not isinstance(node, dict):
        return node
    for keyword in _UNSUPPORTED:
        if keyword in node:
            raise TypeError(f"output model field {path} uses {keyword!r}, which strict mode cannot express")
    extra = node.get("additionalProperties")
    if extra not in (None, False):
        raise TypeError(
            f"output model field {path} is a free-form mapping; strict structured outputs need named fields"
        )
    notes = [describe(node[key]) for key, describe in _DESCRIBED.items() if node.get(key)]
    cleaned: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            cleaned[key] = {
                name: _clean(sub, path=f"{path}.{name}", field=name) for name, sub in value.items()
            }
        elif key == "$defs":
            cleaned[key] = {name: _clean(sub, path=name) for name, sub in value.items()}
        elif key == "oneOf":
            cleaned["anyOf"] = _clean(value, path=path)
        elif key == "const":
            cleaned["enum"] = [value]
        elif key in _KEPT:
            cleaned[key] = _clean(value, path=path) if key in ("items", "anyOf") else value
    title = node.get("title")
    custom_title = field is not None and isinstance(title, str) and title != field.replace("_", " ").title()
    if notes or custom_title:
        described = str(cleaned.get("description", "")).strip().rstrip(".")
        if custom_title and str(title) not in described:
            described = f"{title}: {described}" if described else str(title)
        text = "; ".join([described, *notes] if described else notes)
        cleaned["description"] = text[:1].upper() + text[1:] + "."
    return cleaned


def _drop_unused_defs(schema: dict[str, Any]) -> None:
    """Remove `$defs` entries nothing refers to any more (inlining leaves some behind)."""
    defs = schema.get("$defs")
    if not isinstance(defs, dict):
        return
    used: set[str] = set()
    pending = [{k: v for k, v in schema.items() if k != "$defs"}]
    while pending:
        text = json.dumps(pending.pop())
        for name in re.findall(r'"#/\$defs/([^"]+)"', text):
            if name not in used and name in defs:
                used.add(name)
                pending.append(defs[name])
    for name in [n for n in defs if n not in used]:
        del defs[name]
    if not defs:
        del schema["$defs"]


def _schema_name(model: type[BaseModel]) -> str:
    """OpenAI requires `^[a-zA-Z0-9_-]{1,64}$`."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", model.__name__)[:64] or "Output"
