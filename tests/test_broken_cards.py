"""A card that cannot be loaded stops whatever routes: run, verify, plan, route (CLI and API).

Silently routing around a card the user wrote picks other agents and spends money without a
word, so the first broken card is `PATH:LINE: message` and exit 2, before any model call.
`agents list`, `agents show` and `agents lint` still load such a catalogue: they are how the
user finds and fixes it. A file not meant as a card is left out by its name (`_draft.md`,
`README.md`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator import Orchestrator
from orchestrator.errors import CardError
from tests.test_catalog import card_text

TASK = "Add JWT authentication to the FastAPI notes service"
BROKEN = "# Agent: Broken\n\n**Agent ID:** !!!\n"
"""A card whose id (line 3) has no letters or digits."""
BROKEN_MESSAGE = "3: agent id '!!!' has no letters or digits — fix it, or name it _broken.md to leave it out"

pytestmark = pytest.mark.usefixtures("clean_env")


@pytest.fixture
def cards(tmp_path: Path) -> Path:
    """The user's own card folder: one good card and one broken one."""
    folder = tmp_path / "my-agents"
    folder.mkdir()
    (folder / "jwt-expert.md").write_text(card_text("jwt-expert", keywords="jwt, authentication"))
    (folder / "broken.md").write_text(BROKEN)
    return folder


COMMANDS = {
    "run": ["run", TASK],
    "verify": ["verify"],
    "plan": ["plan", TASK],
    "route": ["route", TASK],
}


@pytest.mark.parametrize("command", list(COMMANDS.values()), ids=list(COMMANDS))
def test_a_broken_card_in_agents_dir_stops_the_command_with_path_and_line(
    run_cli: Any, project: Path, cards: Path, command: list[str]
) -> None:
    code, out, err = run_cli(*command, "--project-dir", str(project), "--agents-dir", str(cards))
    assert code == 2 and out == ""
    assert err == f"phasegraph: error: {cards / 'broken.md'}:{BROKEN_MESSAGE}\n"
    assert not (project / ".phasegraph").exists()


def test_a_broken_card_in_the_projects_agents_folder_stops_a_run(run_cli: Any, project: Path) -> None:
    (project / "agents").mkdir()
    (project / "agents" / "broken.md").write_text(BROKEN)
    code, _, err = run_cli("run", TASK, "--project-dir", str(project))
    assert code == 2
    assert err == f"phasegraph: error: {project / 'agents' / 'broken.md'}:{BROKEN_MESSAGE}\n"


def test_a_broken_card_named_in_the_environment_stops_a_run(
    run_cli: Any, project: Path, cards: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHASEGRAPH_AGENTS_DIRS", str(cards))
    code, _, err = run_cli("run", TASK, "--project-dir", str(project))
    assert code == 2 and "broken.md:3: agent id '!!!'" in err


def test_the_same_id_twice_in_one_folder_stops_a_run(run_cli: Any, project: Path, tmp_path: Path) -> None:
    folder = tmp_path / "dups"
    folder.mkdir()
    (folder / "a.md").write_text(card_text("jwt-expert"))
    (folder / "b.md").write_text(card_text("jwt-expert"))
    code, _, err = run_cli("plan", TASK, "--project-dir", str(project), "--agents-dir", str(folder))
    assert code == 2
    assert err.startswith(
        f"phasegraph: error: {folder / 'b.md'}:3: duplicate agent id 'jwt-expert': "
        f"already defined in {folder / 'a.md'}:3"
    )


def test_every_broken_card_is_counted_in_the_one_line(run_cli: Any, project: Path, cards: Path) -> None:
    (cards / "more.md").write_text("just notes, no card\n")
    code, _, err = run_cli("plan", TASK, "--project-dir", str(project), "--agents-dir", str(cards))
    assert code == 2
    assert err.endswith("to leave it out (1 more: `phasegraph agents lint`)\n")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("name", ["_broken.md", "README.md", "broken.txt"])
def test_a_file_not_meant_as_a_card_is_left_out_by_its_name(
    run_cli: Any, project: Path, cards: Path, name: str
) -> None:
    (cards / "broken.md").rename(cards / name)
    code, _, _ = run_cli("run", TASK, "--project-dir", str(project), "--agents-dir", str(cards), "-q")
    assert code == 0


def test_agents_list_and_lint_still_show_a_catalogue_with_a_broken_card(run_cli: Any, cards: Path) -> None:
    code, out, err = run_cli("agents", "list", "--agents-dir", str(cards))
    assert code == 0 and "jwt-expert" in out
    assert "1 file(s) could not be read as cards" in err
    code, out, _ = run_cli("agents", "lint", "--agents-dir", str(cards))
    assert code == 1
    assert f"{cards / 'broken.md'}:3: error: agent id '!!!' has no letters or digits" in out


@pytest.mark.parametrize("method", ["run", "plan", "route"])
def test_the_api_raises_the_card_error_before_any_model_call(project: Path, cards: Path, method: str) -> None:
    orchestrator = Orchestrator(provider="offline", agents_dirs=[cards])
    with pytest.raises(CardError) as info:
        getattr(orchestrator, method)(TASK, project)
    assert (info.value.path, info.value.line) == (str(cards / "broken.md"), 3)
    assert not (project / ".phasegraph").exists()


def test_the_api_catalogue_still_loads_with_its_problems(project: Path, cards: Path) -> None:
    catalog = Orchestrator(agents_dirs=[cards]).catalog(project)
    assert "jwt-expert" in catalog
    assert [(p.path, p.line) for p in catalog.problems] == [(str(cards / "broken.md"), 3)]
