"""Phase files and pipelines: the built-in ones, project overrides, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.cards import AgentCard
from orchestrator.errors import CardError, ConfigError, NotFound
from orchestrator.phases import (
    PhaseSpec,
    available_pipelines,
    card_deliverables,
    find_phase,
    load_phases,
    load_pipeline,
    serves,
)

FULL = [
    ("understand", "1"),
    ("design", "2"),
    ("ui", "3"),
    ("plan-tests", "4"),
    ("write-tests", "5a"),
    ("build", "5b"),
    ("polish", "5c"),
    ("review", "6"),
    ("verify", "7"),
    ("document", "8"),
    ("share", "9"),
]

VALID_PHASE = """\
key: audit
label: 6b
name: Audit
purpose: Check the licences.
order: 85
collects: [6b]
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_default_pipeline_is_design_build_verify_with_auto_gates() -> None:
    pipeline = load_pipeline()
    assert [(p.key, p.label, p.gate) for p in pipeline.phases] == [
        ("design", "2", "auto"),
        ("build", "5b", "auto"),
        ("verify", "7", "auto"),
    ]


def test_full_pipeline_is_the_card_familys_workflow_in_order() -> None:
    pipeline = load_pipeline("full")
    assert [(p.key, p.label) for p in pipeline.phases] == FULL


def test_full_pipeline_asks_for_approval_after_design_review_and_share() -> None:
    gated = [p.key for p in load_pipeline("full").phases if p.gate == "approval"]
    assert gated == ["design", "review", "share"]


@pytest.mark.parametrize(("key", "label"), FULL)
def test_every_builtin_phase_collects_its_own_label_and_has_instructions(key: str, label: str) -> None:
    spec = load_phases()[key]
    assert (spec.label, spec.collects) == (label, [label])
    assert spec.instructions.strip() and spec.purpose.strip()


def test_a_phase_file_names_the_card_sections_its_prompts_carry(tmp_path: Path) -> None:
    assert load_phases()["build"].card_sections == ["conventions", "best practices"]
    _write(tmp_path / "phases", "audit.yaml", VALID_PHASE + "card_sections: [Conventions, tech stack]\n")
    assert load_phases(project_dir=tmp_path)["audit"].card_sections == ["conventions", "tech stack"]


def test_a_phase_file_without_card_sections_carries_the_core_competencies(tmp_path: Path) -> None:
    _write(tmp_path / "phases", "audit.yaml", VALID_PHASE)
    assert load_phases(project_dir=tmp_path)["audit"].card_sections == ["core competencies"]


def test_with_approval_gates_switches_every_gate_and_leaves_the_original() -> None:
    pipeline = load_pipeline()
    gated = pipeline.with_approval_gates()
    assert {p.gate for p in gated.phases} == {"approval"}
    assert {p.gate for p in pipeline.phases} == {"auto"}


@pytest.mark.parametrize(
    ("wanted", "key"), [("build", "build"), ("5b", "build"), ("5B", "build"), ("7", "verify")]
)
def test_pipeline_phase_finds_by_key_or_label(wanted: str, key: str) -> None:
    assert load_pipeline().phase(wanted).key == key


def test_pipeline_phase_unknown_lists_the_valid_keys() -> None:
    with pytest.raises(NotFound, match=r"design \(2\), build \(5b\), verify \(7\)"):
        load_pipeline().phase("review")


def test_find_phase_reaches_phases_outside_the_default_pipeline() -> None:
    assert find_phase("6").key == "review"


def test_unknown_pipeline_names_the_available_ones() -> None:
    with pytest.raises(NotFound, match="available: default, full"):
        load_pipeline("nope")


def test_available_pipelines_lists_builtin_and_project_pipelines(tmp_path: Path) -> None:
    _write(tmp_path / "phases" / "pipelines", "quick.yaml", "phases: [build]\n")
    assert available_pipelines(project_dir=tmp_path) == ["default", "full", "quick"]


def test_project_phase_file_overrides_the_builtin_one_whole(tmp_path: Path) -> None:
    _write(
        tmp_path / "phases",
        "design.yaml",
        "label: 2\nname: Sketch\npurpose: Sketch it.\norder: 20\ngate: approval\n",
    )
    design = load_pipeline(project_dir=tmp_path).phase("design")
    assert (design.name, design.gate, design.instructions, design.collects) == (
        "Sketch",
        "approval",
        "",
        ["2"],
    )
    assert design.source == str(tmp_path / "phases" / "design.yaml")


def test_project_pipeline_can_use_a_project_phase(tmp_path: Path) -> None:
    _write(tmp_path / "phases", "audit.yaml", VALID_PHASE)
    _write(tmp_path / "phases" / "pipelines", "default.yaml", "phases: [design, build, audit]\n")
    assert load_pipeline(project_dir=tmp_path).keys == ["design", "build", "audit"]


def test_extra_dirs_win_over_the_project(tmp_path: Path) -> None:
    _write(tmp_path / "project" / "phases" / "pipelines", "default.yaml", "phases: [design]\n")
    _write(tmp_path / "extra" / "pipelines", "default.yaml", "phases: [verify]\n")
    pipeline = load_pipeline(project_dir=tmp_path / "project", extra_dirs=[tmp_path / "extra"])
    assert pipeline.keys == ["verify"]


def test_missing_extra_dir_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_pipeline(extra_dirs=[tmp_path / "missing"])


