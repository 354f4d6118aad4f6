"""The cards people bring: every card can serve, user cards first, a floor for the primary,
required collaborators, and the routing evaluation's quality gate."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from benchmarks.bench_routing_eval import EVAL_DIR, evaluate
from orchestrator._resources import builtin_dir
from orchestrator.cards import AgentCard, Collaborator
from orchestrator.catalog import Catalog
from orchestrator.phases import card_deliverables, load_pipeline, serves
from orchestrator.project import ProjectSnapshot
from orchestrator.routing import Router, plan

FULL = load_pipeline("full")
EMPTY = ProjectSnapshot(root=Path(os.sep))
GEN1 = EVAL_DIR / "gen1_seed"


@pytest.fixture(scope="module")
def gen1_router() -> Router:
    return Router(Catalog.load([GEN1]), EMPTY)


@pytest.mark.parametrize(
    ("task", "phase", "primary", "trigger"),
    [
        (
            "Write a Laravel Eloquent model and migration for invoices",
            "design",
            "backend-laravel",
            "stated:tech",
        ),
        (
            "Write a Laravel Eloquent model and migration for invoices",
            "build",
            "backend-laravel",
            "stated:tech",
        ),
        ("Add a Gin HTTP handler to our Go microservice", "build", "backend-go", "tech"),
        ("Add a Gin HTTP handler to our Go microservice", "design", "backend-go", "tech"),
    ],
)
def test_the_issues_examples_route_to_the_users_card(
    gen1_router: Router, task: str, phase: str, primary: str, trigger: str
) -> None:
    route = gen1_router.route(task, FULL.phase(phase))
    assert route.primary == primary
    top = route.candidates[0]
    assert (top.origin, top.default_deliverables, route.chosen_by) == ("user", True, "evidence")
    assert trigger in {r.trigger for r in top.reasons}


def test_a_card_without_deliverables_delivers_the_phases_defaults(gen1_router: Router) -> None:
    card = gen1_router.catalog.cards["backend-laravel"]
    assert card_deliverables(card, FULL.phase("design")) == ["Design notes", "Interfaces and data", "Risks"]
    assert card_deliverables(card, FULL.phase("verify")) == ["Test plan", "Test results"]


def test_a_notification_card_serves_share_and_never_leads_build(gen1_router: Router) -> None:
    card = gen1_router.catalog.cards["slack-notifier"]
    assert [p.key for p in FULL.phases if serves(card, p)] == ["share"]
    route = gen1_router.route("Send a Slack notification from the build", FULL.phase("build"))
    assert "slack-notifier" not in {c.id for c in route.candidates}


def test_a_card_that_lists_deliverables_serves_only_the_phases_it_lists() -> None:
    catalog = Catalog.load([EVAL_DIR / "gen2_toon"], include_builtin=False)
    card = catalog.cards["release-manager"]
    assert [p.key for p in FULL.phases if serves(card, p)] == ["share"]


def test_every_card_of_every_generation_serves_some_phase() -> None:
    assert all(not result.idle_cards for result in evaluate())


def test_routing_evaluation_reaches_ninety_percent_on_every_catalogue() -> None:
    """The quality gate: benchmarks/routing_eval/cases.yaml, top-1 accuracy per catalogue."""
    results = evaluate()
    assert {r.name for r in results} == {"gen1_seed", "gen2_toon", "gen3_frontmatter", "builtin"}
    assert sum(r.total for r in results) >= 60
    for result in results:
        assert result.accuracy >= 0.9, (result.name, result.misses)


def test_a_user_card_wins_a_tie_against_a_builtin_whatever_its_priority(tmp_path: Path) -> None:
    text = (builtin_dir("agents") / "backend-python.md").read_text(encoding="utf-8")
    mine = text.replace("**Agent ID:** backend-python", "**Agent ID:** my-python").replace(
        "**Priority:** 90", "**Priority:** 1"
    )
    (tmp_path / "my-python.md").write_text(mine.replace("# Agent: Backend Python Developer", "# Agent: Mine"))
    router = Router(Catalog.load([tmp_path]), EMPTY)
    below = router.route("Tidy the serializers", FULL.phase("build"))
    first, second = below.candidates[:2]
    assert (first.id, first.origin) == ("my-python", "user")
    assert (second.id, second.origin) == ("backend-python", "builtin")
    assert first.score == second.score < 3
    above = router.route("Add a FastAPI endpoint", FULL.phase("build"))
    assert [c.id for c in above.candidates[:2]] == ["my-python", "backend-python"]


def test_without_builtins_the_users_catalogue_serves_alone() -> None:
    catalog = Catalog.load([GEN1], include_builtin=False)
    planned = plan(Router(catalog, EMPTY), "Add a Gin HTTP handler to our Go microservice", load_pipeline())
    assert [(p.phase, p.primary) for p in planned] == [
        ("design", "backend-go"),
        ("build", "backend-go"),
        ("verify", "backend-go"),
    ]
    assert planned[0].deliverables == {"backend-go": ["Design notes", "Interfaces and data", "Risks"]}


def card(
    card_id: str, *, purpose: str = "", labels: tuple[str, ...] = (), works_with: tuple[str, ...] = ()
) -> AgentCard:
    return AgentCard(
        id=card_id,
        name=card_id.title(),
        priority=50,
        purpose=purpose,
        triggers={"keywords": [card_id]},
        deliverables={label: [f"{card_id} {label}"] for label in labels},
        collaborators=[Collaborator(id=w, kind="agent") for w in works_with],
    )


def test_below_the_floor_the_phase_fallback_prefers_the_phases_own_specialist() -> None:
    wanderer = AgentCard(id="wanderer", name="Wanderer", purpose="Components for the app.")
    specialist = card("specialist", purpose="Reviews components.", labels=("2",))
    route = Router(Catalog([wanderer, specialist]), EMPTY).route(
        "Tidy the app components", FULL.phase("design")
    )
    scores = {c.id: c.score for c in route.candidates}
    assert scores["wanderer"] > scores["specialist"] and scores["wanderer"] < 3
    assert (route.primary, route.chosen_by) == ("specialist", "fallback")
    assert "below the floor of 3" in route.note and "lists deliverables for this phase" in route.note


def test_at_the_floor_the_primary_is_chosen_by_evidence() -> None:
    a = card("alpha", labels=("2",))
    route = Router(Catalog([a, card("beta", labels=("2",))]), EMPTY).route("alpha", FULL.phase("design"))
    assert (route.primary, route.chosen_by, route.note) == ("alpha", "evidence", "")


def test_collaborators_the_task_points_at_are_required_and_the_rest_optional() -> None:
    cards = [
        card("lead", labels=("2",), works_with=("db", "sec")),
        card("db", labels=("2",)),
        AgentCard(id="sec", name="Sec", purpose="Threat models.", deliverables={"2": ["Threat model"]}),
    ]
    cards[0].triggers["keywords"].append("plan")
    route = Router(Catalog(cards), EMPTY).route("lead the plan, db and threat models", FULL.phase("design"))
    assert route.primary == "lead"
    assert route.collaborators == ["db", "sec"]
    assert route.required_collaborators == ["db"]
    planned = plan(Router(Catalog(cards), EMPTY), "lead the plan, db", load_pipeline())
    assert planned[0].required_collaborators == ["db"]


def test_the_same_inputs_give_the_same_route_byte_for_byte(tmp_path: Path) -> None:
    shutil.copytree(GEN1, tmp_path / "cards")
    task = "Write a Laravel Eloquent model and migration for invoices"
    first = Router(Catalog.load([GEN1]), EMPTY).route(task, FULL.phase("build"))
    again = Router(Catalog.load([tmp_path / "cards"]), EMPTY).route(task, FULL.phase("build"))
    assert first.model_dump_json() == again.model_dump_json()


@pytest.mark.parametrize(
    ("task", "stated"),
    [
        ("Post the summary to Slack", {"slack"}),
        ("Add a Swift package", {"swift"}),
        ("Refactor the core module", set()),
        ("Upgrade the Apache config", set()),
        ("Call the Slack Web API", {"slack web api"}),
    ],
)
def test_a_multi_word_technology_also_matches_its_leading_name(task: str, stated: set[str]) -> None:
    mine = AgentCard(
        id="mine",
        name="Mine",
        tech_stack=["Slack Web API", "Swift Package Manager", "Core Data", "Apache Airflow"],
    )
    route = Router(Catalog([mine]), EMPTY).route(task, FULL.phase("build"))
    assert {r.pattern for r in route.candidates[0].reasons if r.trigger == "stated:tech"} == stated
