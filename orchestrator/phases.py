"""PhaseSpec and Pipeline: the phases a run moves through, read from `phases/` data files.

Phases are YAML data so people who don't read Python can add or change one. A
folder holds one file per phase (`design.yaml`) and a `pipelines/` folder with one
file per pipeline (`pipelines/default.yaml`). Folders are searched in precedence
order (extra folders, then the project's own `phases/`, then the built-in one) and
the first file with a given name wins, whole: the same rule as agent cards.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from orchestrator._resources import builtin_dir
from orchestrator._roles import ROLES, card_roles
from orchestrator.cards import AgentCard
from orchestrator.errors import CardError, ConfigError, NotFound

Gate = Literal["auto", "approval"]
Checks = Literal["auto", "off"] | list[str]

_KEY = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
_LABEL = re.compile(r"^[0-9]+[a-z]?$")
_SUFFIXES = (".yaml", ".yml")


class PhaseSpec(BaseModel):
    """One phase: what it is for, where it sits, and which card deliverables it collects."""

    model_config = ConfigDict(extra="forbid")

    key: str
    """Stable identifier used on the command line and in artifact paths (`design`)."""
    label: str
    """The card family's phase label (`"2"`, `"5b"`); cards key their deliverables by it."""
    name: str
    """Human name (`Design`)."""
    purpose: str
    """One sentence on what the phase is for."""
    order: int
    """Position among all phases; a pipeline must list its phases in this order."""
    gate: Gate = "auto"
    """`auto` continues when the deliverables pass their checks; `approval` also waits for a person."""
    collects: list[str]
    """Card deliverable labels gathered in this phase (usually just `[label]`)."""
    card_sections: list[str] = ["core competencies"]
    """Card sections an agent's prompt carries in this phase besides its purpose, by the start of
    their heading (`best practices`), in this order. Token-lean: a phase gets what it works from."""
    instructions: str = ""
    """What an agent is asked to do in this phase; quoted in its prompt."""
    checks: Checks = "off"
    """The project's real checks this phase runs before its agents work, and its gate requires:
    `auto` (`--check`, else the project's configuration, else detection), a list of commands,
    or `off`."""
    writes: bool = False
    """True when the phase's agents change the project's files (in the run's workspace, never the
    user's tree): their output model gains a `changes` list (`orchestrator.changes`)."""
    default_deliverables: list[str] = []
    """What a card that lists no deliverables at all delivers here (`Design notes`, `Risks`).
    Empty: such cards do not serve the phase."""
    default_roles: list[str] = list(ROLES)
    """The roles (see `orchestrator._roles`) a card without deliverables must have to serve here."""
    source: str = ""
    """File the phase was read from."""

    @field_validator("key")
    @classmethod
    def _check_key(cls, value: str) -> str:
        if not _KEY.match(value):
            raise ValueError(f"key {value!r} must be lower-case words joined by '-' (like 'plan-tests')")
        return value

    @field_validator("label", mode="before")
    @classmethod
    def _check_label(cls, value: Any) -> Any:
        return _label(value)

    @field_validator("collects", mode="before")
    @classmethod
    def _check_collects(cls, value: Any) -> Any:
        items = value if isinstance(value, list) else [value]
        labels = [_label(item) for item in items]
        if not labels:
            raise ValueError("collects must name at least one deliverable label")
        return list(dict.fromkeys(labels))

    @field_validator("default_roles")
    @classmethod
    def _check_roles(cls, value: list[str]) -> list[str]:
        unknown = [role for role in value if role not in ROLES]
        if unknown:
            raise ValueError(f"unknown role {unknown[0]!r} (expected one of: {', '.join(ROLES)})")
        return list(dict.fromkeys(value))

    @field_validator("card_sections")
    @classmethod
    def _check_card_sections(cls, value: list[str]) -> list[str]:
        headings = [item.strip().lower() for item in value]
        if not all(headings):
            raise ValueError("card_sections must name card section headings, not empty text")
        return list(dict.fromkeys(headings))

    @field_validator("checks", mode="before")
    @classmethod
    def _check_checks(cls, value: Any) -> Any:
        if value is False or value is None:
            return "off"
        if isinstance(value, list) and not all(isinstance(v, str) and v.strip() for v in value):
            raise ValueError("checks must be 'auto', 'off' or a list of commands")
        return value

    @field_validator("name", "purpose")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()


