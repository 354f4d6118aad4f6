"""Workers: throughput with 1, 2 and 4 `phasegraph worker` processes, the time from a worker's
death to its run resuming elsewhere, and `runs list` over 10,000 runs in PostgreSQL.

Needs RabbitMQ (127.0.0.1:5672), Redis (6379) and PostgreSQL (5432, database `test`) on this
machine. Every run is the Design phase of the example project (three calls: the primary, then two
collaborators in parallel) against the fake server at 300 ms per call, in a child process.

- *Throughput*: N workers (`--concurrency 1` each) on RabbitMQ; after a warm-up run per worker,
  `RUNS` runs are submitted at once, timed from the first submission to the last `completed`.
- *Death to resume*: two idle workers, one run; the worker that took it is `kill -9`ed (its
  whole process group) after the run's first answer; measured from the kill to the surviving
  worker's first request for that run at the fake server. RabbitMQ re-queues at once (the
  connection dropped); Redis after its visibility timeout (`--visibility-timeout 10` here).
- *runs list*: a database of its own holding 10,000 runs (10 real offline runs, their
  checkpoints and registry rows copied under new ids by SQL); `Runner.list` in-process and the
  `phasegraph runs list --json` command; then after deleting the registry's run descriptions
  (the path older runs take: one checkpoint read per run, which also describes them), and again.

Run: `.venv/bin/python -m benchmarks.bench_workers [--quick]`
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import secrets
import statistics
import subprocess
import time
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks import _common as c
from benchmarks._workers import PHASEGRAPH, RABBITMQ_URL, redis_url, statuses, unique, wait_until, workers
from benchmarks.fake_openai import FakeOpenAIProcess, FaultConfig

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
LATENCY_MS = 300
RUNS = 24
LIST_RUNS = 10_000


def _orchestrator(url: str = PG_URL) -> Any:
    from orchestrator import Orchestrator

    return Orchestrator(provider="openai", model="fake-model", checkpoint_url=url)


def _project(work: Path, name: str) -> Path:
    import shutil

    dest = work / name
    shutil.copytree(
        c.ROOT / "examples" / "fastapi-service", dest, ignore=shutil.ignore_patterns(".phasegraph")
    )
    return dest


def throughput(n: int, server: FakeOpenAIProcess, work: Path, runs: int) -> dict[str, float]:
    """Runs per second through `n` single-process workers."""
    queue, prefix = unique("bench-workers"), unique("b")
    project = _project(work, f"throughput{n}")
    orch = _orchestrator()
    logs = work / f"logs{n}"
    with workers(n, RABBITMQ_URL, PG_URL, queue, logs, base_url=server.base_url, concurrency=1) as pool:
        warm = [
            orch.submit("Warm up", project, phases="design", broker=RABBITMQ_URL, queue=queue) for _ in pool
        ]
        for handle in warm:
            handle.wait(timeout=300)
        started = time.monotonic()
        for i in range(runs):
            orch.submit(
                f"Add a health endpoint, variant {i}",
                project,
                phases="design",
                broker=RABBITMQ_URL,
                queue=queue,
                run_id=f"{prefix}-{i:03d}",
            )

        def done() -> bool:
            found = statuses(PG_URL, prefix)
            return len(found) == runs and all(s in ("completed", "failed") for s in found.values())

        wait_until(done, 900, f"{runs} runs on {n} workers")
        wall = time.monotonic() - started
    failed = sum(s != "completed" for s in statuses(PG_URL, prefix).values())
    return {"workers": n, "runs": runs, "wall_s": wall, "runs_per_s": runs / wall, "failed": failed}


def death_to_resume(broker: str, server: FakeOpenAIProcess, work: Path, repeat: int) -> list[float]:
    """Seconds from a worker's `kill -9` to the next worker's first request for its run."""
    extra = ("--visibility-timeout", "10") if broker.startswith("redis") else ()
    delays = []
    project = _project(work, f"death-{secrets.token_hex(2)}")
    orch = _orchestrator()
    for i in range(repeat):
        queue = unique("bench-death")
        logs = work / f"death-logs-{queue}"
        with workers(
            2, broker, PG_URL, queue, logs, base_url=server.base_url, concurrency=1, extra=extra
        ) as pool:
            handle = orch.submit(
                f"Add a health endpoint, try {i}", project, phases="design", broker=broker, queue=queue
            )
            run_id = handle.run_id

            wait_until(partial(_answered, server, run_id), 300, "the run's first answer")
            victim = next(w for w in pool if run_id in w.in_hand())
            victim.kill()
            killed = time.monotonic()
            result = handle.wait(timeout=300)
            after = [r.t_start for r in server.requests if r.run == run_id and r.t_start > killed]
        if result.status != "completed" or not after:
            raise RuntimeError(f"run {run_id} was not resumed: {result.status}")
        delays.append(min(after) - killed)
    return delays


def _answered(server: FakeOpenAIProcess, run_id: str) -> bool:
    return any(r.run == run_id and r.status == 200 for r in server.requests)


@contextmanager
def _database() -> Any:
    """A PostgreSQL database of its own, dropped afterwards."""
    import psycopg

    name = f"phasegraph_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield PG_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _copy_runs(url: str, originals: list[str], copies: int) -> None:
    """Each original run `copies` times more, under new ids: checkpoints, blobs, writes, registry."""
    import psycopg

    keyed = {
        "checkpoints": "thread_id",
        "checkpoint_blobs": "thread_id",
        "checkpoint_writes": "thread_id",
        "phasegraph_runs": "run_id",
        "phasegraph_run_info": "run_id",
    }
    with psycopg.connect(url, autocommit=True) as conn:
        for table, key in keyed.items():
            cols = [
                str(r[0])
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                    "ORDER BY ordinal_position",
                    (table,),
                ).fetchall()
            ]
            chosen = ", ".join(f"{key} || '-' || k" if col == key else col for col in cols)
            conn.execute(
                f"INSERT INTO {table} ({', '.join(cols)}) SELECT {chosen} "
                f"FROM {table}, generate_series(1, %s) AS k WHERE {key} = ANY(%s)",
                (copies, originals),
            )


def _time_list(url: str, project: Path, repeat: int) -> tuple[float, float, float, int]:
    """Median seconds of `Runner.list` in-process, of the `runs list --json` command (wall, and
    its CPU time, which other load on the machine does not inflate), and the count."""
    from orchestrator.run import Runner
    from orchestrator.settings import load_settings

    runner = Runner(load_settings(checkpoint_url=url))
    inproc, cli, cpu, count = [], [], [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        count = len(asyncio.run(runner.list(project)))
        inproc.append(time.perf_counter() - t0)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(
            [PHASEGRAPH, "runs", "list", "--json", "--checkpoint-url", url, "--project-dir", str(project)],
            check=True,
            capture_output=True,
        )
        cli.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(inproc), statistics.median(cli), statistics.median(cpu), count


def list_runs(work: Path, total: int, repeat: int) -> dict[str, float]:
    """`runs list` over `total` runs: from the registry, then the way older runs are read."""
    from orchestrator import Orchestrator

    project = _project(work, "listing")
    with _database() as url:
        orch = Orchestrator(provider="offline", checkpoint_url=url)
        originals = [orch.run(f"Listed run {i}", project, phases="design").run_id for i in range(10)]
        _copy_runs(url, originals, total // 10 - 1)
        inproc, cli, cli_cpu, count = _time_list(url, project, repeat)
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DELETE FROM phasegraph_run_info")
        old_inproc, _, _, old_count = _time_list(url, project, 1)
        again_inproc, again_cli, again_cpu, _ = _time_list(url, project, repeat)
    return {
        "runs": count,
        "inprocess_s": inproc,
        "cli_s": cli,
        "cli_cpu_s": cli_cpu,
        "undescribed_runs": old_count,
        "undescribed_inprocess_s": old_inproc,
        "described_again_inprocess_s": again_inproc,
        "described_again_cli_s": again_cli,
        "described_again_cli_cpu_s": again_cpu,
    }


def run(quick: bool = False) -> c.Section:
    work = c.work_dir("workers")
    runs, repeat = (8, 1) if quick else (RUNS, 3)
    with c.Stopwatch() as total, FakeOpenAIProcess(FaultConfig(latency_ms=LATENCY_MS)) as server:
        scale = [throughput(n, server, work, runs) for n in (1, 2, 4)]
        rabbit = death_to_resume(RABBITMQ_URL, server, work, repeat)
        redis = death_to_resume(redis_url(), server, work, repeat)
        listing = list_runs(work, 1_000 if quick else LIST_RUNS, repeat)
    return _section(scale, rabbit, redis, listing, total.seconds)


def _section(
    scale: list[dict[str, float]],
    rabbit: list[float],
    redis: list[float],
    listing: dict[str, float],
    seconds: float,
) -> c.Section:
    base = scale[0]["runs_per_s"]
    rows = [
        (int(s["workers"]), int(s["runs"]), c.fmt_s(s["wall_s"]), f"{s['runs_per_s']:.2f}/s",
         f"**{s['runs_per_s'] / base:.2f}×**", int(s["failed"]))
        for s in scale
    ]  # fmt: skip
    body = c.table(["worker processes", "runs", "wall", "throughput", "÷ 1 worker", "failed"], rows)
    body += "\n" + c.table(
        ["broker", "kills", "death → first request elsewhere (median)", "max"],
        [
            ("RabbitMQ", len(rabbit), c.fmt_s(statistics.median(rabbit)), c.fmt_s(max(rabbit))),
            (
                "Redis (visibility timeout 10 s)",
                len(redis),
                c.fmt_s(statistics.median(redis)),
                c.fmt_s(max(redis)),
            ),
        ],
    )
    body += "\n" + c.table(
        ["runs list", "runs", "in-process (`Runner.list`)", "`phasegraph runs list --json` wall", "its CPU"],
        [
            ("from the registry", int(listing["runs"]), c.fmt_s(listing["inprocess_s"]),
             c.fmt_s(listing["cli_s"]), c.fmt_s(listing["cli_cpu_s"])),
            ("undescribed (older runs: a checkpoint read each; this list describes them)",
             int(listing["undescribed_runs"]), c.fmt_s(listing["undescribed_inprocess_s"]), "—", "—"),
            ("the next list, from the registry", int(listing["undescribed_runs"]),
             c.fmt_s(listing["described_again_inprocess_s"]), c.fmt_s(listing["described_again_cli_s"]),
             c.fmt_s(listing["described_again_cli_cpu_s"])),
        ],
    )  # fmt: skip
    body += "\n" + c.environment_line() + "\n" + c.command_line("bench_workers") + "\n"
    goals = [
        c.Goal("runs list over 10,000 runs (in-process)", c.fmt_s(listing["inprocess_s"]), "< 1 s",
               listing["inprocess_s"] < 1.0),
        c.Goal("throughput, 2 workers ÷ 1", f"{scale[1]['runs_per_s'] / base:.2f}", "near 2", None),
    ]  # fmt: skip
    data = {"throughput": scale, "death_rabbitmq_s": rabbit, "death_redis_s": redis, "listing": listing}
    return c.Section("workers", "Workers: throughput, death to resume, runs list", body, goals, data, seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    section = run(quick=args.quick)
    (c.RESULTS_DIR / "workers.json").write_text(__import__("json").dumps(section.data, indent=2))
    print(section.markdown())


if __name__ == "__main__":
    main()
