"""Scale: 100 concurrent runs in one process against a server limited to 600 requests a minute.

The runs are `asyncio.gather`ed `Runner.start` calls with distinct run ids, one shared OpenAI
provider (so one connection pool and one limiter) and one project (so one SQLite file, as
`phasegraph run` uses by default). They run in a child process of their own, so its peak
resident memory (`ru_maxrss`) is theirs alone; the fake server runs in another.

Two set-ups, each sized to keep the benchmark within `make bench`'s budget:
- *client told the limit* (`PHASEGRAPH_REQUESTS_PER_MINUTE=600`): 100 runs of the default
  pipeline without handoffs (the server answers `handoffs: []`), 3 calls a run, 300 calls, so
  at least 30 s at the limit. Throughput ÷ limit is the goal's measure here.
- *client not told*: 100 runs with one handoff per agent, 9 calls a run, 900 calls: more than
  the server admits in a minute, so the rest of the requests get 429s with the server's real
  wait, and the retry policy has to absorb them. A sliding-window server admits a whole
  minute's quota at once, so over a run this short throughput ÷ limit can exceed 1; what
  counts here is that no run fails.

Run: `.venv/bin/python -m benchmarks.bench_scale [--runs N]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import _common as c
from benchmarks import _standard
from benchmarks.fake_openai import FakeOpenAIProcess, FaultConfig

RUNS = 100
RPM = 600
LATENCY_MS = 300
GOAL_THROUGHPUT = 0.9


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _many(base_url: str, project: Path, runs: int, rpm: int | None) -> dict[str, Any]:
    from orchestrator.providers import make_provider
    from orchestrator.run import Runner, RunOptions

    settings = c.settings_for(base_url, requests_per_minute=rpm, max_retry_wait_s=600)
    provider = make_provider(settings)
    runner = Runner(settings, provider=provider)
    started = time.perf_counter()
    gather_at = time.monotonic()
    results = await asyncio.gather(
        *(
            runner.start(RunOptions(task=_standard.TASK, project_dir=project, run_id=f"r{i:03d}"))
            for i in range(runs)
        ),
        return_exceptions=True,
    )
    wall = time.perf_counter() - started
    await provider.aclose()
    failed = [
        f"{type(r).__name__}: {r}" if isinstance(r, BaseException) else f"{r.run_id}: {r.status} {r.message}"
        for r in results
        if isinstance(r, BaseException) or r.status != "completed"
    ]
    calls = sum(r.usage.calls for r in results if not isinstance(r, BaseException))
    return {"wall": wall, "failed": failed, "calls": calls, "gather_at": gather_at}


def child(base_url: str, project: Path, runs: int, rpm: int | None) -> dict[str, Any]:
    """The measured side (run in its own process): gather `runs` runs, report time and memory."""
    from orchestrator.run import Runner  # noqa: F401  (imports done before the baseline)

    c.quiet_logging()
    baseline = _rss_mib()
    out = asyncio.run(_many(base_url, project, runs, rpm))
    out["rss_baseline_mib"] = baseline
    out["rss_peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _measure(work: Path, name: str, runs: int, rpm_client: int | None, array_items: int) -> dict[str, Any]:
    config = FaultConfig(latency_ms=LATENCY_MS, rpm_limit=RPM, array_items=array_items, seed=5)
    project = _standard.write_project(work / name, standard_cards=False)
    with FakeOpenAIProcess(config) as server:
        args = [
            sys.executable,
            "-m",
            "benchmarks.bench_scale",
            "--child",
            server.base_url,
            str(project),
            str(runs),
        ]
        if rpm_client:
            args.append(str(rpm_client))
        done = subprocess.run(args, capture_output=True, text=True, timeout=900, cwd=c.ROOT)
        if done.returncode != 0:
            raise SystemExit(f"scale benchmark child failed: {done.stderr[-2000:]}")
        out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        log = c.chat_calls(server.requests)
    ok = [r for r in log if r.status == 200]
    out["requests"] = len(log)
    out["answered"] = len(ok)
    out["n429"] = sum(1 for r in log if r.status == 429)
    out["throughput_per_s"] = len(ok) / out["wall"]
    out["ratio"] = out["throughput_per_s"] / (RPM / 60)
    starts = sorted(r.t_start for r in ok)
    out["to_first_request"] = starts[0] - out["gather_at"] if starts else 0.0
    active = max(r.t_end or r.t_start for r in ok) - starts[0] if starts else 0.0
    out["active_ratio"] = len(ok) / active / (RPM / 60) if active else 0.0
    out["busiest_minute"] = max(
        (sum(1 for t in starts[i:] if t < s + 60) for i, s in enumerate(starts)), default=0
    )
    return out


def run(quick: bool = False, runs: int | None = None) -> c.Section:
    runs = runs or (20 if quick else RUNS)
    work = c.work_dir("scale")
    with c.Stopwatch() as total:
        told = _measure(work, "told", runs, RPM, array_items=0)
        untold = _measure(work, "untold", runs, None, array_items=1)
    rows = []
    for name, m, per_run in (
        ("client told the limit (`requests_per_minute=600`), no handoffs", told, 3),
        ("client not told, one handoff per agent", untold, 9),
    ):
        rows.append(
            (
                name,
                runs,
                f"{runs * per_run} expected / {m['answered']} answered",
                m["n429"],
                f"{len(m['failed'])}",
                c.fmt_s(m["wall"]),
                f"{m['throughput_per_s']:.2f}/s",
                f"**{m['ratio']:.2f}**",
                f"{m['to_first_request']:.2f} s",
                f"{m['active_ratio']:.2f}",
                m["busiest_minute"],
                f"{m['rss_peak_mib']:.0f} MiB ({m['rss_peak_mib'] - m['rss_baseline_mib']:.0f} MiB above the "
                f"{m['rss_baseline_mib']:.0f} MiB after imports)",
            )
        )
    failed = len(told["failed"]) + len(untold["failed"])
    ratio = told["ratio"]
    details = "; ".join((told["failed"] + untold["failed"])[:3])
    body = (
        f"{runs} concurrent `Runner.start` runs of the standard task in one process (built-in catalogue, "
        f"one shared provider, one project and SQLite file), {LATENCY_MS} ms per call, against the fake "
        f"server limited to {RPM} requests per sliding minute (its 429s carry the real wait). Default "
        "concurrency cap (8).\n\n"
        + c.table(
            [
                "set-up",
                "runs",
                "calls",
                "429s",
                "runs failed",
                "wall",
                "throughput",
                "÷ limit",
                "first request after",
                "÷ limit, first request to last answer",
                "busiest 60 s",
                "peak RSS",
            ],
            rows,
        )
        + "\n"
        + f"Runs failed: **{failed}** (goal 0). Throughput ÷ limit with the client told the limit: "
        f"**{ratio:.2f}** over the whole wall time (goal ≥ {GOAL_THROUGHPUT}: "
        f"**{'met' if ratio >= GOAL_THROUGHPUT else 'missed'}**). *First request after*: how long after "
        "`gather` began the first request reached the server; every run does its set-up (catalogue, "
        "pipeline, project scan, graph compile: synchronous work) before its first call, and the event loop "
        "interleaves the runs, so this grows with the number of runs. From the first request to the last "
        f"answer the told client keeps {told['active_ratio']:.2f}× the limit. *Busiest 60 s*: the most "
        "answered requests that started within any 60 s, which the server keeps at or below the limit."
        + (f" Failures: {details}." if details else "")
        + "\n\n"
        + c.environment_line()
        + "\n"
        + c.command_line("bench_scale")
    )
    return c.Section(
        key="scale",
        title=f"6. Scale ({runs} concurrent runs, {RPM} requests/minute)",
        body=body,
        goals=[
            c.Goal(f"{runs} concurrent runs: runs failed", str(failed), "0", failed == 0),
            c.Goal(
                "Throughput ÷ limit (client told the limit)",
                f"{ratio:.2f}",
                f"≥ {GOAL_THROUGHPUT}",
                ratio >= GOAL_THROUGHPUT,
            ),
            c.Goal(
                "Peak memory of the runs' process",
                f"{max(told['rss_peak_mib'], untold['rss_peak_mib']):.0f} MiB",
                "report",
                None,
            ),
        ],
        data={"told": told, "untold": untold},
        seconds=total.seconds,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--child", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        base_url, project, runs, *rpm = args.child
        print(json.dumps(child(base_url, Path(project), int(runs), int(rpm[0]) if rpm else None)))
        return
    print(run(runs=args.runs).markdown())


if __name__ == "__main__":
    main()
