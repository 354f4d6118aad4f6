"""Deliverables: the output model an agent must fill, and the gate's substance check.

For each (agent, phase) the card's listed deliverables become one required string
field each, so a model using structured outputs cannot leave one out. The gate
then checks that every field says something: not empty, not a placeholder.
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, create_model

from orchestrator.runtime import current_runtime

_PLACEHOLDER = re.compile(
    r"^(?:tbd|tbc|todo|fixme|n/?a|none|null|nil|placeholder|lorem ipsum.*"
    r"|to be (?:done|determined|decided|written)|coming soon|fill (?:me )?in(?: later)?"
    r"|\.{2,}|…|-+|\?+)(?:\W.*)?$",
    re.IGNORECASE | re.DOTALL,
)
_MIN_CHARS = 12
"""Fewer visible characters than this cannot describe a deliverable."""


def slug(text: str, max_len: int = 60) -> str:
    """ASCII snake_case for a deliverable name: a field name and a file name at once."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[A-Za-z0-9]+", ascii_text.lower())
    out = "_".join(words)[:max_len].strip("_")
    return out or "deliverable"


RESERVED_FIELDS = frozenset({"handoffs", "phase", "changes"})
"""Field names the output models use themselves: a deliverable never takes one."""


def _is_safe_field(name: str) -> bool:
    """A name pydantic keeps as a plain field: no BaseModel member, no `model_` prefix, no keyword."""
    return not (
        name in RESERVED_FIELDS
        or name.startswith(("model_", "_"))
        or name[:1].isdigit()
        or keyword.iskeyword(name)
        or hasattr(BaseModel, name)
    )


def field_names(items: Sequence[str]) -> dict[str, str]:
    """Map each deliverable item to a unique, safe field name, in card order.

    The name is the item's slug (`API design` -> `api_design`); one that would collide with
    the model's own members or fields (`Model config`, `Handoffs`, `schema`) gets a
    `deliverable_` prefix, and a repeat (`API design` and `api-design`) a number.
    """
    names: dict[str, str] = {}
    used: set[str] = set()
    for item in items:
        base = slug(item)
        if not _is_safe_field(base):
            base = f"deliverable_{base}"
        name, n = base, 2
        while name in used or not _is_safe_field(name):
            name, n = f"{base}_{n}", n + 1
        used.add(name)
        names[item] = name
    return names


def is_substantive(text: str | None) -> bool:
    """False for empty text and for placeholders such as "TBD", "TODO: later" or "...".

    A placeholder is a text that *starts* with a placeholder word and is short; a
    long text that merely mentions "TODO" somewhere is real content.
    """
    if text is None:
        return False
    visible = " ".join(text.split())
    if len(re.sub(r"\W", "", visible)) < _MIN_CHARS:
        return False
    return not (len(visible) <= 80 and _PLACEHOLDER.match(visible))


def missing(values: dict[str, str | None], items: Sequence[str]) -> list[str]:
    """The items (card order) whose text is absent or not substantive."""
    return [item for item in items if not is_substantive(values.get(item))]


def _literal(values: Sequence[str]) -> Any:
    return cast(Any, Literal).__getitem__(tuple(values))


def _model_name(agent: str, phase: str, suffix: str) -> str:
    parts = re.findall(r"[A-Za-z0-9]+", f"{agent} {phase}")
    return "".join(p[:1].upper() + p[1:] for p in parts) + suffix


@dataclass(frozen=True)
class OutputSpec:
    """An output model plus the way back from its fields to deliverable names."""

    model: type[BaseModel]
    fields: dict[str, str]
    """Deliverable item -> field name."""
    handoff_targets: tuple[str, ...]
    writes: bool = False
    """True when the model has a `changes` list (a phase that writes files)."""

    def deliverables(self, output: BaseModel) -> dict[str, str]:
        """Deliverable item -> text, in card order."""
        data = output.model_dump()
        return {item: str(data.get(name) or "") for item, name in self.fields.items()}

    def handoffs(self, output: BaseModel) -> list[dict[str, Any]]:
        """The handoffs the output asks for, as plain data (empty when none are allowed)."""
        if not self.handoff_targets:
            return []
        raw = output.model_dump().get("handoffs") or []
        return [dict(h) for h in raw]

    def changes(self, output: BaseModel) -> list[dict[str, Any]]:
        """The file changes the output asks for, as plain data (empty when the phase writes none)."""
        if not self.writes:
            return []
        return [dict(c) for c in output.model_dump().get("changes") or []]


