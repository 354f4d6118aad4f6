"""The routing benchmark builds what it says it builds, and runs end to end."""

from __future__ import annotations

from pathlib import Path

from benchmarks.bench_routing import generate_cards, generate_tree, main


def test_generated_tree_has_the_requested_number_of_files(tmp_path: Path) -> None:
    counts = generate_tree(tmp_path, 500, seed=1)
    assert counts["total files"] == 500 == sum(1 for p in tmp_path.rglob("*") if p.is_file())


def test_generated_cards_are_two_thirds_triggered_and_all_serve_the_default_phases() -> None:
    cards = generate_cards(30, seed=1)
    assert sum(1 for c in cards if c.triggers) == 20
    assert all({"2", "5b", "7"} <= set(c.deliverables) for c in cards)
    assert generate_cards(30, seed=1) == cards


def test_benchmark_writes_a_markdown_table(tmp_path: Path) -> None:
    out = tmp_path / "routing.md"
    assert (
        main(["--cards", "20", "--files", "300", "--routes", "5", "--repeats", "1", "--out", str(out)]) == 0
    )
    table = out.read_text(encoding="utf-8")
    assert "| ProjectSnapshot.scan |" in table and "| route, median |" in table
