"""Resilience: 30% of calls answered 429 (with Retry-After) and 5% answered 500.

A fault-free run and faulty runs (three fault seeds) of the same task, 300 ms per call. Each
faulty run must complete with the same manifest as the fault-free one (the same agents in each
phase with the same deliverable names; `_common.manifest_shape`) and every deliverable on disk.
Reported: the extra wall time over the fault-free run, and how much of it the faults themselves
force: the critical path recomputed with each call lasting from its first attempt to its
successful answer (so the Retry-After waits and backoffs of calls on the path are in it).

Run: `.venv/bin/python -m benchmarks.bench_resilience [--seeds N]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import _common as c
from benchmarks import _standard
from benchmarks.bench_overhead import phasegraph_run
from benchmarks.fake_openai import FakeOpenAIProcess, FaultConfig

LATENCY_MS = 300
RATE_429 = 0.30
RATE_500 = 0.05
RETRY_AFTER_S = 1.0
ARRAY_ITEMS = 3
"""Three handoffs per agent (up to the default depth 2): 24 calls a run, so the fault rates show."""


@dataclass
class _Span:
    """A logical call: from its first attempt's request to its successful answer."""

    phase: str | None
    agent: str | None
    t_start: float
    t_end: float
    status: int = 200


def logical_calls(log: list[Any]) -> list[_Span]:
    """Attempts of each (phase, agent) folded into calls: failed attempts start the next success."""
    open_since: dict[tuple[Any, Any], float] = {}
    spans: list[_Span] = []
    for entry in sorted(log, key=lambda r: r.t_start):
        key = (entry.phase, entry.agent)
        open_since.setdefault(key, entry.t_start)
        if entry.status == 200:
            spans.append(_Span(entry.phase, entry.agent, open_since.pop(key), entry.t_end or entry.t_start))
    return spans


