"""Run state and cassettes hold the project's source and every answer: only their owner may read them."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.checkpoint import open_persistence
from orchestrator.providers import make_provider
from orchestrator.run import Runner, RunOptions
from orchestrator.settings import load_settings

TASK = "Add JWT authentication to the FastAPI notes service"


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual umask 022, which leaves new files world-readable unless phasegraph says otherwise."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_state_file_and_its_wal_and_shm_are_owner_only(project: Path) -> None:
    state = project / ".phasegraph" / "state.sqlite"
    async with open_persistence(None, project) as pers:
        await pers.registry.record("r1", "completed", None, "")
        files = {p.name: mode(p) for p in state.parent.glob("state.sqlite*")}
    assert files == {"state.sqlite": 0o600, "state.sqlite-wal": 0o600, "state.sqlite-shm": 0o600}
    assert mode(state.parent) == 0o700


async def test_a_run_leaves_its_state_folder_owner_only(project: Path) -> None:
    await Runner(load_settings(provider="offline")).start(RunOptions(task=TASK, project_dir=project))
    assert mode(project / ".phasegraph") == 0o700
    assert mode(project / ".phasegraph" / "state.sqlite") == 0o600


async def test_a_run_with_state_in_postgresql_still_makes_its_artifacts_folder_owner_only(
    project: Path, pg_url: str
) -> None:
    await Runner(load_settings(provider="offline", checkpoint_url=pg_url)).start(
        RunOptions(task=TASK, project_dir=project)
    )
    assert not (project / ".phasegraph" / "state.sqlite").exists()
    assert mode(project / ".phasegraph") == 0o700


async def test_a_state_file_named_by_url_is_created_owner_only(tmp_path: Path) -> None:
    state = tmp_path / "elsewhere" / "runs.sqlite"
    async with open_persistence(f"sqlite:///{state}", tmp_path):
        pass
    assert (mode(state), mode(state.parent)) == (0o600, 0o700)


async def test_a_recorded_cassette_is_owner_only(project: Path, tmp_path: Path) -> None:
    cassette = tmp_path / "cassettes" / "run.jsonl"
    settings = load_settings(provider="offline")
    provider = make_provider(settings, record_to=cassette)
    await Runner(settings, provider=provider).start(
        RunOptions(task=TASK, project_dir=project, phases=["design"])
    )
    assert cassette.stat().st_size > 0
    assert mode(cassette) == 0o600


@pytest.mark.parametrize("existing", [0o640, 0o600])
async def test_an_existing_file_keeps_the_mode_its_owner_gave_it(tmp_path: Path, existing: int) -> None:
    state = tmp_path / "state.sqlite"
    state.touch()
    state.chmod(existing)
    async with open_persistence(f"sqlite:///{state}", tmp_path):
        pass
    assert mode(state) == existing
