"""Submitting runs to the workers: what a message carries, what is checked before it is sent, and
how a queued run is listed, shown and waited for (no worker needed, except a real broker)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks._workers import RABBITMQ_URL, delete_queue, unique
from orchestrator import Orchestrator
from orchestrator.checkpoint import open_persistence
from orchestrator.run import Runner
from orchestrator.submit import FORWARDED, RunMessage
from orchestrator.worker import UNEXPECTED_TRIES, advance

SECRET = "sk-submitter-secret-0123456789"


@pytest.fixture
def queued(rabbitmq: str, pg_url: str, project: Path) -> Iterator[tuple[str, str]]:
    """A run submitted to a queue no worker consumes: (run id, queue)."""
    queue = unique("pgtest-queued")
    orch = Orchestrator(provider="openai", model="fake-model", checkpoint_url=pg_url, openai_api_key=SECRET)
    handle = orch.submit("Add a health endpoint", project, phases="design", broker=rabbitmq, queue=queue)
    yield handle.run_id, queue
    delete_queue(rabbitmq, queue)


def test_forwarded_settings_hold_no_secret() -> None:
    from orchestrator.settings import SECRET_FIELDS

    assert not SECRET_FIELDS & set(FORWARDED)


def test_a_task_message_carries_the_run_id_and_no_api_key(rabbitmq: str, queued: tuple[str, str]) -> None:
    from kombu import Connection, Queue  # type: ignore[attr-defined]

    run_id, queue = queued
    with Connection(rabbitmq) as conn:  # type: ignore[no-untyped-call]
        message = Queue(queue).bind(conn.default_channel).get(no_ack=True)  # type: ignore[no-untyped-call]
    body = message.body
    raw = (body.decode() if isinstance(body, bytes) else str(body)) + json.dumps(message.headers)
    assert run_id in raw
    assert SECRET not in raw
    assert "api_key" not in raw


def test_a_queued_run_is_listed_and_shown_from_the_registry(
    queued: tuple[str, str], pg_url: str, project: Path, run_cli: Any
) -> None:
    run_id, _ = queued
    code, out, _ = run_cli(
        "runs", "list", "--checkpoint-url", pg_url, "--project-dir", str(project), "--json"
    )
    listed = {row["run_id"]: row for row in json.loads(out)}
    shown = run_cli("runs", "show", run_id, "--checkpoint-url", pg_url, "--json")
    assert code == 0
    assert (listed[run_id]["status"], listed[run_id]["phases"]) == ("queued", ["design"])
    assert json.loads(shown[1])["status"] == "queued"


def test_waiting_past_the_timeout_exits_6_and_the_run_stays_queued(
    queued: tuple[str, str], pg_url: str, run_cli: Any
) -> None:
    run_id, _ = queued
    code, _, err = run_cli("runs", "wait", run_id, "--timeout", "0.5", "--checkpoint-url", pg_url)
    assert code == 6
    assert err.strip() == f"phasegraph: error: run {run_id} is still queued after 0.5 s (--timeout)"


@pytest.mark.parametrize(
    ("args", "needs"),
    [
        (
            ("--checkpoint-url", "sqlite:///state.sqlite", "--broker", RABBITMQ_URL),
            "--checkpoint-url postgresql",
        ),
        (("--checkpoint-url", "postgresql://postgres@127.0.0.1:5432/test"), "--broker URL"),
        (
            ("--checkpoint-url", "postgresql://postgres@127.0.0.1:5432/test", "--broker", "http://x"),
            "unsupported URL scheme",
        ),
    ],
)
def test_submit_names_what_it_needs_in_one_line(
    args: tuple[str, ...], needs: str, project: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PHASEGRAPH_BROKER_URL", raising=False)
    code, _, err = run_cli("submit", "Add a health endpoint", "--project-dir", str(project), *args)
    assert code == 2
    assert needs in err and len(err.strip().splitlines()) == 1


def test_a_worker_without_postgresql_stops_in_one_line(run_cli: Any) -> None:
    code, _, err = run_cli("worker", "--broker", RABBITMQ_URL, "--checkpoint-url", "sqlite:///state.sqlite")
    assert code == 2
    assert err.startswith("phasegraph: error: worker needs --checkpoint-url postgresql://")


def test_a_broker_that_is_down_fails_the_submission_in_one_line(
    pg_url: str, project: Path, run_cli: Any
) -> None:
    broker = "amqp://guest:guest@127.0.0.1:1//"
    run_id = unique("down")
    code, _, err = run_cli(
        "submit", "Add a health endpoint", "--project-dir", str(project), "--run-id", run_id,
        "--checkpoint-url", pg_url, "--broker", broker,
    )  # fmt: skip
    shown = run_cli("runs", "show", run_id, "--checkpoint-url", pg_url, "--json")
    assert code == 2
    assert err.startswith("phasegraph: error: --broker amqp://guest:***@127.0.0.1:1//: cannot queue the run")
    assert json.loads(shown[1])["status"] == "failed"


def test_a_worker_that_cannot_see_the_project_directory_fails_the_run_saying_so(
    pg_url: str, tmp_path: Path
) -> None:
    run_id = unique("blind")
    message = RunMessage(
        run_id=run_id, project_dir=str(tmp_path / "elsewhere"), options={"task": "Add a health endpoint"}
    )

    async def outcome() -> tuple[str, Any]:
        status = await advance(message, pg_url)
        async with open_persistence(pg_url, tmp_path) as pers:
            return status, await pers.registry.status(run_id)

    status, stored = asyncio.run(outcome())
    assert status == stored.status == "failed"
    assert f"cannot see the project directory {tmp_path / 'elsewhere'}" in stored.message


def test_a_run_the_registry_does_not_describe_is_still_listed_from_its_checkpoint(
    checkpoint_url: str, project: Path
) -> None:
    """Runs started before the registry kept what a run is are read from their checkpoints."""
    orch = Orchestrator(provider="offline", checkpoint_url=checkpoint_url)
    old = orch.run("Add a health endpoint", project, phases="design")

    async def forget() -> None:
        async with open_persistence(checkpoint_url, project) as pers:
            await pers.registry._write("DELETE FROM phasegraph_run_info WHERE run_id = ?", (old.run_id,))

    asyncio.run(forget())
    listed = {row["run_id"]: row for row in orch.runs(project)}
    assert listed[old.run_id]["status"] == "completed"
    assert listed[old.run_id]["task"] == "Add a health endpoint"


def test_listing_an_undescribed_run_describes_it_for_the_next_list(
    checkpoint_url: str, project: Path
) -> None:
    orch = Orchestrator(provider="offline", checkpoint_url=checkpoint_url)
    old = orch.run("Add a health endpoint", project, phases="design")

    async def info() -> Any:
        async with open_persistence(checkpoint_url, project) as pers:
            await pers.registry._write("DELETE FROM phasegraph_run_info WHERE run_id = ?", (old.run_id,))
            orch_rows = await Runner(orch.settings).list(project)
            return orch_rows, await pers.registry.info(old.run_id)

    rows, described = asyncio.run(info())
    assert old.run_id in {row["run_id"] for row in rows}
    assert (described.task, described.phases) == ("Add a health endpoint", ["design"])


def test_the_compose_example_runs_rabbitmq_postgres_and_two_workers_without_a_key_in_it() -> None:
    import yaml

    path = Path(__file__).resolve().parent.parent / "examples" / "docker-compose.yml"
    services = yaml.safe_load(path.read_text())["services"]
    workers = [s for s in services.values() if "phasegraph worker" in str(s.get("command", ""))]
    assert {"rabbitmq", "postgres"} <= set(services)
    assert len(workers) == 2
    assert all(w["environment"]["OPENAI_API_KEY"] == "${OPENAI_API_KEY:-}" for w in workers)


class _Retry(Exception):
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


def _task(pg_url: str) -> Any:
    from types import SimpleNamespace

    def retry(**kwargs: Any) -> _Retry:
        return _Retry(**kwargs)

    return SimpleNamespace(
        app=SimpleNamespace(conf=SimpleNamespace(phasegraph_checkpoint_url=pg_url)), retry=retry
    )


@pytest.mark.parametrize(("failures", "retried"), [(0, True), (UNEXPECTED_TRIES - 1, False)])
def test_an_unexpected_error_is_retried_then_fails_the_run_saying_why(
    failures: int, retried: bool, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import orchestrator.worker as worker

    async def outage(message: RunMessage, url: str) -> str:
        raise RuntimeError("server closed the connection unexpectedly")

    monkeypatch.setattr(worker, "advance", outage)
    run_id = unique("outage")
    body = RunMessage(
        run_id=run_id, project_dir=str(tmp_path), options={"task": "Add a health endpoint"}
    ).model_dump()
    if retried:
        with pytest.raises(_Retry) as raised:
            worker._advance_task(_task(pg_url), body, failures)
        assert raised.value.kwargs["kwargs"] == {"failures": failures + 1}
        return
    assert worker._advance_task(_task(pg_url), body, failures) == "failed"

    async def stored() -> Any:
        async with open_persistence(pg_url, tmp_path) as pers:
            return await pers.registry.status(run_id)

    found = asyncio.run(stored())
    assert (found.status, found.message) == (
        "failed",
        "RuntimeError: server closed the connection unexpectedly",
    )


def test_a_message_carries_every_run_option_and_gives_them_back() -> None:
    """Whatever `RunOptions` gains travels to the worker without a second list of fields."""
    from dataclasses import fields

    from orchestrator.run import RunOptions

    opts = RunOptions(
        task="Add a health endpoint",
        project_dir=Path("/srv/app"),
        pipeline="full",
        phases="design,build",
        until="design",
        agents_dirs=[Path("/srv/cards")],
        approval_gates=True,
        from_run="earlier-run",
        checks=["pytest -x"],
        check_timeout=30,
        check_network=True,
        check_python=Path("/srv/app/.venv/bin/python"),
        fix_rounds=0,
        in_place=True,
        include_uncommitted=True,
    )
    sent = RunMessage(run_id="r-1", project_dir="/srv/app", options=opts.to_json())
    back = RunMessage.model_validate_json(sent.model_dump_json()).run_options()
    for f in fields(RunOptions):
        if f.name != "run_id":
            assert getattr(back, f.name) == getattr(opts, f.name), f.name
    assert back.run_id == "r-1"
