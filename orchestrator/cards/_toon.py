"""TOON blocks (```` ```toon ````): where a card's toon data is found, read and filed.

TOON (Token-Oriented Object Notation) is YAML-like indentation plus CSV-like
tables: `triggers[6]{type,pattern}:` followed by six rows. Cards are written by
hand, so `parse_toon` tolerates what people get wrong: a declared count that does
not match the rows, rows that are not indented, unquoted commas in the last
column. It reports each such slip instead of failing, and never recurses, so no
input can exhaust the stack.

`toon_blocks` finds a card's blocks (and the section each sits in, which names
an unkeyed table's role); `toon_lists` files their triggers, collaborators and
deliverables and keeps other keys as metadata. Identity keys (`agent: {id: ...}`)
are read with the other formats' statements of them in `_metadata`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from orchestrator.cards._body import Body, Section, role
from orchestrator.cards._collaborators import collaborators_from_data
from orchestrator.cards._deliverables import deliverables_from_toon
from orchestrator.cards._draft import IDENTITY_KEYS, Draft
from orchestrator.cards._markdown import unquote
from orchestrator.cards._triggers import triggers_from_toon

_HEADER = re.compile(
    r'(?P<key>"(?:[^"\\]|\\.)*"|[^:\[\]{}"\s][^:\[\]{}"]*|)'
    r"\[(?P<count>[^\]]*)\]"
    r"(?:\{(?P<fields>[^}]*)\})?:[ \t]*(?P<rest>.*)$"
)
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}

ToonProblem = tuple[int, str]
"""(1-based line, message)."""


@dataclass
class _Array:
    """A `key[N]...:` header whose rows or `- item` lines follow."""

    key: str
    line: int
    indent: int
    declared: int | None
    delimiter: str
    fields: list[str] | None
    items: list[Any] = field(default_factory=list)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text)


def scalar(token: str) -> Any:
    """A TOON primitive: quoted string, number, true/false/null, or a bare string."""
    token = token.strip()
    if len(token) >= 2 and token[0] == '"' and token[-1] == '"':
        return _unescape(token[1:-1])
    if token in ("true", "false"):
        return token == "true"
    if token == "null":
        return None
    if _NUMBER.match(token) and len(token) < 30:
        return float(token) if any(c in token for c in ".eE") else int(token)
    return token


def split_row(text: str, delimiter: str) -> list[str]:
    """Split on the delimiter outside double quotes (backslash escapes honoured)."""
    cells: list[str] = []
    current: list[str] = []
    quoted = False
    escaped = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\" and quoted:
            current.append(ch)
            escaped = True
        elif ch == '"':
            current.append(ch)
            quoted = not quoted
        elif ch == delimiter and not quoted:
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    cells.append("".join(current).strip())
    return cells


def _key(raw: str) -> str:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"':
        return _unescape(raw[1:-1])
    return raw


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t")) + line[: len(line) - len(line.lstrip(" \t"))].count("\t")


def _key_value(text: str) -> tuple[str, str] | None:
    """`key: value` or `key:` -> (key, value); None when the line has no key."""
    if text.startswith('"'):
        match = re.match(r'("(?:[^"\\]|\\.)*")[ \t]*:(?:[ \t]+(.*)|$)', text)
        return (_key(match.group(1)), (match.group(2) or "").strip()) if match else None
    colon = text.find(":")
    while colon != -1:
        if colon + 1 == len(text) or text[colon + 1] in " \t":
            key = text[:colon].strip()
            if not key or "," in key or '"' in key:
                return None
            return key, text[colon + 1 :].strip()
        colon = text.find(":", colon + 1)
    return None


def _parse_count(raw: str) -> tuple[int | None, str]:
    """`6` -> (6, ","); `6|` -> (6, "|"); `6\\t` -> (6, tab); `` -> (None, ",")."""
    delimiter = ","
    if raw.endswith("|"):
        delimiter, raw = "|", raw[:-1]
    elif raw.endswith("\t"):
        delimiter, raw = "\t", raw[:-1]
    raw = raw.strip().lstrip("#")
    return (int(raw) if raw.isdigit() and len(raw) < 7 else None), delimiter


class _Reader:
    def __init__(self, first_line: int) -> None:
        self.first_line = first_line
        self.root: dict[str, Any] = {}
        self.stack: list[tuple[int, dict[str, Any]]] = [(-1, self.root)]
        self.array: _Array | None = None
        self.problems: list[ToonProblem] = []

    def close_array(self) -> None:
        array = self.array
        if array is None:
            return
        self.array = None
        if array.declared is not None and array.declared != len(array.items):
            self.problems.append(
                (
                    array.line,
                    f"toon block {array.key or '[]'}[{array.declared}] declares {array.declared} "
                    f"rows but has {len(array.items)}; read all {len(array.items)}",
                )
            )

    def row(self, array: _Array, text: str, line: int) -> None:
        if array.fields is None:
            item = text[1:].strip() if text.startswith("-") else text
            array.items.append(scalar(item))
            return
        cells = split_row(text, array.delimiter)
        width = len(array.fields)
        if len(cells) > width:
            joiner = ", " if array.delimiter == "," else array.delimiter
            cells = [*cells[: width - 1], joiner.join(cells[width - 1 :])]
        elif len(cells) < width:
            self.problems.append(
                (line, f"toon row has {len(cells)} of {width} fields ({', '.join(array.fields)})")
            )
            cells += [""] * (width - len(cells))
        array.items.append({name: scalar(cell) for name, cell in zip(array.fields, cells, strict=True)})

    @staticmethod
    def _unindented_row(array: _Array, text: str) -> bool:
        """A row written at the header's own indentation (a common hand-written slip)."""
        if array.fields is None:
            return text.startswith("- ") or text == "-"
        return _HEADER.match(text) is None and _key_value(text) is None

    def feed(self, raw: str, line: int) -> None:
        text = raw.strip()
        if not text or text.startswith("#"):
            return
        indent = _indent(raw)
        array = self.array
        if array is not None:
            if indent > array.indent or (indent == array.indent and self._unindented_row(array, text)):
                self.row(array, text, line)
                return
            self.close_array()
        while len(self.stack) > 1 and self.stack[-1][0] >= indent:
            self.stack.pop()
        parent = self.stack[-1][1]
        header = _HEADER.match(text)
        if header:
            key = _key(header.group("key"))
            declared, delimiter = _parse_count(header.group("count"))
            fields_raw = header.group("fields")
            rest = header.group("rest").strip()
            if fields_raw is not None:
                names = [str(scalar(f)) for f in split_row(fields_raw, delimiter)]
                new = _Array(key, line, indent, declared, delimiter, names)
            elif rest:
                values = [scalar(v) for v in split_row(rest, delimiter) if v != ""]
                parent[key] = values
                if declared is not None and declared != len(values):
                    self.problems.append(
                        (
                            line,
                            f"toon array {key}[{declared}] declares {declared} values but has {len(values)}",
                        )
                    )
                return
            else:
                new = _Array(key, line, indent, declared, delimiter, None)
            parent[key] = new.items
            self.array = new
            return
        pair = _key_value(text)
        if pair is None:
            self.problems.append((line, f"toon line not understood: {text[:60]}"))
            return
        key, value = pair
        if value:
            parent[_key(key)] = scalar(value)
        else:
            child: dict[str, Any] = {}
            parent[_key(key)] = child
            self.stack.append((indent, child))