def _one(server: FakeOpenAIProcess, work: Path, name: str, config: FaultConfig) -> dict[str, Any]:
    server.reset(config)
    project = _standard.write_project(work / name, standard_cards=False)
    wall, result = asyncio.run(phasegraph_run(server.base_url, project, name))
    log = c.chat_calls(server.requests)
    run_dir = Path(result.run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    listed, present = c.deliverables_on_disk(run_dir, manifest)
    spans = logical_calls(log)
    done = result.status == "completed"
    path = c.critical_path(c.phase_calls(manifest, spans))[0] if done else 0.0
    waves = c.critical_path(c.phase_calls(manifest, spans, waves=True))[0] if done else 0.0
    return {
        "status": result.status,
        "message": result.message,
        "wall": wall,
        "path_with_retries": path,
        "waves_with_retries": waves,
        "requests": len(log),
        "n429": sum(1 for r in log if r.status == 429),
        "n500": sum(1 for r in log if r.status == 500),
        "shape": c.manifest_shape(manifest),
        "deliverables": (listed, present),
    }


def run(quick: bool = False, seeds: int | None = None) -> c.Section:
    seeds = seeds or (2 if quick else 3)
    c.quiet_logging()
    work = c.work_dir("resilience")
    clean_config = FaultConfig(latency_ms=LATENCY_MS, array_items=ARRAY_ITEMS, seed=10)
    with FakeOpenAIProcess(clean_config) as server, c.Stopwatch() as total:
        _one(server, work, "warmup", clean_config)
        clean = _one(server, work, "clean", clean_config)
        faulty = [
            _one(
                server,
                work,
                f"faulty{seed}",
                FaultConfig(
                    latency_ms=LATENCY_MS,
                    array_items=ARRAY_ITEMS,
                    rate_429=RATE_429,
                    rate_500=RATE_500,
                    retry_after_s=RETRY_AFTER_S,
                    seed=seed,
                ),
            )
            for seed in range(1, seeds + 1)
        ]
    rows = [
        (
            "fault-free",
            clean["requests"],
            0,
            0,
            clean["status"],
            "reference",
            f"{clean['deliverables'][1]}/{clean['deliverables'][0]}",
            c.fmt_s(clean["wall"]),
            "",
            c.fmt_s(clean["path_with_retries"]),
            c.fmt_s(clean["waves_with_retries"]),
        )
    ]
    for seed, f in enumerate(faulty, start=1):
        rows.append(
            (
                f"faulty, seed {seed}",
                f["requests"],
                f["n429"],
                f["n500"],
                f["status"],
                "same" if f["shape"] == clean["shape"] else "**different**",
                f"{f['deliverables'][1]}/{f['deliverables'][0]}",
                c.fmt_s(f["wall"]),
                f"+{f['wall'] - clean['wall']:.3f} s ({f['wall'] / clean['wall']:.2f}×)",
                c.fmt_s(f["path_with_retries"]),
                c.fmt_s(f["waves_with_retries"]),
            )
        )
    completed = all(f["status"] == "completed" for f in faulty)
    same = all(f["shape"] == clean["shape"] and f["deliverables"][0] == f["deliverables"][1] for f in faulty)
    extra = c.median(f["wall"] - clean["wall"] for f in faulty)
    beyond = c.median(
        (f["wall"] - f["path_with_retries"]) - (clean["wall"] - clean["path_with_retries"]) for f in faulty
    )
    failures = "; ".join(
        f"seed {i}: {f['message']}" for i, f in enumerate(faulty, 1) if f["status"] != "completed"
    )
    body = (
        f"Default pipeline, built-in catalogue, the standard task, {LATENCY_MS} ms per call, every agent "
        f"handing off to {ARRAY_ITEMS} collaborators (default depth). Faulty runs: "
        f"{RATE_429:.0%} of requests answered 429 with `Retry-After: {RETRY_AFTER_S:g}`, {RATE_500:.0%} "
        "answered 500 (seeded draws; the default retry policy: 6 attempts, exponential backoff from 0.5 s "
        "for 500s, the server's wait for 429s). *Path with retries*: the critical path with every call "
        "lasting from its first attempt to its successful answer; *in waves*: the same, but with each "
        "handoff level of a phase waiting for the whole level before it (a collaborator's own handoffs "
        "run in the superstep after all of its level's calls), as LangGraph's supersteps schedule them.\n\n"
        + c.table(
            [
                "run",
                "requests",
                "429s",
                "500s",
                "status",
                "manifest",
                "deliverables",
                "wall",
                "extra wall",
                "path with retries",
                "same, in waves",
            ],
            rows,
        )
        + "\n"
        + (
            "Every faulty run completed with the same manifest: "
            f"**{'yes' if completed and same else 'no'}**. Extra wall time over the fault-free run "
            f"(median): {extra:.3f} s. Of it, the critical path itself grew by {extra - beyond:.3f} s "
            f"(the waits and retried requests of the calls on it); the wall time beyond the path changed "
            f"by {beyond:+.3f} s. A wave-structured path close to the wall time says the rest is "
            "handoffs waiting for the slowest call of the level before them: a retried call holds up "
            "every next-level handoff of its phase, not only its own."
        )
        + (f" Failed: {failures}." if failures else "")
        + "\n\n"
        + c.environment_line()
        + "\n"
        + c.command_line("bench_resilience")
    )
    return c.Section(
        key="resilience",
        title="4. Resilience (30% 429 + 5% 500)",
        body=body,
        goals=[
            c.Goal(
                "30% 429 + 5% 500: completes, same manifest",
                f"{'yes' if completed and same else 'no'}, +{extra:.2f} s wall",
                "completes, same manifest; report extra wall",
                completed and same,
            )
        ],
        data={"clean": clean, "faulty": faulty},
        seconds=total.seconds,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    print(run(seeds=args.seeds).markdown())


if __name__ == "__main__":
    main()
