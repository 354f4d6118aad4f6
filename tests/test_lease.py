"""The run lease on SQLite and PostgreSQL: one holder, refusal naming it, release, takeover, renewal."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pytest

from orchestrator.checkpoint import open_persistence
from orchestrator.errors import RunLocked
from orchestrator.lease import run_lease, this_node
from orchestrator.registry import Holder, Owner

HOLDER_SCRIPT = Path(__file__).parent / "_lease_holder.py"
ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


@pytest.fixture(params=["sqlite", "postgresql"])
def checkpoint_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same tests on the project's SQLite file and on the local PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.sqlite'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def new_run_id() -> str:
    return "lease-" + secrets.token_hex(4)


def dead_pid() -> int:
    """The pid of a process of this host that has exited (and been reaped)."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(done.stdout)


def always(holder: Holder, now: float) -> bool:
    return True


async def plant(pers: object, run_id: str, owner: Owner, ttl: float) -> None:
    """Put `owner` in the lease row, whoever holds it: another process's lease, as the table holds it."""
    await pers.registry.claim(run_id, owner, ttl, always)  # type: ignore[attr-defined]


async def test_a_second_writer_is_refused_with_the_holder_named(checkpoint_url: str, tmp_path: Path) -> None:
    run_id = new_run_id()
    async with open_persistence(checkpoint_url, tmp_path) as pers, run_lease(pers.registry, run_id):
        with pytest.raises(RunLocked) as refused:
            async with run_lease(pers.registry, run_id):
                pytest.fail("a second writer got the lease")
    host = re.escape(socket.gethostname())
    assert re.fullmatch(
        rf"run {run_id} is being advanced by {os.getpid()} on {host} since {ISO_UTC}", str(refused.value)
    )
    assert refused.value.exit_code == 2


@pytest.mark.parametrize("ending", ["returns", "raises"])
async def test_the_lease_is_released_when_the_holder_is_done(
    checkpoint_url: str, tmp_path: Path, ending: str
) -> None:
    run_id = new_run_id()
    async with open_persistence(checkpoint_url, tmp_path) as pers:
        with pytest.raises(ValueError) if ending == "raises" else nullcontext():
            async with run_lease(pers.registry, run_id):
                if ending == "raises":
                    raise ValueError("the run failed")
        assert await pers.registry.holder(run_id) is None
        async with run_lease(pers.registry, run_id) as again:
            assert again.pid == os.getpid()


async def test_a_lease_whose_process_died_on_this_host_is_taken_over(
    checkpoint_url: str, tmp_path: Path
) -> None:
    run_id = new_run_id()
    gone = dead_pid()
    async with open_persistence(checkpoint_url, tmp_path) as pers:
        await plant(pers, run_id, Owner("dead", gone, socket.gethostname(), this_node()), ttl=3600)
        async with run_lease(pers.registry, run_id) as mine:
            assert (mine.pid, mine.token) != (gone, "dead")
            current = await pers.registry.holder(run_id)
            assert current is not None and current.token == mine.token


async def test_an_expired_lease_from_another_host_is_taken_over(checkpoint_url: str, tmp_path: Path) -> None:
    run_id = new_run_id()
    async with open_persistence(checkpoint_url, tmp_path) as pers:
        await plant(pers, run_id, Owner("old", 4242, "build-7", "another-node"), ttl=-1)
        async with run_lease(pers.registry, run_id) as mine:
            assert mine.pid == os.getpid()


async def test_a_live_lease_from_another_host_is_respected_even_if_its_pid_is_unused_here(
    checkpoint_url: str, tmp_path: Path
) -> None:
    run_id = new_run_id()
    async with open_persistence(checkpoint_url, tmp_path) as pers:
        await plant(pers, run_id, Owner("far", dead_pid(), "build-7", "another-node"), ttl=3600)
        with pytest.raises(
            RunLocked, match=rf"^run {run_id} is being advanced by \d+ on build-7 since {ISO_UTC}$"
        ):
            async with run_lease(pers.registry, run_id):
                pytest.fail("took a live lease from another host")


async def test_the_holder_renews_its_lease_while_it_holds_it(checkpoint_url: str, tmp_path: Path) -> None:
    run_id = new_run_id()
    async with (
        open_persistence(checkpoint_url, tmp_path) as pers,
        run_lease(pers.registry, run_id, ttl=600, renew_every=0.01) as mine,
    ):
        current = mine
        for _ in range(1000):
            await asyncio.sleep(0.01)
            found = await pers.registry.holder(run_id)
            assert found is not None and found.token == mine.token
            current = found
            if current.expires_at > mine.expires_at:
                break
        assert current.expires_at > mine.expires_at


async def test_a_holder_that_lost_its_lease_stops_instead_of_advancing_beside_the_new_one(
    checkpoint_url: str, tmp_path: Path
) -> None:
    run_id = new_run_id()
    async with open_persistence(checkpoint_url, tmp_path) as pers:
        with pytest.raises(
            RunLocked, match=rf"^run {run_id}: this process lost its lease to 4242 on build-7"
        ):
            async with run_lease(pers.registry, run_id, renew_every=0.01):
                # As if this process had stalled past its expiry and another host took over.
                await plant(pers, run_id, Owner("new", 4242, "build-7", "another-node"), ttl=600)
                await asyncio.Event().wait()
        current = await pers.registry.holder(run_id)
        assert current is not None and current.token == "new"


@pytest.mark.slow
def test_of_processes_claiming_one_run_at_once_exactly_one_gets_it(
    checkpoint_url: str, tmp_path: Path
) -> None:
    run_id = new_run_id()
    with _processes(4, checkpoint_url, tmp_path, run_id) as claims:
        said = [claim.stdout.readline().split(" ", 1) for claim in claims if claim.stdout is not None]
    got = [int(rest) for word, rest in said if word == "got"]
    assert len(got) == 1
    refusals = [rest.strip() for word, rest in said if word == "locked"]
    assert len(refusals) == 3
    for refusal in refusals:
        assert re.fullmatch(rf"run {run_id} is being advanced by {got[0]} on .+ since {ISO_UTC}", refusal)


@contextmanager
def _processes(n: int, url: str, project: Path, run_id: str) -> Iterator[list[subprocess.Popen[str]]]:
    """`n` processes started together, each claiming the run; closing their stdin lets the winner go."""
    args = [sys.executable, str(HOLDER_SCRIPT), url, str(project), run_id]
    procs = [
        subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(n)
    ]
    try:
        yield procs
    finally:
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.close()
        for proc in procs:
            proc.wait(timeout=60)