def parse_toon(lines: list[str], first_line: int) -> tuple[dict[str, Any], list[ToonProblem]]:
    """Read a TOON block whose first line is `first_line` (1-based) into plain data."""
    reader = _Reader(first_line)
    for offset, raw in enumerate(lines):
        reader.feed(raw, first_line + offset)
    reader.close_array()
    return reader.root, reader.problems


META_SCOPES = ("agent", "metadata", "meta")
"""Keys under which a toon block may nest the card's identity (`agent: {id: ..., priority: ...}`)."""


@dataclass
class ToonBlock:
    """One ```toon block: its data, the role of the section holding it, its line span."""

    data: dict[str, Any]
    role: str | None
    first: int
    """Index of the block's first content line."""
    end: int
    _keys: dict[str, int] | None = None

    def line_of(self, lines: list[str], key: str) -> int:
        """1-based line where `key` is declared in the block (its first line when unknown)."""
        if self._keys is None:
            self._keys = {}
            for i in range(self.first, self.end):
                stripped = lines[i].strip()
                cut = min((p for p in (stripped.find(":"), stripped.find("[")) if p > 0), default=-1)
                if cut > 0:
                    self._keys.setdefault(unquote(stripped[:cut]), i + 1)
        return self._keys.get(key, self.first + 1)

    def identity(self) -> dict[str, Any]:
        """Where the block states id, name, priority...: its `agent:` (or `metadata:`) mapping, or itself."""
        return next((self.data[k] for k in META_SCOPES if isinstance(self.data.get(k), dict)), self.data)


def toon_blocks(body: Body, sections: list[Section], draft: Draft) -> list[ToonBlock]:
    """Every ```toon block, read, with the role of the section holding it."""
    blocks: list[ToonBlock] = []
    for open_at, close_at, info in body.doc.fences:
        if not info or info.split()[0].lower() != "toon":
            continue
        draft.toon_used = True
        data, problems = parse_toon(body.lines[open_at + 1 : close_at], open_at + 2)
        for line, message in problems:
            draft.warn(line, message)
        held_by = next((role(h.key) for h, s, e in sections if s <= open_at < e), None)
        blocks.append(ToonBlock(data, held_by, open_at + 1, close_at))
    return blocks


def toon_lists(draft: Draft, blocks: list[ToonBlock], lines: list[str]) -> None:
    """Triggers, collaborators and deliverables the blocks declare; other keys to metadata."""
    for block in blocks:
        for key, value in block.data.items():
            line = block.line_of(lines, key)
            target = block.role if key == "" else role(key.replace("_", " "))
            if target == "triggers":
                triggers_from_toon(draft, value, line)
            elif target == "collaboration":
                collaborators_from_data(draft, value, line)
            elif target == "deliverables":
                deliverables_from_toon(draft, value, line)
            elif key in META_SCOPES and isinstance(value, dict):
                for inner, item in value.items():
                    if inner not in IDENTITY_KEYS:
                        draft.metadata.setdefault(inner, item)
            elif key and key not in IDENTITY_KEYS:
                draft.metadata.setdefault(key, value)
