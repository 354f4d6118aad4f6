"""`phasegraph worker` processes on a real broker (RabbitMQ, Redis) and PostgreSQL: any worker
finishes any run, a killed worker's runs are finished elsewhere, nothing runs twice at once."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from benchmarks._workers import (
    Worker,
    statuses,
    unique,
    wait_until,
    workers,
)
from benchmarks.fake_openai import FakeOpenAIProcess, FaultConfig
from orchestrator import Orchestrator

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

RUNS = 20


def manifest(project: Path, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (project / ".phasegraph" / "runs" / run_id / "manifest.json").read_text()
    )
    return data


def finished(worker: Worker) -> set[str]:
    return {line["run_id"] for line in worker.lines() if line.get("event") == "worker.task_finished"}


def interleaved(run_id: str, first: Worker, second: Worker) -> bool:
    """Whether both workers logged steps of `run_id` in overlapping spans of time."""
    skip = {"worker.task_started", "worker.run_locked"}

    def span(worker: Worker) -> tuple[str, str] | None:
        times = [
            line["timestamp"]
            for line in worker.lines()
            if line.get("run_id") == run_id and line.get("event") not in skip
        ]
        return (min(times), max(times)) if times else None

    a, b = span(first), span(second)
    return a is not None and b is not None and a[0] <= b[1] and b[0] <= a[1]


@pytest.mark.parametrize("broker_name", ["rabbitmq", "redis"])
def test_runs_of_a_killed_worker_are_finished_by_another_without_repeating_calls(
    broker_name: str, request: pytest.FixtureRequest, pg_url: str, project: Path, tmp_path: Path
) -> None:
    """Two workers, twenty runs, one worker `kill -9`ed mid-way: every run completes; the fake
    server answered exactly the calls the manifests count, except answers the killed worker had on
    the wire (asked again by the run's next worker, as a crash must); no run had two workers."""
    broker: str = request.getfixturevalue(broker_name)
    queue, prefix = unique("pgtest-workers"), unique("w")
    extra = ("--visibility-timeout", "5") if broker_name == "redis" else ()
    with (
        FakeOpenAIProcess(FaultConfig(latency_ms=300)) as server,
        workers(2, broker, pg_url, queue, tmp_path / "logs", base_url=server.base_url, extra=extra) as pool,
    ):
        orch = Orchestrator(provider="openai", model="fake-model", checkpoint_url=pg_url)
        handles = [
            orch.submit(
                f"Add a health endpoint, variant {i}",
                project,
                phases="design",
                broker=broker,
                queue=queue,
                run_id=f"{prefix}-{i:02d}",
            )
            for i in range(RUNS)
        ]
        victim, survivor = pool

        def mid_way() -> bool:
            done = sum(s == "completed" for s in statuses(pg_url, prefix).values())
            return done >= 4 and bool(victim.in_hand())

        wait_until(mid_way, 240, "four completed runs while the first worker holds one")
        held = victim.in_hand()
        victim.kill()
        killed_at = time.monotonic()
        results = [h.wait(timeout=300) for h in handles]
        requests = [r for r in server.requests if r.path == "/v1/chat/completions" and r.billed]

    assert [r.status for r in results] == ["completed"] * RUNS, [
        (r.run_id, r.status, r.error_type, r.message) for r in results if r.status != "completed"
    ]
    calls = {r.run_id: manifest(project, r.run_id)["usage"]["calls"] for r in results}
    answered = Counter(r.run for r in requests)
    on_the_wire = Counter(
        r.run for r in requests if r.t_start <= killed_at and (r.t_end is None or r.t_end >= killed_at - 5)
    )
    for run_id, n in calls.items():
        allowed = on_the_wire[run_id] if run_id in held else 0
        assert n <= answered[run_id] <= n + allowed, (run_id, n, answered[run_id], allowed)
    assert sum(calls.values()) <= len(requests) <= sum(calls.values()) + sum(on_the_wire[r] for r in held)
    # A run the victim had just finished when it died (its log line not yet read) is not left over.
    assert held - finished(victim) <= finished(survivor)
    assert not [r for r in calls if interleaved(r, victim, survivor)]


def test_a_queued_run_parks_for_approval_and_a_worker_finishes_it_after_the_cli_approves(
    rabbitmq: str, pg_url: str, project: Path, tmp_path: Path, run_cli: Any
) -> None:
    queue = unique("pgtest-approval")
    common = ("--broker", rabbitmq, "--checkpoint-url", pg_url, "--project-dir", str(project))
    with workers(1, rabbitmq, pg_url, queue, tmp_path / "logs", concurrency=1) as (worker,):
        code, out, _ = run_cli(
            "submit", "Add a health endpoint", "--phases", "design", "--approval-gates",
            "--provider", "offline", "--queue", queue, *common,
        )  # fmt: skip
        assert code == 0
        run_id = out.strip()
        waited = run_cli("runs", "wait", run_id, "--timeout", "240", "--checkpoint-url", pg_url, "--json")
        assert waited[0] == 5
        assert json.loads(waited[1])["error_type"] == "AwaitingApproval"
        # Approved from another folder: the worker continues the run in its own project directory.
        elsewhere = ("--project-dir", str(tmp_path / "logs"))
        assert run_cli("approve", run_id, "--queue", queue, *common, *elsewhere)[0] == 0
        code, out, _ = run_cli(
            "runs", "wait", run_id, "--timeout", "240", "--checkpoint-url", pg_url, "--json"
        )
        lines = worker.lines()
    decided = [line for line in lines if line.get("event") == "worker.task_finished"]
    assert code == 0
    assert json.loads(out)["status"] == "completed"
    assert [line["status"] for line in decided if line["run_id"] == run_id] == ["paused", "completed"]
    assert any(
        line.get("phase") == "design" and line.get("agent") for line in lines if line.get("run_id") == run_id
    )


def test_sigterm_lets_a_worker_finish_the_run_in_hand(
    rabbitmq: str, pg_url: str, project: Path, tmp_path: Path
) -> None:
    queue, prefix = unique("pgtest-sigterm"), unique("t")
    with (
        FakeOpenAIProcess(FaultConfig(latency_ms=300)) as server,
        workers(1, rabbitmq, pg_url, queue, tmp_path / "logs", base_url=server.base_url) as (worker,),
    ):
        orch = Orchestrator(provider="openai", model="fake-model", checkpoint_url=pg_url)
        handle = orch.submit(
            "Add a health endpoint", project, phases="design", broker=rabbitmq, queue=queue, run_id=prefix
        )
        wait_until(lambda: bool(worker.in_hand()), 240, "the worker to take the run")
        code = worker.stop()
        result = handle.result()
    assert code == 0
    assert result.status == "completed"


def test_a_budget_holds_when_the_phases_of_one_run_go_to_different_workers(
    rabbitmq: str, pg_url: str, project: Path, tmp_path: Path
) -> None:
    """Design on one worker, the approval, Build on another: the second seeds the budget from the
    spend ledger in PostgreSQL, so the run stops on its whole spending, not on Build's alone."""
    queue, run_id = unique("pgtest-budget"), unique("budget")
    orch = Orchestrator(
        provider="openai",
        model="fake-model",
        checkpoint_url=pg_url,
        price_in=1.0,
        price_out=1.0,
        max_usd=0.007,
    )
    with FakeOpenAIProcess(FaultConfig(latency_ms=50)) as server:
        with workers(1, rabbitmq, pg_url, queue, tmp_path / "first", base_url=server.base_url) as (first,):
            handle = orch.submit(
                "Add a health endpoint", project, phases="design,build", broker=rabbitmq, queue=queue,
                approval_gates=True, run_id=run_id,
            )  # fmt: skip
            parked = handle.wait(timeout=240)
            assert first.stop() == 0
        with workers(1, rabbitmq, pg_url, queue, tmp_path / "second", base_url=server.base_url) as (second,):
            handle.approve()
            result = handle.wait(timeout=240)
            continued = finished(second)
    assert (parked.status, parked.error_type) == ("paused", "AwaitingApproval")
    assert parked.usage.cost_usd < 0.007
    assert result.status == "budget_exceeded"
    assert result.phases[0].status == "completed"
    # The stop counted Design's answers too: the whole run's spending, from the ledger.
    assert f"in {result.usage.calls} answer(s)" in result.message
    assert result.usage.calls > parked.usage.calls
    assert run_id in continued