class Pipeline(BaseModel):
    """An ordered list of phases a run goes through."""

    name: str
    """Pipeline name as given to `--pipeline` (`default`, `full`)."""
    description: str = ""
    phases: list[PhaseSpec]
    """In run order."""
    source: str = ""
    """File the pipeline was read from."""

    def phase(self, key_or_label: str) -> PhaseSpec:
        """The phase with this key (`build`) or label (`5b`, case-insensitive)."""
        wanted = key_or_label.strip().lower()
        for spec in self.phases:
            if wanted in (spec.key, spec.label):
                return spec
        valid = ", ".join(f"{p.key} ({p.label})" for p in self.phases)
        raise NotFound(f"pipeline {self.name!r} has no phase {key_or_label!r}; valid: {valid}")

    def with_approval_gates(self) -> Pipeline:
        """A copy in which every phase waits for a person's approval."""
        phases = [p.model_copy(update={"gate": "approval"}) for p in self.phases]
        return self.model_copy(update={"phases": phases})

    @property
    def keys(self) -> list[str]:
        """Phase keys in run order."""
        return [p.key for p in self.phases]


def card_deliverables(card: AgentCard, phase: PhaseSpec) -> list[str]:
    """Items the card promises for any label the phase collects (card order, no duplicates);
    for a card that lists no deliverables at all, the phase's defaults when its role fits."""
    items: dict[str, None] = {}
    for label in phase.collects:
        for item in card.deliverables.get(label, ()):
            items.setdefault(item, None)
    if not items and by_default(card, phase):
        return list(phase.default_deliverables)
    return list(items)


def own_deliverables(card: AgentCard, phase: PhaseSpec) -> bool:
    """True when the card itself lists deliverables for a label the phase collects."""
    return any(card.serves(label) for label in phase.collects)


def by_default(card: AgentCard, phase: PhaseSpec) -> bool:
    """True when the card lists no deliverables for any phase and this phase takes its role,
    with default deliverables to give it (a card that lists some has chosen its phases)."""
    if not phase.default_deliverables or any(card.deliverables.values()):
        return False
    return any(role in phase.default_roles for role in card_roles(card))


def serves(card: AgentCard, phase: PhaseSpec) -> bool:
    """True when the card lists a deliverable the phase collects, or serves it by default."""
    return own_deliverables(card, phase) or by_default(card, phase)


def phase_dirs(*, project_dir: Path | None = None, extra_dirs: Sequence[Path] = ()) -> list[Path]:
    """The folders searched for phase files, highest precedence first."""
    dirs: list[Path] = []
    for extra in extra_dirs:
        if not Path(extra).is_dir():
            raise ConfigError(f"phases folder {extra} does not exist")
        dirs.append(Path(extra))
    if project_dir is not None and (Path(project_dir) / "phases").is_dir():
        dirs.append(Path(project_dir) / "phases")
    builtin = builtin_dir("phases")
    if builtin.is_dir():
        dirs.append(builtin)
    return dirs


def available_pipelines(*, project_dir: Path | None = None, extra_dirs: Sequence[Path] = ()) -> list[str]:
    """Names of every pipeline file visible from these folders, sorted."""
    return _pipeline_names(phase_dirs(project_dir=project_dir, extra_dirs=extra_dirs))


