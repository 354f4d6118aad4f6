"""Router: how each rule scores, how ties break, tiers, collaborators and plans (fixture cards)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from orchestrator.cards import AgentCard, Collaborator
from orchestrator.catalog import Catalog
from orchestrator.phases import PhaseSpec, Pipeline, load_pipeline
from orchestrator.project import ProjectSnapshot
from orchestrator.routing import Route, Router, no_primary_message, plan, plan_json

DESIGN = load_pipeline().phase("design")
BUILD = load_pipeline().phase("build")
VERIFY = load_pipeline().phase("verify")


def card(
    card_id: str,
    *,
    priority: int | None = 50,
    keywords: Sequence[str] = (),
    triggers: dict[str, list[str]] | None = None,
    name: str | None = None,
    purpose: str = "",
    competencies: Sequence[str] = (),
    tech: Sequence[str] = (),
    works_with: Sequence[str] = (),
    phases: Sequence[str] = ("2", "5b", "7"),
    aliases: Sequence[str] = (),
) -> AgentCard:
    rules = {"keywords": list(keywords)} if keywords else {}
    rules.update(triggers or {})
    return AgentCard(
        id=card_id,
        name=name or card_id.replace("-", " ").title() + " Agent",
        priority=priority,
        purpose=purpose,
        competencies=list(competencies),
        tech_stack=list(tech),
        triggers=rules,
        collaborators=[
            Collaborator(id=w, kind="group" if w.endswith(" agents") else "agent") for w in works_with
        ],
        deliverables={label: [f"{card_id} item for {label}"] for label in phases},
        metadata={"aliases": list(aliases)} if aliases else {},
    )


def snapshot(
    tmp_path: Path, files: Sequence[str] = (), contents: dict[str, str] | None = None
) -> ProjectSnapshot:
    for rel in files:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("", encoding="utf-8")
    for rel, text in (contents or {}).items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    return ProjectSnapshot.scan(tmp_path)


def router(cards: Sequence[AgentCard], snap: ProjectSnapshot | None = None) -> Router:
    return Router(Catalog(cards), snap or ProjectSnapshot(root=Path(os.sep)))


def scores(route: Route) -> dict[str, float]:
    return {c.id: c.score for c in route.candidates}


def reasons(route: Route, card_id: str) -> list[tuple[str, str, str, float]]:
    candidate = next(c for c in route.candidates if c.id == card_id)
    return [(r.trigger, r.pattern, r.matched, r.points) for r in candidate.reasons]


# Task words


def test_explicit_keyword_scores_the_keyword_weight() -> None:
    route = router([card("a", keywords=["schema"])]).route("Change the Schema", DESIGN)
    assert reasons(route, "a") == [("keyword", "schema", "Schema", 5.0)]


def test_keyword_the_tech_stack_names_scores_as_a_tech_mention() -> None:
    route = router([card("a", keywords=["django"], tech=["Django 5"])]).route("A Django view", DESIGN)
    assert reasons(route, "a") == [("tech", "django", "Django", 8.0)]


def test_keyword_that_starts_a_tech_stack_name_is_a_tech_mention() -> None:
    route = router([card("a", keywords=["tailwind"], tech=["Vite + React", "Tailwind CSS"])]).route(
        "Style it with tailwind", DESIGN
    )
    assert reasons(route, "a")[0][0] == "tech"


@pytest.mark.parametrize(
    ("keyword", "task", "hit"),
    [
        ("api", "Make the API faster", True),
        ("api", "A rapid prototype", False),
        ("api", "Document the APIs", True),
        ("test", "Add tests", True),
        ("c", "Port the C++ engine", False),
        ("c++", "Port the C++ engine", True),
        ("c#", "A C# service", True),
        ("node.js", "A Node.js worker", True),
        ("node", "A Node.js worker", True),
        ("node.js", "A node worker", False),
        ("ci/cd", "Set up CI/CD.", True),
        ("ci", "Set up CI/CD.", True),
        (".net", "Move to .NET 8", True),
        ("end-to-end", "end to end tests", True),
        ("github actions", "Use GitHub  Actions", True),
        ("github actions", "GitHub and Actions", False),
        ("k8s", "Deploy on K8s", True),
    ],
)
def test_keywords_match_whole_words_case_insensitively(keyword: str, task: str, hit: bool) -> None:
    route = router([card("a", keywords=[keyword])]).route(task, DESIGN)
    assert (route.primary == "a") is hit


def test_overlapping_keywords_count_the_longest_once() -> None:
    route = router([card("a", keywords=["api", "rest api"])]).route("Design the REST API", DESIGN)
    assert reasons(route, "a") == [("keyword", "rest api", "REST API", 5.0)]


def test_same_keyword_repeated_in_the_task_counts_once() -> None:
    route = router([card("a", keywords=["migration", "migrations"])]).route(
        "Migrations: write the migration", DESIGN
    )
    assert scores(route)["a"] == 5.0


def test_each_further_match_in_a_group_earns_half_the_one_before() -> None:
    route = router([card("a", keywords=["alpha", "beta", "gamma"])]).route("alpha beta gamma", DESIGN)
    assert [r[3] for r in reasons(route, "a")] == [5.0, 2.5, 1.25]


def test_unknown_task_trigger_type_matches_task_words_under_its_own_name() -> None:
    route = router([card("a", triggers={"languages": ["kotlin"]})]).route("A Kotlin app", DESIGN)
    assert reasons(route, "a") == [("languages", "kotlin", "Kotlin", 5.0)]


# Naming an agent


@pytest.mark.parametrize(
    "task",
    ["Ask security-expert to look", "@security-expert please", "Have the Security Expert look", "Ask appsec"],
)
def test_naming_an_agent_by_id_name_or_alias_scores_highest(task: str) -> None:
    cards = [
        card("security-expert", name="Security Expert", aliases=["appsec"], priority=10),
        card("backend", keywords=["look", "ask", "please", "have"], tech=["Look"], priority=99),
    ]
    route = router(cards).route(task, DESIGN)
    assert route.primary == "security-expert"
    assert reasons(route, "security-expert")[0][0] == "agent"


def test_an_agent_named_twice_counts_once_and_its_words_are_not_counted_again() -> None:
    cards = [card("security-expert", name="Security Expert", keywords=["security"])]
    route = router(cards).route("security-expert, the Security Expert, on security", DESIGN)
    assert [r[0] for r in reasons(route, "security-expert")] == ["agent", "keyword"]
    assert scores(route)["security-expert"] == 35.0


def test_at_mention_names_a_single_word_id() -> None:
    route = router([card("qa", priority=1), card("other", priority=99)]).route("@qa take this", DESIGN)
    assert route.primary == "qa"


def test_naming_an_agent_beats_the_most_any_other_card_can_collect(tmp_path: Path) -> None:
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    rich = card(
        "rich", keywords=words, tech=words, purpose=" ".join(words), triggers={"file_patterns": ["*.py"]}
    )
    named = card("named-one", priority=1)
    snap = snapshot(tmp_path, ["a.py"])
    route = router([rich, named], snap).route("named-one: " + " ".join(words), DESIGN)
    assert route.primary == "named-one"


# Implied terms


def test_card_without_triggers_is_reached_by_its_stated_tech_and_implied_terms() -> None:
    v1 = card("go-backend", name="Go Backend Developer", purpose="Writes Go services with Gin.", tech=["Gin"])
    route = router([v1, card("other")]).route("A Gin handler in Go", DESIGN)
    assert route.primary == "go-backend"
    assert {r[0] for r in reasons(route, "go-backend")} == {"stated:tech", "implied:id"}


def test_implied_word_shared_by_more_cards_counts_less() -> None:
    cards = [
        card("a", purpose="Kafka streaming and Spark."),
        card("b", purpose="Spark jobs."),
        card("c", purpose="Spark clusters."),
    ]
    route = router(cards).route("Tune Kafka", DESIGN)
    assert scores(route)["a"] == 1.0
    route = router(cards).route("Tune Spark", DESIGN)
    assert scores(route)["a"] == pytest.approx(0.33)


def test_stop_words_are_never_implied_terms() -> None:
    route = router([card("a", purpose="An expert who builds the best things with care.")]).route(
        "The expert builds the best things", DESIGN
    )
    assert scores(route)["a"] == 0.0


def test_one_explicit_keyword_beats_every_implied_term() -> None:
    words = "ledger payments invoices refunds settlement"
    implied = card("implied", name="Money", purpose=words, competencies=[words])
    explicit = card("explicit", keywords=["refunds"], priority=1)
    route = router([implied, explicit]).route("ledger payments invoices refunds settlement", DESIGN)
    assert route.primary == "explicit"


# Project signals


@pytest.mark.parametrize(
    ("triggers", "files", "contents", "trigger", "matched"),
    [
        ({"file_patterns": ["*.sql"]}, ["db/init.sql"], {}, "file", "db/init.sql"),
        ({"file_patterns": ["manage.py"]}, ["app/manage.py"], {}, "file", "app/manage.py"),
        (
            {"structure": ["migrations/"]},
            ["app/migrations/0001.py"],
            {},
            "structure",
            "app/migrations/0001.py",
        ),
        (
            {"imports": ["sqlalchemy"]},
            [],
            {"app/db.py": "from sqlalchemy import select\n"},
            "import",
            "sqlalchemy",
        ),
        (
            {"imports": ["react"]},
            [],
            {"package.json": '{"dependencies": {"react": "19"}}'},
            "import",
            "react",
        ),
        ({"config": ["alembic.ini"]}, ["alembic.ini"], {}, "config", "alembic.ini"),
        ({"config": ["pytest"]}, [], {"pyproject.toml": "[tool.pytest.ini_options]\n"}, "config", "pytest"),
        ({"config": ["docs/conf.py"]}, ["docs/conf.py"], {}, "config", "docs/conf.py"),
        ({"scripts": ["uvicorn"]}, [], {"Procfile": "web: uvicorn app:app\n"}, "script", "uvicorn"),
        ({"scripts": ["dbt run"]}, [], {"Makefile": "models:\n\tdbt run --select x\n"}, "script", "dbt run"),
    ],
)
def test_project_triggers_match_the_snapshot(
    tmp_path: Path,
    triggers: dict[str, list[str]],
    files: list[str],
    contents: dict[str, str],
    trigger: str,
    matched: str,
) -> None:
    route = router([card("a", triggers=triggers)], snapshot(tmp_path, files, contents)).route(
        "anything", DESIGN
    )
    assert [(r[0], r[2]) for r in reasons(route, "a")] == [(trigger, matched)]


def test_project_signal_alone_picks_the_primary(tmp_path: Path) -> None:
    cards = [
        card("python", triggers={"file_patterns": ["*.py"]}),
        card("web", triggers={"file_patterns": ["*.tsx"]}),
    ]
    route = router(cards, snapshot(tmp_path, ["app/main.py"])).route("Tidy things up", DESIGN)
    assert route.primary == "python"


def test_a_task_keyword_for_another_agent_beats_every_project_signal(tmp_path: Path) -> None:
    project_rules = {
        "file_patterns": ["*.py", "manage.py", "pyproject.toml"],
        "imports": ["django"],
        "config": ["pytest"],
        "scripts": ["gunicorn"],
        "structure": ["apps/"],
    }
    files = {
        "manage.py": "import django\n",
        "apps/x.py": "",
        "pyproject.toml": "[tool.pytest.ini_options]\n",
        "Procfile": "web: gunicorn x\n",
    }
    cards = [
        card("python", triggers=project_rules, priority=99),
        card("cache", keywords=["redis"], priority=1),
    ]
    route = router(cards, snapshot(tmp_path, contents=files)).route("Add Redis caching", DESIGN)
    assert route.primary == "cache"
    assert 3.0 < scores(route)["python"] < 5.0


def test_the_same_project_file_counts_once(tmp_path: Path) -> None:
    cards = [card("db", triggers={"file_patterns": ["alembic.ini"], "config": ["alembic.ini"]})]
    route = router(cards, snapshot(tmp_path, ["alembic.ini"])).route("x", DESIGN)
    assert reasons(route, "db") == [("file", "alembic.ini", "alembic.ini", 2.0)]


def test_router_does_not_touch_the_disk_when_routing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    routing = router([card("a", triggers={"file_patterns": ["*.py"]})], snapshot(tmp_path, ["a.py"]))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the project was read again")

    monkeypatch.setattr(os, "scandir", refuse)
    monkeypatch.setattr(ProjectSnapshot, "scan", refuse)
    assert routing.route("anything", DESIGN).primary == "a"


# Ranking, tiers and phases


def test_equal_scores_are_ordered_by_priority_then_id() -> None:
    cards = [
        card("b", keywords=["x"], priority=50),
        card("a", keywords=["x"], priority=50),
        card("c", keywords=["x"], priority=90),
    ]
    route = router(cards).route("x", DESIGN)
    assert [c.id for c in route.candidates] == ["c", "a", "b"]
    assert route.primary == "c"


def test_card_without_priority_ranks_after_cards_with_one() -> None:
    route = router([card("a", keywords=["x"], priority=None), card("z", keywords=["x"], priority=0)]).route(
        "x", DESIGN
    )
    assert [c.id for c in route.candidates] == ["z", "a"]


def test_higher_score_wins_over_higher_priority() -> None:
    cards = [card("low", keywords=["x", "y"], priority=1), card("high", keywords=["x"], priority=99)]
    assert router(cards).route("x y", DESIGN).primary == "low"


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("alpha beta", {"top": "primary", "second": "secondary", "third": "optional", "fourth": "none"}),
    ],
)
def test_tiers_follow_the_documented_thresholds(task: str, expected: dict[str, str]) -> None:
    cards = [
        card("top", keywords=["alpha", "beta"]),
        card("second", keywords=["alpha"]),
        card("third", purpose="alpha"),
        card("fourth"),
    ]
    route = router(cards).route(task, DESIGN)
    assert {c.id: c.tier for c in route.candidates} == expected


def test_only_cards_serving_the_phase_are_candidates() -> None:
    cards = [card("builder", keywords=["x"], phases=["5b"]), card("designer", keywords=["y"], phases=["2"])]
    route = router(cards).route("x y", DESIGN)
    assert [c.id for c in route.candidates] == ["designer"]


def test_phase_whose_cards_match_nothing_falls_back_to_its_best_ranked_card_when_the_task_matched() -> None:
    cards = [
        card("builder", keywords=["x"], phases=["5b"]),
        card("writer-low", phases=["2"], priority=10),
        card("writer-high", phases=["2"], priority=60),
    ]
    route = router(cards).route("x", DESIGN)
    assert route.primary == "writer-high"
    assert [c.tier for c in route.candidates] == ["primary", "none"]


def test_without_any_match_in_the_catalogue_there_is_no_fallback() -> None:
    cards = [card("builder", keywords=["x"], phases=["5b"]), card("writer", phases=["2"])]
    assert router(cards).route("y", DESIGN).primary is None


def test_phase_nobody_serves_has_no_primary_and_says_why() -> None:
    route = router([card("a", keywords=["x"], phases=["2"])]).route("x", VERIFY)
    assert (route.primary, route.candidates) == (None, [])
    assert no_primary_message(route, VERIFY) == (
        "phase verify (7): no agent serves this phase (no card lists deliverables for 7)"
    )


def test_task_that_matches_nothing_has_no_primary() -> None:
    route = router([card("a", keywords=["x"]), card("b", purpose="databases")]).route("Write a haiku", DESIGN)
    assert route.primary is None
    assert {c.tier for c in route.candidates} == {"none"}
    assert "no agent matched the task" in (no_primary_message(route, DESIGN) or "")


def test_reason_points_add_up_to_the_score(tmp_path: Path) -> None:
    cards = [
        card(
            "a",
            keywords=["alpha", "beta", "gamma"],
            purpose="delta epsilon",
            triggers={"file_patterns": ["*.py"]},
        )
    ]
    route = router(cards, snapshot(tmp_path, ["x.py"])).route("alpha beta gamma delta epsilon", DESIGN)
    candidate = route.candidates[0]
    assert candidate.score == round(sum(r.points for r in candidate.reasons), 2)


# Collaborators


def test_collaborators_are_works_with_cards_serving_the_phase_best_score_first() -> None:
    cards = [
        card("lead", keywords=["x", "z"], works_with=["slow", "fast", "absent", "designer-only", "lead"]),
        card("slow", priority=90),
        card("fast", keywords=["y"], priority=10),
        card("designer-only", phases=["2"]),
        card("outsider", keywords=["y"]),
    ]
    route = router(cards).route("x y z", BUILD)
    assert route.primary == "lead"
    assert route.collaborators == ["fast", "slow"]


def test_collaborator_groups_are_resolved_through_the_catalogue() -> None:
    cards = [
        card("architect", keywords=["x"], works_with=["backend agents"]),
        card("backend-python", priority=90),
        card("backend-node", priority=80),
        card("frontend-react"),
    ]
    assert router(cards).route("x", DESIGN).collaborators == ["backend-python", "backend-node"]


def test_no_primary_means_no_collaborators() -> None:
    route = router([card("a", works_with=["b"]), card("b")]).route("nothing", DESIGN)
    assert (route.primary, route.collaborators) == (None, [])


# Output


def test_route_json_has_exactly_the_documented_keys() -> None:
    route = router([card("a", keywords=["x"])]).route("x", DESIGN)
    data = route.model_dump(mode="json")
    assert list(data) == [
        "phase",
        "primary",
        "collaborators",
        "required_collaborators",
        "chosen_by",
        "note",
        "candidates",
    ]
    assert list(data["candidates"][0]) == [
        "id",
        "score",
        "priority",
        "tier",
        "reasons",
        "origin",
        "default_deliverables",
    ]
    assert list(data["candidates"][0]["reasons"][0]) == ["trigger", "pattern", "matched", "points"]


def test_route_is_identical_on_every_run(tmp_path: Path) -> None:
    snap = snapshot(tmp_path, ["a.py", "b.sql"])
    cards = [
        card(
            f"agent-{i}",
            keywords=["x", f"k{i % 3}"],
            purpose=f"w{i % 4}",
            triggers={"file_patterns": ["*.py"]},
        )
        for i in range(12)
    ]
    first = router(cards, snap).route("x k1 w2", DESIGN).model_dump_json()
    again = (
        router(list(reversed(cards)), ProjectSnapshot.scan(tmp_path))
        .route("x k1 w2", DESIGN)
        .model_dump_json()
    )
    assert first == again


def test_plan_gives_every_phase_its_primary_collaborators_and_deliverables() -> None:
    cards = [card("lead", keywords=["x"], works_with=["helper"]), card("helper", phases=["5b"])]
    planned = plan(router(cards), "x", load_pipeline())
    assert [(p.phase, p.label, p.primary, p.collaborators) for p in planned] == [
        ("design", "2", "lead", []),
        ("build", "5b", "lead", ["helper"]),
        ("verify", "7", "lead", []),
    ]
    assert planned[1].deliverables == {"lead": ["lead item for 5b"], "helper": ["helper item for 5b"]}


def test_plan_reports_a_phase_nobody_serves_instead_of_skipping_it() -> None:
    planned = plan(router([card("a", keywords=["x"], phases=["2", "5b"])]), "x", load_pipeline())
    verify = planned[2]
    assert (verify.phase, verify.primary, verify.deliverables) == ("verify", None, {})
    assert verify.message is not None and "no agent serves" in verify.message


def test_plan_json_has_the_pipeline_and_exactly_the_documented_phase_keys() -> None:
    pipeline = Pipeline(
        name="one",
        phases=[PhaseSpec(key="design", label="2", name="D", purpose="p", order=1, collects=["2"])],
    )
    data = plan_json(pipeline, plan(router([card("a", keywords=["x"])]), "x", pipeline))
    assert json.loads(json.dumps(data)) == {
        "pipeline": "one",
        "phases": [
            {
                "phase": "design",
                "label": "2",
                "primary": "a",
                "collaborators": [],
                "required_collaborators": [],
                "deliverables": {"a": ["a item for 2"]},
                "checks": [],
                "checks_note": "",
                "checks_python": "",
            }
        ],
    }


def test_phase_affinity_tips_a_close_call_towards_the_phase_specialist(tmp_path: Path) -> None:
    router = Router(Catalog.load(), ProjectSnapshot.scan(tmp_path))
    verify = load_pipeline("default").phase("verify")
    route = router.route("Build the billing API and check it with pytest", verify)
    qa = next(c for c in route.candidates if c.id == "qa-automation")
    assert [r.pattern for r in qa.reasons if r.trigger.startswith("phase:")] == ["tests"]


def test_phase_affinity_alone_never_picks_a_card(tmp_path: Path) -> None:
    route = Router(Catalog.load(), ProjectSnapshot.scan(tmp_path)).route(
        "Write a haiku about autumn", load_pipeline("default").phase("verify")
    )
    assert route.primary is None
    assert all(not r.trigger.startswith("phase:") for c in route.candidates for r in c.reasons)
