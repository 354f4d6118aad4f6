"""Builds a valid instance of any JSON schema, deterministically from a seed.

Used by the offline provider (in the spirit of pydantic-ai's `_JsonSchemaTestData`).
Strings are readable prose that names the field and says plainly that it is offline
output; numbers, lists and enums respect the schema's bounds; the same seed always
gives the same value.
"""

from __future__ import annotations

import math
import random
import re
import uuid
from collections.abc import Mapping
from typing import Any

_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "duration": "PT1H",
    "email": "offline@example.com",
    "idn-email": "offline@example.com",
    "uri": "https://example.com/offline",
    "url": "https://example.com/offline",
    "uri-reference": "https://example.com/offline",
    "iri": "https://example.com/offline",
    "hostname": "offline.example.com",
    "idn-hostname": "offline.example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "ipvanyaddress": "192.0.2.1",
    "ipvanyinterface": "192.0.2.1/32",
    "ipvanynetwork": "192.0.2.0/24",
}

_MAX_DEPTH = 8
"""Below this nesting depth, lists take their minimum length and optional fields are null,
so recursive models end."""

_CLOSINGS = (
    "Run the same request with a real provider (PHASEGRAPH_PROVIDER=openai) to get genuine content.",
    "It exists so that demos, tests and CI can exercise the whole pipeline without network access.",
    "Its wording is fixed by the request, so the same request always yields exactly this text.",
    "No language model was consulted; read it as a structural stand-in, not as advice.",
)


def humanize(name: str) -> str:
    """`api_design` -> `api design`."""
    return re.sub(r"[_\-\s]+", " ", name).strip() or "value"


