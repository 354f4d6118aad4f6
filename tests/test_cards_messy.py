"""Messy cards: wrong encodings, BOMs, CRLF, mojibake, disagreeing metadata, broken blocks."""

from __future__ import annotations

import codecs
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.cards import AgentCard, load_card, parse_card, warning_location
from orchestrator.cards._mojibake import repair_mojibake
from orchestrator.errors import CardError

FIXTURES = Path(__file__).parent / "fixtures"
SEED = FIXTURES / "seed_backend_python.md"
MESSY = FIXTURES / "cards" / "messy"


def _essence(card: AgentCard) -> dict[str, object]:
    """What must not change however the bytes were mangled."""
    return card.model_dump(exclude={"warnings", "source"})


@pytest.fixture(scope="module")
def seed_text() -> str:
    repaired, _ = repair_mojibake(SEED.read_text(encoding="utf-8"))
    return repaired


@pytest.fixture(scope="module")
def clean_seed(seed_text: str) -> AgentCard:
    return parse_card(seed_text)


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda t: codecs.BOM_UTF8 + t.encode("utf-8"), id="utf-8 BOM"),
        pytest.param(lambda t: t.replace("\n", "\r\n").encode("utf-8"), id="CRLF"),
        pytest.param(lambda t: t.replace("\n", "\r").encode("utf-8"), id="CR"),
        pytest.param(lambda t: codecs.BOM_UTF8 + t.replace("\n", "\r\n").encode("utf-8"), id="BOM+CRLF"),
        pytest.param(lambda t: t.encode("utf-16"), id="utf-16 with BOM"),
        pytest.param(lambda t: t.encode("utf-16-le"), id="utf-16-le without BOM"),
        pytest.param(
            lambda t: t.encode("utf-8").decode("mac_roman").encode("utf-8"), id="mac_roman mojibake"
        ),
        pytest.param(
            lambda t: t.encode("utf-8").decode("mac_roman").replace("\uf8ff", "").encode("utf-8"),
            id="mac_roman mojibake, U+F8FF lost",
        ),
        pytest.param(lambda t: _cp1252_mojibake(t).encode("utf-8"), id="cp1252 mojibake"),
    ],
)
def test_mangled_seed_parses_like_the_clean_seed(
    clean_seed: AgentCard, seed_text: str, encode: Callable[[str], bytes]
) -> None:
    data = encode(seed_text)
    assert _essence(parse_card(data)) == _essence(clean_seed)


def _cp1252_mojibake(text: str) -> str:
    """UTF-8 read as cp1252 the way lenient tools do it (undefined bytes become C1 controls)."""
    raw = text.encode("utf-8")
    return "".join(
        bytes([b]).decode("cp1252") if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else chr(b) for b in raw
    )


def test_seed_file_with_bom_and_crlf_loads_from_disk(tmp_path: Path, clean_seed: AgentCard) -> None:
    path = tmp_path / "backend-python.md"
    path.write_bytes(codecs.BOM_UTF8 + SEED.read_bytes().replace(b"\n", b"\r\n"))
    card = load_card(path)
    assert _essence(card) == _essence(clean_seed)
    assert card.source == str(path)


def test_repair_warning_is_recorded_once_with_codec_and_count() -> None:
    card = load_card(SEED)
    assert [w for w in card.warnings if "repaired" in w] == [
        "repaired mis-decoded text (mac_roman) in 90 places"
    ]


def test_cp1252_mojibake_is_repaired_including_accented_letters() -> None:
    card = load_card(MESSY / "cp1252_mojibake.md")
    assert card.status == "active"
    assert card.purpose == "Translates user interfaces and résumé templates without breaking layouts."
    assert list(card.sections) == ["purpose", "deliverables"]
    assert card.warnings == ["repaired mis-decoded text (cp1252) in 5 places"]


@pytest.mark.parametrize(
    "text",
    [
        "café au lait",
        "an em dash — and “quotes” and ‘single’ ones",
        "real emoji 🎯 ✅ and box drawing ├── │",
        "“é without any other damage",
        "Grüße aus Köln",
        "日本語のテキスト",
    ],
)
def test_text_that_was_never_broken_is_left_alone(text: str) -> None:
    assert repair_mojibake(text) == (text, {})


def test_a_lone_accented_pair_is_repaired_only_with_strong_evidence() -> None:
    assert repair_mojibake("cafÃ©")[0] == "cafÃ©"
    assert repair_mojibake("cafÃ© âœ…")[0] == "café ✅"


def test_header_and_footer_that_disagree_keep_the_header_and_warn_with_both_lines() -> None:
    card = load_card(MESSY / "header_footer_disagree.md")
    assert (card.version, card.status) == ("1.2.0", "active")
    located = [warning_location(w) for w in card.warnings]
    assert located == [
        (
            5,
            "header version '1.2.0' (line 5) and footer version '1.1.0' (line 36) disagree; using the header",
        ),
        (
            6,
            "header status 'Active' (line 6) and footer status '⚠️ Deprecated' (line 37) disagree; "
            "using the header",
        ),
    ]