def load_pipeline(
    name: str = "default", *, project_dir: Path | None = None, extra_dirs: Sequence[Path] = ()
) -> Pipeline:
    """Read pipeline `name` and the phases it lists (project files first, then built-in)."""
    dirs = phase_dirs(project_dir=project_dir, extra_dirs=extra_dirs)
    if not _KEY.match(name):
        raise NotFound(f"unknown pipeline {name!r}; available: {_names(_pipeline_names(dirs))}")
    path = _first_file(dirs, f"pipelines/{name}")
    if path is None:
        raise NotFound(f"unknown pipeline {name!r}; available: {_names(_pipeline_names(dirs))}")
    return _read_pipeline(path, dirs)


def load_phases(*, project_dir: Path | None = None, extra_dirs: Sequence[Path] = ()) -> dict[str, PhaseSpec]:
    """Every phase file visible from these folders, keyed by phase key, sorted by order."""
    dirs = phase_dirs(project_dir=project_dir, extra_dirs=extra_dirs)
    keys = sorted({p.stem for folder in dirs for p in _yaml_files(folder)})
    specs = [_read_phase(path) for key in keys if (path := _first_file(dirs, key)) is not None]
    return {s.key: s for s in sorted(specs, key=lambda s: (s.order, s.key))}


def find_phase(
    key_or_label: str, *, project_dir: Path | None = None, extra_dirs: Sequence[Path] = ()
) -> PhaseSpec:
    """Any known phase by key or label, whether or not a pipeline lists it."""
    phases = load_phases(project_dir=project_dir, extra_dirs=extra_dirs)
    wanted = key_or_label.strip().lower()
    for spec in phases.values():
        if wanted in (spec.key, spec.label):
            return spec
    valid = ", ".join(f"{p.key} ({p.label})" for p in phases.values())
    raise NotFound(f"unknown phase {key_or_label!r}; valid: {valid}")


# Reading files


def _read_phase(path: Path) -> PhaseSpec:
    data, lines = _read_mapping(path, "phase")
    if "key" in data and data["key"] != path.stem:
        raise CardError(
            f"key {data['key']!r} does not match the file name (expected {path.stem!r})", path, lines["key"]
        )
    data.setdefault("key", path.stem)
    if "collects" not in data and "label" in data:
        data["collects"] = [data["label"]]
    data["source"] = str(path)
    try:
        return PhaseSpec.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc, path, lines, PhaseSpec) from None


_PIPELINE_FIELDS = ("name", "description", "phases")
_ENTRY_FIELDS = ("phase", "gate")


def _read_pipeline(path: Path, dirs: Sequence[Path]) -> Pipeline:
    data, lines = _read_mapping(path, "pipeline")
    for field in data:
        if field not in _PIPELINE_FIELDS:
            raise CardError(_unknown_field(field, _PIPELINE_FIELDS), path, lines[field])
    name = data.get("name", path.stem)
    if name != path.stem:
        raise CardError(
            f"name {name!r} does not match the file name (expected {path.stem!r})", path, lines["name"]
        )
    description = data.get("description", "")
    if not isinstance(description, str):
        raise CardError("description must be text", path, lines["description"])
    entries = data.get("phases")
    if not isinstance(entries, list) or not entries:
        raise CardError("phases must be a non-empty list of phase keys", path, lines.get("phases", 1))
    item_lines = lines.get("phases.items", [])
    phases: list[PhaseSpec] = []
    for index, entry in enumerate(entries):
        line = item_lines[index] if index < len(item_lines) else lines.get("phases", 1)
        phases.append(_pipeline_entry(entry, path, line, dirs))
    _check_sequence(phases, path, item_lines)
    return Pipeline(name=name, description=description.strip(), phases=phases, source=str(path))


