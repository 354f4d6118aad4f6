"""Catalog: folder precedence, duplicates, lookup, groups, collaborators and lint."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator._resources import builtin_dir
from orchestrator.cards import parse_card
from orchestrator.catalog import Catalog, LintProblem, group_topic
from orchestrator.errors import ConfigError, NotFound


def card_text(
    agent_id: str,
    *,
    name: str | None = None,
    priority: str = "50",
    works_with: tuple[str, ...] = (),
    keywords: str = "",
    deliverables: bool = True,
    extra: str = "",
) -> str:
    lines = [
        f"# Agent: {name or agent_id.replace('-', ' ').title()}",
        "",
        f"**Agent ID:** {agent_id}",
        f"**Priority:** {priority}",
        extra,
        "",
        "## Purpose",
        "",
        f"The {agent_id} agent.",
        "",
    ]
    if keywords:
        lines += ["## Triggers", "", f"**Keywords:** {keywords}", ""]
    if works_with:
        lines += ["## Cross-Agent Collaboration", "", "**Works with:**", *[f"- {w}" for w in works_with], ""]
    if deliverables:
        lines += ["## Deliverables", "", "**Phase 2 (Design):**", "- A plan", ""]
    return "\n".join(lines)


def write(folder: Path, filename: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_catalogue_loads_without_errors_and_holds_the_seed() -> None:
    catalog = Catalog.load()
    assert "backend-python" in catalog
    assert catalog.get("backend-python").name == "Backend Python Developer"
    assert [p for p in catalog.lint() if p.severity == "error"] == []


def test_every_collaborator_of_the_seed_is_in_the_builtin_catalogue() -> None:
    catalog = Catalog.load()
    seed = catalog.get("backend-python")
    assert catalog.resolve_collaborators(seed) == [c.id for c in seed.collaborators]


def test_cards_are_sorted_by_id(tmp_path: Path) -> None:
    for agent_id in ("zeta", "alpha", "mid"):
        write(tmp_path, f"{agent_id}.md", card_text(agent_id))
    catalog = Catalog.load([tmp_path], include_builtin=False)
    assert list(catalog.cards) == ["alpha", "mid", "zeta"]
    assert [c.id for c in catalog] == ["alpha", "mid", "zeta"]
    assert len(catalog) == 3


def test_readme_and_files_that_are_not_cards_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "README.md", "# The catalogue\n\nNo id here.\n")
    write(tmp_path, "notes.txt", "not markdown")
    write(tmp_path, "_template.md", card_text("template"))
    write(tmp_path, "real.md", card_text("real"))
    catalog = Catalog.load([tmp_path], include_builtin=False)
    assert list(catalog.cards) == ["real"]
    assert catalog.problems == []


def test_higher_precedence_folder_overrides_and_the_override_is_recorded(tmp_path: Path) -> None:
    high = write(tmp_path / "high", "backend-python.md", card_text("backend-python", priority="99"))
    catalog = Catalog.load([tmp_path / "high"])
    assert catalog.get("backend-python").priority == 99
    assert [(o.id, o.path) for o in catalog.overrides] == [("backend-python", str(high))]
    assert catalog.overrides[0].shadowed.endswith("backend-python.md")
    assert not any("duplicate" in p.message for p in catalog.lint())


def test_agents_dirs_come_first_then_the_project_then_the_builtins(tmp_path: Path) -> None:
    write(tmp_path / "flag", "a.md", card_text("a", priority="1"))
    write(tmp_path / "project" / "agents", "a.md", card_text("a", priority="2"))
    write(tmp_path / "project" / "agents", "b.md", card_text("b", priority="2"))
    catalog = Catalog.load([tmp_path / "flag"], project_dir=tmp_path / "project")
    assert (catalog.get("a").priority, catalog.get("b").priority) == (1, 2)
    assert catalog.dirs == [tmp_path / "flag", tmp_path / "project" / "agents", builtin_dir("agents")]


def test_a_folder_named_twice_is_searched_once(tmp_path: Path) -> None:
    write(tmp_path, "a.md", card_text("a"))
    catalog = Catalog.load([tmp_path, tmp_path / "."], include_builtin=False)
    assert catalog.dirs == [tmp_path]
    assert catalog.overrides == []


def test_same_id_twice_in_one_folder_is_an_error_naming_both_paths(tmp_path: Path) -> None:
    first = write(tmp_path, "a1.md", card_text("dup"))
    second = write(tmp_path, "a2.md", card_text("dup"))
    catalog = Catalog.load([tmp_path], include_builtin=False)
    assert [str(p) for p in catalog.lint() if p.severity == "error"] == [
        f"{second}:3: duplicate agent id 'dup': already defined in {first}:3; this card is ignored"
    ]
    assert catalog.get("dup").source == str(first)


def test_a_card_that_cannot_be_read_is_a_lint_error_not_an_exception(tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.md", "# Notes\n\nno id anywhere\n")
    write(tmp_path, "ok.md", card_text("ok"))
    catalog = Catalog.load([tmp_path], include_builtin=False)
    assert list(catalog.cards) == ["ok"]
    [problem] = [p for p in catalog.lint() if p.severity == "error"]
    assert (problem.path, problem.line) == (str(broken), 1)
    assert problem.message.startswith("not an agent card: no agent id")


@pytest.mark.parametrize("make", [lambda p: p / "missing", lambda p: write(p, "file.md", "x")])
def test_an_agents_dir_that_is_not_a_folder_is_a_config_error(tmp_path: Path, make: object) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(ConfigError, match=str(path)):
        Catalog.load([path])


def test_get_unknown_id_suggests_the_closest() -> None:
    catalog = Catalog([parse_card(card_text("backend-python")), parse_card(card_text("frontend-react"))])
    with pytest.raises(
        NotFound, match="no agent 'backend-pyton' in the catalogue; did you mean 'backend-python'"
    ):
        catalog.get("backend-pyton")


def test_get_accepts_the_name_and_declared_aliases() -> None:
    card = parse_card("---\nname: devops-cicd\naliases: [cicd]\n---\n# Agent: DevOps Engineer\n")
    catalog = Catalog([card])
    assert catalog.get("DevOps Engineer") is card
    assert catalog.get("cicd") is card
    assert catalog.get("DEVOPS-CICD") is card


def test_cards_given_directly_report_duplicates() -> None:
    catalog = Catalog([parse_card(card_text("a"), "one.md"), parse_card(card_text("a"), "two.md")])
    assert len(catalog) == 1
    assert [p.path for p in catalog.problems] == ["two.md"]


@pytest.mark.parametrize(
    ("group", "topic"),
    [
        ("backend agents", "backend"),
        ("All frontend agents", "frontend"),
        ("all agents", ""),
        ("the QA team", "qa"),
        ("Database specialists", "database"),
        ("front-end developers", "front end"),
    ],
)
def test_group_topic(group: str, topic: str) -> None:
    assert group_topic(group) == topic


@pytest.fixture
def team() -> Catalog:
    return Catalog(
        [
            parse_card(card_text("backend-python", name="Backend Python Developer")),
            parse_card(card_text("backend-node", name="Backend Node Developer")),
            parse_card(card_text("frontend-react", name="Frontend React Developer")),
            parse_card(card_text("mobile-flutter", name="Flutter Developer", extra="**Category:** frontend")),
            parse_card(card_text("database-specialist", name="Database Specialist")),
            parse_card(card_text("qa-automation", name="QA Automation Engineer")),
        ]
    )


@pytest.mark.parametrize(
    ("group", "members"),
    [
        ("backend agents", ["backend-node", "backend-python"]),
        ("all frontend agents", ["frontend-react", "mobile-flutter"]),
        ("front-end team", ["frontend-react", "mobile-flutter"]),
        ("database specialists", ["database-specialist"]),
        ("QA agents", ["qa-automation"]),
        ("python agents", ["backend-python"]),
        (
            "all agents",
            [
                "backend-node",
                "backend-python",
                "database-specialist",
                "frontend-react",
                "mobile-flutter",
                "qa-automation",
            ],
        ),
        ("blockchain agents", []),
    ],
)
def test_group_members(team: Catalog, group: str, members: list[str]) -> None:
    assert team.group_members(group) == members


def test_resolve_collaborators_expands_groups_drops_unknown_self_and_repeats(team: Catalog) -> None:
    card = parse_card(
        card_text(
            "backend-python",
            works_with=(
                "**qa-automation** - tests",
                "**ghost-agent** - never",
                "**All backend agents** - peers",
                "**backend-node** - again",
                "**Database Specialist** - schemas",
            ),
        )
    )
    assert team.resolve_collaborators(card) == ["qa-automation", "backend-node", "database-specialist"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (card_text("a", priority="high"), ["X:4: error: priority 'high' is not a whole number"]),
        (
            card_text("a", works_with=("**ghost** - x",)),
            [
                "X:14: warning: collaborator 'ghost' is not in the "
                "catalogue (2 agents; see `phasegraph agents list`)"
            ],
        ),
        (
            card_text("a", works_with=("**b-agen** - x",)),
            ["X:14: warning: collaborator 'b-agen' is not in the catalogue; did you mean 'b-agent'?"],
        ),
        (
            card_text("a", works_with=("**All mobile agents** - x",)),
            ["X:14: warning: collaborator group 'mobile agents' matches no other agent in the catalogue"],
        ),
        (
            card_text("a", works_with=("**a** - me",)),
            ["X:14: warning: the card lists itself as a collaborator"],
        ),
        (
            card_text("a", deliverables=False),
            [
                "X:3: warning: no deliverables: serves only the phases its role (code) fits, "
                "with their default deliverables"
            ],
        ),
        (
            card_text("a", keywords="`b`, `shared`"),
            ["B:13: warning: same keywords as a (X); only priority can tell the two apart"],
        ),
        (card_text("a") + "\n---\n\n**Agent:** a\n**Version:** 2.0\n" + "", []),
        (
            card_text("a", extra="**Version:** 1.0") + "\n---\n\n**Agent:** a\n**Version:** 2.0\n",
            [
                "X:5: warning: header version '1.0' (line 5) and footer version '2.0' (line 19) disagree; "
                "using the header"
            ],
        ),
    ],
)
def test_lint_reports_problems_as_path_line_severity_message(text: str, expected: list[str]) -> None:
    other = parse_card(card_text("b-agent", keywords="`shared`, `b`"), "B")
    catalog = Catalog([parse_card(text, "X"), other])
    assert [f"{p.path}:{p.line}: {p.severity}: {p.message}" for p in catalog.lint()] == expected


def test_lint_with_pipeline_phases_reports_unreachable_agents_and_unserved_phases() -> None:
    catalog = Catalog([parse_card(card_text("a"), "A")])
    assert [str(p) for p in catalog.lint(["5b", "7"], phases_source="phases/default.yaml")] == [
        "A:3: no deliverables for any pipeline phase (5b, 7); no phase can reach this agent",
        "phases/default.yaml:1: no agent has deliverables for phase 5b",
        "phases/default.yaml:1: no agent has deliverables for phase 7",
    ]


def test_lint_problem_prints_as_path_line_message() -> None:
    problem = LintProblem(path="agents/x.md", line=7, severity="error", message="bad")
    assert str(problem) == "agents/x.md:7: bad"