def test_footer_status_with_emoji_is_lower_case_words() -> None:
    card = parse_card("# Agent: X\n\n## Purpose\n\nx\n\n---\n\n**Agent:** x\n**Status:** ✅ Active\n")
    assert (card.id, card.status) == ("x", "active")


def test_invalid_yaml_front_matter_is_read_line_by_line_with_a_warning() -> None:
    card = load_card(MESSY / "invalid_yaml.md")
    assert card.id == "qa-automation"
    assert card.name == "QA Automation Engineer"
    assert card.metadata["model"] == "sonnet"
    assert card.deliverables == {"7": ["Test plan", "Coverage report", "Flaky test list"]}
    assert len(card.warnings) == 1
    assert card.warnings[0].startswith("line 1: front matter is not valid YAML")


def test_toon_row_count_mismatch_is_tolerated_with_a_warning() -> None:
    card = load_card(MESSY / "toon_count_mismatch.md")
    assert card.triggers == {
        "keywords": ["docs", "documentation", "readme", "guide"],
        "file_patterns": ["*.md", "docs/**", "mkdocs.yml"],
        "scripts": ["mkdocs build"],
    }
    assert "line 15: toon block triggers[2] declares 2 rows but has 3; read all 3" in card.warnings


def test_table_row_without_phase_number_is_skipped_with_a_warning() -> None:
    card = load_card(MESSY / "toon_count_mismatch.md")
    assert card.deliverables == {"8": ["README", "API reference", "Upgrade notes"]}
    assert card.phase_names == {"8": "Docs"}
    assert "line 26: deliverables row 'Later' names no phase number; skipped" in card.warnings


def test_card_with_missing_sections_still_parses() -> None:
    card = load_card(MESSY / "missing_sections.md")
    assert (card.id, card.name, card.priority) == ("solution-architect", "Solution Architect", 95)
    assert (card.purpose, card.triggers, card.collaborators, card.deliverables) == ("", {}, [], {})


def test_text_without_an_id_is_not_a_card() -> None:
    with pytest.raises(CardError) as info:
        load_card(MESSY / "no_id.md")
    assert info.value.path == str(MESSY / "no_id.md")
    assert info.value.line == 1
    assert "no agent id" in str(info.value)


def test_non_numeric_priority_is_null_and_kept_in_metadata() -> None:
    card = load_card(MESSY / "non_numeric_priority.md")
    assert card.priority is None
    assert card.metadata["priority"] == "high"
    assert card.lines["priority"] == 4
    assert card.warnings == ["line 4: priority 'high' is not a whole number; ignored"]


def test_unclosed_code_fence_is_reported() -> None:
    card = load_card(MESSY / "unclosed_fence.md")
    assert card.warnings == ["line 10: code fence is never closed; it runs to the end"]
    assert card.deliverables == {}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00\x01\x02binary\x00", "binary"),
        (b"", "no agent id"),
        (b"just some words", "no agent id"),
        (codecs.BOM_UTF16_LE + b"\x00\xd8", "utf-16"),
    ],
)
def test_things_that_are_not_cards_raise_card_error(data: bytes, reason: str) -> None:
    with pytest.raises(CardError, match=reason):
        parse_card(data, source="x.md")


def test_non_utf8_bytes_are_read_as_cp1252_with_a_warning() -> None:
    card = parse_card("# Agent: Café\n\n**Agent ID:** cafe\n".encode("cp1252"))
    assert card.name == "Café"
    assert card.warnings == ["file is not UTF-8; read it as cp1252"]


def test_unreadable_path_is_a_card_error(tmp_path: Path) -> None:
    with pytest.raises(CardError, match="cannot read card"):
        load_card(tmp_path / "missing.md")
    with pytest.raises(CardError, match="is a directory"):
        load_card(tmp_path)


def test_id_that_is_not_a_slug_is_slugified_with_a_warning() -> None:
    card = parse_card("# Agent: X\n\n**Agent ID:** Backend Python\n")
    assert card.id == "backend-python"
    assert card.warnings == ["line 3: agent id 'Backend Python' is not a slug; using 'backend-python'"]


def test_front_matter_that_looks_like_a_rule_is_not_front_matter() -> None:
    card = parse_card("---\n# Agent: X\n\n**Agent ID:** x\n\n---\n\n## Purpose\n\nP\n")
    assert (card.id, card.name, card.purpose, card.format) == ("x", "X", "P", "seed")


def test_repeated_collaborator_is_kept_once_with_a_warning() -> None:
    card = parse_card(
        "# Agent: X\n**Agent ID:** x\n## Collaboration\n**Works with:**\n- a - one\n- a - two\n"
    )
    assert [(c.id, c.note) for c in card.collaborators] == [("a", "one")]
    assert card.warnings == ["line 6: collaborator 'a' is listed twice; kept the first"]


def test_front_matter_values_become_plain_json() -> None:
    card = parse_card("---\nname: x\nweight: .nan\nwhen: 2024-01-01\n1: one\n---\n")
    assert card.metadata == {"weight": "nan", "when": "2024-01-01", "1": "one"}