class OfflineData:
    """One schema, one seed: `value()` returns data the schema accepts."""

    def __init__(self, schema: Mapping[str, Any], *, seed: int, context: str = "") -> None:
        self._root = schema
        self._rng = random.Random(seed)
        self._context = context

    def value(self) -> Any:
        """A value for the whole schema."""
        return self._build(self._root, label=str(self._root.get("title", "answer")), depth=0)

    # Dispatch

    def _build(self, schema: Mapping[str, Any], *, label: str, depth: int) -> Any:
        schema = self._resolve(schema)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self._rng.choice(list(schema["enum"]))
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self._build(self._pick_variant(schema[key], depth), label=label, depth=depth)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        builder = {
            "string": self._string,
            "integer": self._integer,
            "number": self._number,
            "boolean": self._boolean,
            "null": self._null,
            "array": self._array,
            "object": self._object,
        }.get(kind, self._string)
        return builder(schema, label=label, depth=depth)

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        """Follow `$ref` and flatten `allOf`, keeping the sibling keywords."""
        while "$ref" in schema or "allOf" in schema:
            merged = {k: v for k, v in schema.items() if k not in ("$ref", "allOf")}
            parts = [self._lookup(schema["$ref"])] if "$ref" in schema else []
            parts += [self._resolve(p) for p in schema.get("allOf", [])]
            base: dict[str, Any] = {}
            for part in parts:
                base.update(part)
            base.update(merged)
            schema = base
        return schema

    def _lookup(self, ref: str) -> Mapping[str, Any]:
        if not ref.startswith("#"):
            raise ValueError(f"only local $ref is supported, got {ref!r}")
        node: Any = self._root
        for part in ref.lstrip("#").strip("/").split("/"):
            if part:
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return dict(node)

    def _pick_variant(self, variants: list[Mapping[str, Any]], depth: int) -> Mapping[str, Any]:
        """Prefer a real value over null, so optional fields carry content (until too deep)."""
        real = [v for v in variants if self._resolve(v).get("type") != "null"]
        if depth >= _MAX_DEPTH and len(real) < len(variants):
            return next(v for v in variants if v not in real)
        return real[0] if real else variants[0]

    # Scalars

    def _string(self, schema: Mapping[str, Any], *, label: str, depth: int) -> str:
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        fmt = schema.get("format")
        if fmt == "uuid" or fmt == "uuid4":
            return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        if isinstance(fmt, str) and fmt in _FORMATS:
            return _FORMATS[fmt]
        text = self._prose(schema, label)
        pattern = schema.get("pattern")
        if pattern:
            return self._matching(pattern, text, low, high, label)
        return _fit(text, low, high)

    def _prose(self, schema: Mapping[str, Any], label: str) -> str:
        title = label
        description = str(schema.get("description") or "").strip().rstrip(".")
        sentences = [f"Offline output for “{title}”."]
        if description:
            sentences.append(f"Described as: {description}.")
        where = f" for {self._context}" if self._context else ""
        sentences.append(
            f"This text was written{where} by phasegraph's offline provider, which produces schema-valid "
            f"answers without calling a language model, so it says nothing specific about {title}."
        )
        sentences.append(self._rng.choice(_CLOSINGS))
        return " ".join(sentences)

    def _matching(self, pattern: str, text: str, low: int, high: Any, label: str) -> str:
        compiled = re.compile(pattern)
        longest = int(high) if high is not None else None
        candidates = [_fit(text, low, high), "offline", "offline-output", "offline_1", "1", "a", ""]
        for candidate in candidates:
            fits = low <= len(candidate) and (longest is None or len(candidate) <= longest)
            if fits and compiled.search(candidate):
                return candidate
        raise ValueError(f"cannot write offline text for {label!r} that matches the pattern {pattern!r}")

    def _integer(self, schema: Mapping[str, Any], *, label: str, depth: int) -> int:
        low, high = _int_bounds(schema)
        step = int(schema.get("multipleOf", 1)) or 1
        first = math.ceil(low / step) if low is not None else None
        last = math.floor(high / step) if high is not None else None
        if first is None and last is None:
            first, last = 1, 100
        elif first is None:
            assert last is not None
            first = last - 100
        elif last is None:
            last = first + 100
        assert first is not None and last is not None
        return self._rng.randint(first, max(first, last)) * step

    def _number(self, schema: Mapping[str, Any], *, label: str, depth: int) -> float:
        low = _num(schema.get("minimum"))
        high = _num(schema.get("maximum"))
        low_x = _num(schema.get("exclusiveMinimum"))
        high_x = _num(schema.get("exclusiveMaximum"))
        lo = max((v for v in (low, low_x) if v is not None), default=None)
        hi = min((v for v in (high, high_x) if v is not None), default=None)
        if lo is None and hi is None:
            lo, hi = 0.0, 100.0
        elif lo is None:
            assert hi is not None
            lo = hi - 100.0
        elif hi is None:
            hi = lo + 100.0
        assert lo is not None and hi is not None
        step = _num(schema.get("multipleOf"))
        if step:
            first = math.ceil(lo / step)
            if low_x is not None and first * step <= low_x:
                first += 1
            return float(first * step)
        if lo == hi:
            return lo
        # Strictly inside the interval, so exclusive bounds hold too.
        return lo + (hi - lo) * (0.25 + 0.5 * self._rng.random())

    def _boolean(self, schema: Mapping[str, Any], *, label: str, depth: int) -> bool:
        return self._rng.random() < 0.5

    def _null(self, schema: Mapping[str, Any], *, label: str, depth: int) -> None:
        return None

    # Containers

    def _array(self, schema: Mapping[str, Any], *, label: str, depth: int) -> list[Any]:
        prefix = list(schema.get("prefixItems", []))
        items = schema.get("items")
        item_schema = self._resolve(items) if isinstance(items, Mapping) else None
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        if item_schema is None or depth >= _MAX_DEPTH:
            count = len(prefix)
        elif _is_object(item_schema):
            count = len(prefix) + self._rng.randint(0, 2)
        else:
            count = len(prefix) + self._rng.randint(1, 3)
        count = max(count, low, len(prefix) if item_schema is None else 0)
        if high is not None:
            count = min(count, int(high))
        values: list[Any] = []
        unique = bool(schema.get("uniqueItems"))
        for index in range(count):
            sub = prefix[index] if index < len(prefix) else item_schema or {}
            item_label = f"{label}, item {index + 1}"
            value = self._build(sub, label=item_label, depth=depth + 1)
            if unique:
                value = self._distinct(sub, value, values, item_label, depth)
                if value is _NO_VALUE:
                    break
            values.append(value)
        return values

    def _distinct(
        self, schema: Mapping[str, Any], value: Any, taken: list[Any], label: str, depth: int
    ) -> Any:
        """`value`, or another one not in `taken`, or `_NO_VALUE` when the schema has no more."""
        resolved = self._resolve(schema)
        if value not in taken:
            return value
        if "enum" in resolved:
            free = [v for v in resolved["enum"] if v not in taken]
            return free[0] if free else _NO_VALUE
        for _ in range(20):
            variant = f"{label} (variant {self._rng.randint(2, 999)})"
            value = self._build(schema, label=variant, depth=depth + 1)
            if value not in taken:
                return value
        return _NO_VALUE

    def _object(self, schema: Mapping[str, Any], *, label: str, depth: int) -> dict[str, Any]:
        properties: Mapping[str, Any] = schema.get("properties", {})
        result = {}
        for name, sub in properties.items():
            result[name] = self._build(sub, label=_title(sub, name), depth=depth + 1)
        extra = schema.get("additionalProperties")
        if not properties and isinstance(extra, Mapping):
            names = schema.get("propertyNames", {})
            keys = list(self._resolve(names).get("enum", [])) if isinstance(names, Mapping) else []
            low = int(schema.get("minProperties", 1))
            count = max(low, 1 if keys else 2)
            if not keys:
                keys = [f"offline-key-{i + 1}" for i in range(count)]
            high = schema.get("maxProperties")
            if high is not None:
                count = min(count, int(high))
            for key in keys[:count]:
                result[str(key)] = self._build(extra, label=f"{label} {key}", depth=depth + 1)
        return result


_NO_VALUE: Any = object()


def _title(schema: Mapping[str, Any], name: str) -> str:
    """A title the author wrote, else the field name in words (pydantic's `Api Design` is neither)."""
    title = schema.get("title")
    if isinstance(title, str) and title and title != name.replace("_", " ").title():
        return title
    return humanize(name)


def _is_object(schema: Mapping[str, Any]) -> bool:
    return schema.get("type") == "object" or "properties" in schema


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int_bounds(schema: Mapping[str, Any]) -> tuple[int | None, int | None]:
    candidates_low = []
    candidates_high = []
    if (v := _num(schema.get("minimum"))) is not None:
        candidates_low.append(math.ceil(v))
    if (v := _num(schema.get("exclusiveMinimum"))) is not None:
        candidates_low.append(math.floor(v) + 1)
    if (v := _num(schema.get("maximum"))) is not None:
        candidates_high.append(math.floor(v))
    if (v := _num(schema.get("exclusiveMaximum"))) is not None:
        candidates_high.append(math.ceil(v) - 1)
    return (max(candidates_low, default=None), min(candidates_high, default=None))


def _fit(text: str, low: int, high: Any) -> str:
    """`text` lengthened or cut (at a word boundary where possible) to fit the bounds."""
    while len(text) < low:
        text = f"{text} {text}"
    if high is None or len(text) <= int(high):
        return text
    limit = int(high)
    cut = text[:limit]
    space = cut.rfind(" ")
    if space >= max(low, limit // 2):
        cut = cut[:space].rstrip(" ,;:")
    return cut if len(cut) >= low else text[:limit]