def test_pipeline_entry_gate_overrides_the_phase_gate(tmp_path: Path) -> None:
    _write(tmp_path / "phases" / "pipelines", "p.yaml", "phases:\n  - {phase: build, gate: approval}\n")
    assert load_pipeline("p", project_dir=tmp_path).phases[0].gate == "approval"


PHASE_ERRORS = [
    ("bad_yaml", "label: [2\nname: x\n", 2, "invalid YAML"),
    ("not_mapping", "- a\n- b\n", 1, "must be a mapping"),
    ("empty", "", 1, "empty phase file"),
    ("unknown_field", VALID_PHASE.replace("collects:", "gat: auto\ncollects:"), 6, "unknown field 'gat'"),
    ("duplicate_field", VALID_PHASE + "name: Again\n", 7, "field 'name' appears twice"),
    (
        "missing_field",
        VALID_PHASE.replace("purpose: Check the licences.\n", ""),
        1,
        "missing field 'purpose'",
    ),
    ("bad_gate", VALID_PHASE + "gate: maybe\n", 7, "gate"),
    ("bad_label", VALID_PHASE.replace("label: 6b", "label: six"), 2, "label 'six'"),
    ("bad_order", VALID_PHASE.replace("order: 85", "order: soon"), 5, "order"),
    ("key_mismatch", VALID_PHASE.replace("key: audit", "key: other"), 1, "does not match the file name"),
    ("blank_name", VALID_PHASE.replace("name: Audit", "name: '  '"), 3, "must not be empty"),
    ("bad_collects", VALID_PHASE.replace("collects: [6b]", "collects: [x y]"), 6, "label 'x y'"),
    ("blank_section", VALID_PHASE + "card_sections: [conventions, ' ']\n", 7, "card_sections must name"),
    ("section_not_list", VALID_PHASE + "card_sections: conventions\n", 7, "card_sections:"),
]


@pytest.mark.parametrize(
    ("text", "line", "message"), [e[1:] for e in PHASE_ERRORS], ids=[e[0] for e in PHASE_ERRORS]
)
def test_broken_phase_file_names_path_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    phase = _write(tmp_path / "phases", "audit.yaml", text)
    _write(tmp_path / "phases" / "pipelines", "p.yaml", "phases: [audit]\n")
    with pytest.raises(CardError) as info:
        load_pipeline("p", project_dir=tmp_path)
    assert (info.value.path, info.value.line) == (str(phase), line)
    assert message in str(info.value)
    assert str(info.value).startswith(f"{phase}:{line}: ")


PIPELINE_ERRORS = [
    ("unknown_phase", "phases:\n  - design\n  - desing\n", 3, "unknown phase 'desing'"),
    ("twice", "phases:\n  - design\n  - design\n", 3, "listed twice"),
    ("out_of_order", "phases:\n  - verify\n  - build\n", 3, "must come before 'verify'"),
    ("empty_list", "phases: []\n", 1, "non-empty list"),
    ("no_phases", "description: nothing\n", 1, "non-empty list"),
    ("unknown_field", "phases: [build]\nstages: [x]\n", 2, "unknown field 'stages'"),
    ("bad_entry_gate", "phases:\n  - {phase: build, gate: later}\n", 2, "gate must be"),
    ("bad_entry_field", "phases:\n  - {phase: build, when: now}\n", 2, "unknown field 'when'"),
    ("bad_entry", "phases:\n  - [build]\n", 2, "must be a phase key"),
    ("name_mismatch", "name: other\nphases: [build]\n", 1, "does not match the file name"),
]


@pytest.mark.parametrize(
    ("text", "line", "message"), [e[1:] for e in PIPELINE_ERRORS], ids=[e[0] for e in PIPELINE_ERRORS]
)
def test_broken_pipeline_file_names_path_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = _write(tmp_path / "phases" / "pipelines", "p.yaml", text)
    with pytest.raises(CardError) as info:
        load_pipeline("p", project_dir=tmp_path)
    assert (info.value.path, info.value.line) == (str(path), line)
    assert message in str(info.value)


def test_pipeline_with_two_phases_sharing_a_label_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "phases", "audit.yaml", VALID_PHASE.replace("label: 6b", "label: 5b"))
    _write(tmp_path / "phases" / "pipelines", "p.yaml", "phases: [build, audit]\n")
    with pytest.raises(CardError, match="share label '5b'"):
        load_pipeline("p", project_dir=tmp_path)


def test_pipeline_name_cannot_escape_the_folder() -> None:
    with pytest.raises(NotFound):
        load_pipeline("../phases/design")


def _card(deliverables: dict[str, list[str]]) -> AgentCard:
    return AgentCard(id="x", name="X", deliverables=deliverables)


def test_card_deliverables_follow_collects_then_card_order_without_duplicates() -> None:
    phase = PhaseSpec(key="mixed", label="5b", name="M", purpose="p", order=1, collects=["5b", "5c"])
    card = _card({"5c": ["Docs", "Lint"], "5b": ["Code", "Docs"], "7": ["Tests"]})
    assert card_deliverables(card, phase) == ["Code", "Docs", "Lint"]


def test_card_serves_a_phase_only_with_items_for_a_collected_label() -> None:
    build = load_pipeline().phase("build")
    assert serves(_card({"5b": ["Code"]}), build)
    assert not serves(_card({"5b": [], "7": ["Tests"]}), build)