def output_spec(
    agent: str,
    phase: str,
    items: Sequence[str],
    *,
    handoff_targets: Sequence[str] = (),
    shareable: Sequence[str] = (),
    suffix: str = "Output",
    writes: bool = False,
) -> OutputSpec:
    """Build the output model for `agent` in `phase`: one required field per item.

    `handoff_targets` become the enum of `handoffs[].to`, so handing off to anyone
    else cannot even be expressed; with no targets there is no `handoffs` field.
    `shareable` are the items a handoff may pass on (`deliverables_needed`).
    `writes` adds `changes`: the files the turn writes or deletes, each naming its deliverable.
    The same inputs give the same model class (one per runtime), so schemas derived from it
    are built once.
    """
    build = current_runtime().memo(_output_spec, maxsize=1024)
    return build(agent, phase, tuple(items), tuple(handoff_targets), tuple(shareable), suffix, writes)


def _output_spec(
    agent: str,
    phase: str,
    items: tuple[str, ...],
    handoff_targets: tuple[str, ...],
    shareable: tuple[str, ...],
    suffix: str,
    writes: bool = False,
) -> OutputSpec:
    names = field_names(items)
    fields: dict[str, Any] = {
        name: (
            str,
            Field(title=item, description=f"The deliverable '{item}', complete and concrete, in markdown."),
        )
        for item, name in names.items()
    }
    if handoff_targets:
        needed: Any = _literal(shareable) if shareable else str
        handoff = create_model(
            _model_name(agent, phase, "Handoff"),
            __config__=ConfigDict(extra="forbid"),
            to=(_literal(handoff_targets), Field(description="The collaborator to hand work to.")),
            brief=(str, Field(description="What the collaborator must produce and why, in a few sentences.")),
            deliverables_needed=(
                list[needed],
                Field(description="Which of your deliverables the collaborator needs to read."),
            ),
        )
        fields["handoffs"] = (
            list[handoff],
            Field(description="Work to hand to collaborators; an empty list when none is needed."),
        )
    if writes and items:
        change: Any = _change_model(agent, phase, items)
        fields["changes"] = (list[change], Field(description=_CHANGES_HELP))
    model = create_model(
        _model_name(agent, phase, suffix),
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
    return OutputSpec(
        model=model, fields=names, handoff_targets=tuple(handoff_targets), writes=writes and bool(items)
    )


_CHANGES_HELP = (
    "The project files this turn writes or deletes, each with its complete new content; "
    "an empty list when no file changes."
)


def _change_model(agent: str, phase: str, items: Sequence[str]) -> type[BaseModel]:
    """One file change: `deliverable` is an enum of the turn's own deliverables."""
    return create_model(
        _model_name(agent, phase, "Change"),
        __config__=ConfigDict(extra="forbid"),
        path=(str, Field(description="The file's path relative to the project root, with '/' separators.")),
        action=(
            _literal(["write", "delete", "edit"]),
            Field(description="write: create or replace whole; edit: replace parts of a file; delete."),
        ),
        content=(str, Field(description="For write: the file's complete new content. Otherwise empty.")),
        edits=(list[FileEdit], Field(description=_EDITS_HELP)),
        deliverable=(_literal(items), Field(description="The deliverable this file belongs to.")),
    )


_EDITS_HELP = (
    "For edit: replacements made in order, each `search` copied exactly from the file and found "
    "there once. Empty for write and delete."
)


class FileEdit(BaseModel):
    """One search/replace of an `edit` change."""

    model_config = ConfigDict(extra="forbid")

    search: str = Field(description="Exact text of the file to replace; it must occur once.")
    replace: str = Field(description="The text that takes its place.")
