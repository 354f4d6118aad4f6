"""Fuzzing the parser: whatever the bytes, only CardError escapes (never a crash or a hang)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.cards import AgentCard, load_card, parse_card
from orchestrator.errors import CardError

SEED = (Path(__file__).parent / "fixtures" / "seed_backend_python.md").read_bytes()
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
"""Modest for CI; `FUZZ_EXAMPLES=5000 pytest tests/test_cards_fuzz.py` digs deeper."""


def _parse_or_card_error(data: bytes | str) -> AgentCard | None:
    try:
        return parse_card(data, source="fuzz.md")
    except CardError:
        return None


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_only_raise_card_error(data: bytes) -> None:
    _parse_or_card_error(data)


@FUZZ
@given(st.text(max_size=2048))
def test_random_text_only_raises_card_error(text: str) -> None:
    _parse_or_card_error(text)


@FUZZ
@given(st.integers(min_value=0, max_value=len(SEED)))
def test_truncated_seed_only_raises_card_error(cut: int) -> None:
    card = _parse_or_card_error(SEED[:cut])
    if card is not None:
        assert card.id


@FUZZ
@given(st.integers(min_value=0, max_value=len(SEED) - 1), st.binary(min_size=1, max_size=64))
def test_seed_with_spliced_garbage_only_raises_card_error(at: int, junk: bytes) -> None:
    _parse_or_card_error(SEED[:at] + junk + SEED[at:])


@FUZZ
@given(st.sampled_from(["utf-16-be", "utf-32", "cp1252", "latin-1", "mac_roman", "cp437", "shift_jis"]))
def test_seed_in_wrong_encodings_only_raises_card_error(encoding: str) -> None:
    text = SEED.decode("utf-8")
    _parse_or_card_error(text.encode(encoding, errors="replace"))


@FUZZ
@given(
    st.lists(
        st.sampled_from(
            [
                "# Agent: A",
                "**Agent ID:** a",
                "---",
                "```",
                "```toon",
                "triggers[2]{type,pattern}:",
                '  keyword,"a, b"',
                "| Phase | Output |",
                "|---|---|",
                "| 5b (Build) | x, y |",
                "## Triggers",
                "## Deliverables",
                "**Phase 2 (Design):**",
                "- item",
                "  - nested",
                "**Works with:**",
                "- **b** - note",
                "name: a",
                "tools: [x",
                "**Status:** ✅ Active",
                "üéØ",
                "",
                "#",
                "**",
                "|",
                "- **Phase 7:** a, b",
                "key[",
                "[3]{a}:",
                '"unterminated',
                "\t- tabbed",
                "## Tech Stack",
                "## Core Competencies",
                "## Purpose",
                "## Cross-Agent Collaboration",
                "### 1. Sub",
                "**Django:**",
                "- **Primary:** x",
                "| Type | Pattern |",
                "| Keywords | a, b |",
                "| Agent | Why |",
                "~~~",
                "# x #",
            ]
        ),
        max_size=40,
    )
)
def test_shuffled_card_fragments_only_raise_card_error(fragments: list[str]) -> None:
    _parse_or_card_error("\n".join(fragments))


def test_huge_lines_parse_in_linear_time() -> None:
    line = "x" * 2_000_000
    for filler in (
        line,
        "*" * 2_000_000,
        "|" * 2_000_000,
        "# " + " " * 2_000_000 + "x",
        "`" * 2_000_000,
        "- **" + "a" * 2_000_000,
    ):
        card = parse_card(
            f"# Agent: A\n**Agent ID:** a\n{filler}\n## Triggers\n**Keywords:** {filler[:1000]}\n"
        )
        assert card.id == "a"


def test_binary_file_on_disk_is_a_card_error(tmp_path: Path) -> None:
    path = tmp_path / "image.md"
    path.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(CardError, match="binary") as info:
        load_card(path)
    assert info.value.path == str(path)


def test_yaml_bombs_in_front_matter_are_bounded() -> None:
    lines = ["---", "a: &a [x, x, x, x, x, x, x, x, x]"]
    lines += [
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]" for i in range(8)
    ]
    lines += ["name: bomb", "deep: " + "[" * 5000 + "]" * 5000, "---"]
    card = parse_card("\n".join(lines))
    assert card.id == "bomb"


@pytest.mark.parametrize(
    "body",
    [
        "## Triggers\n### Keywords\n- k\n" * 20_000,
        "## Triggers\n**Keywords:** " + ", ".join(f"k{i}" for i in range(50_000)),
        "## Deliverables\n**Phase 2 (Design):**\n"
        + "".join(f"- item {i}\n  - sub {i}\n" for i in range(30_000)),
        "## Tech Stack\n" + "".join(f"### T{i}\n**L{i}:**\n" for i in range(20_000)),
        "## Collaboration\n" + "".join(f"- agent-{i} - note\n" for i in range(30_000)),
        "```toon\n" + "".join(f"k{i}: v\n" for i in range(30_000)) + "```\n",
        "| Phase | Output |\n|---|---|\n" + "".join(f"| 2 (Design) | d{i} |\n" for i in range(30_000)),
    ],
    ids=["sections", "keywords", "deliverables", "tech stack", "collaborators", "toon keys", "table rows"],
)
def test_many_repeated_elements_parse(body: str) -> None:
    """Tens of thousands of repeated elements still give a card (parse speed: benchmarks/bench_cards.py)."""
    assert parse_card(f"# Agent: A\n**Agent ID:** a\n{body}\n").id == "a"