def _pipeline_entry(entry: Any, path: Path, line: int, dirs: Sequence[Path]) -> PhaseSpec:
    gate: Any = None
    if isinstance(entry, dict):
        for field in entry:
            if field not in _ENTRY_FIELDS:
                raise CardError(_unknown_field(str(field), _ENTRY_FIELDS), path, line)
        key, gate = entry.get("phase"), entry.get("gate")
    else:
        key = entry
    if not isinstance(key, str) or not _KEY.match(key):
        raise CardError(f"phase entry {entry!r} must be a phase key or {{phase: KEY, gate: ...}}", path, line)
    phase_path = _first_file(dirs, key)
    if phase_path is None:
        known = sorted({p.stem for folder in dirs for p in _yaml_files(folder)})
        raise CardError(f"unknown phase {key!r}; known phases: {_names(known)}", path, line)
    spec = _read_phase(phase_path)
    if gate is not None:
        if gate not in ("auto", "approval"):
            raise CardError(f"gate must be 'auto' or 'approval', not {gate!r}", path, line)
        spec = spec.model_copy(update={"gate": gate})
    return spec


def _check_sequence(phases: list[PhaseSpec], path: Path, item_lines: list[int]) -> None:
    seen_keys: set[str] = set()
    seen_labels: dict[str, str] = {}
    for index, spec in enumerate(phases):
        line = item_lines[index] if index < len(item_lines) else 1
        if spec.key in seen_keys:
            raise CardError(f"phase {spec.key!r} is listed twice", path, line)
        if spec.label in seen_labels:
            other = seen_labels[spec.label]
            raise CardError(f"phases {other!r} and {spec.key!r} share label {spec.label!r}", path, line)
        if index and spec.order <= phases[index - 1].order:
            before = phases[index - 1]
            raise CardError(
                f"phase {spec.key!r} (order {spec.order}) must come before {before.key!r} "
                f"(order {before.order}); list phases in their order",
                path,
                line,
            )
        seen_keys.add(spec.key)
        seen_labels[spec.label] = spec.key


def _read_mapping(path: Path, what: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse a YAML mapping and remember the line of every top-level key (1-based)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CardError(f"{what} file is not UTF-8 text (byte {exc.start})", path, 1) from None
    except OSError as exc:
        raise CardError(f"cannot read {what} file: {exc.strerror}", path) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise CardError(f"empty {what} file", path, 1)
        if not isinstance(node, yaml.MappingNode):
            raise CardError(f"a {what} file must be a mapping of fields", path, node.start_mark.line + 1)
        lines: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                raise CardError("field names must be plain text", path, key_node.start_mark.line + 1)
            if key in lines:
                raise CardError(f"field {key!r} appears twice", path, key_node.start_mark.line + 1)
            lines[key] = key_node.start_mark.line + 1
            if isinstance(value_node, yaml.SequenceNode):
                lines[f"{key}.items"] = [item.start_mark.line + 1 for item in value_node.value]
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise CardError(f"invalid YAML: {exc.problem or exc.context}", path, line) from None
    except yaml.YAMLError as exc:
        raise CardError(f"invalid YAML: {exc}", path, 1) from None
    finally:
        loader.dispose()
    return dict(data), lines


def _validation_error(
    exc: ValidationError, path: Path, lines: dict[str, Any], model: type[BaseModel]
) -> CardError:
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    if first["type"] == "extra_forbidden":
        message = _unknown_field(field, tuple(f for f in model.model_fields if f != "source"))
    elif first["type"] == "missing":
        message = f"missing field {field!r}"
    else:
        message = f"{field}: {first['msg'].removeprefix('Value error, ')}"
    return CardError(message, path, lines.get(field, 1))


def _label(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return value
    text = str(value).strip().lower()
    if not _LABEL.match(text):
        raise ValueError(f"label {value!r} must be a number with an optional letter (like '2' or '5b')")
    return text


def _unknown_field(field: str, known: Sequence[str]) -> str:
    return f"unknown field {field!r} (expected one of: {', '.join(known)})"


def _pipeline_names(dirs: Iterable[Path]) -> list[str]:
    return sorted({p.stem for folder in dirs for p in _yaml_files(folder / "pipelines")})


def _first_file(dirs: Sequence[Path], stem: str) -> Path | None:
    for folder in dirs:
        for suffix in _SUFFIXES:
            candidate = folder / f"{stem}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def _yaml_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in _SUFFIXES and p.is_file())


def _names(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "(none)"
