"""Crash: `kill -9` a `phasegraph run` process at 20 seeded random moments, then `phasegraph resume`.

The fake server runs in its own child process, so the kill does not touch it and its log spans
both processes. One clean CLI run first gives the reference manifest and the window in which
model calls happen (from the first request to the last answer, measured from process spawn);
each kill moment is drawn uniformly from that window. After each kill, before the resume, the
run's call journal is counted in its SQLite file.

Counted per kill, from the server's log:
- *completed before the kill*: answers the server had fully sent before the kill;
- *repeated*: those of them whose prompt (sha256 of the messages) was asked again after the
  resume; goal 0. An answer can be fully sent and still not be journaled when the process dies
  (it is in the client's socket buffer, or being parsed): *journaled* says how many answers the
  dead process had saved, so `completed − journaled` answers were in flight, and only those can
  be asked again without a bug;
- *deliverables lost*: deliverables of the clean run's manifest that the resumed run's manifest
  lacks or whose file is missing or empty; goal 0.

Run: `.venv/bin/python -m benchmarks.bench_crash [--kills N] [--seed S]`
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks import _common as c
from benchmarks import _standard
from benchmarks.fake_openai import FakeOpenAIProcess, FaultConfig

LATENCY_MS = 200
KILLS = 20
SEED = 7
PHASEGRAPH = str(c.ROOT / ".venv" / "bin" / "phasegraph")


def _run_args(project: Path, run_id: str) -> list[str]:
    return [PHASEGRAPH, "run", _standard.TASK, "--project-dir", str(project), "--run-id", run_id, "--json"]


def _resume_args(project: Path, run_id: str) -> list[str]:
    return [PHASEGRAPH, "resume", run_id, "--project-dir", str(project), "--json"]


def journaled(project: Path, run_id: str) -> int:
    """Answers in a run's call journal (the `phasegraph_calls` table beside the checkpoints)."""
    state = project / ".phasegraph" / "state.sqlite"
    if not state.exists():
        return 0
    with sqlite3.connect(state) as db:
        try:
            (n,) = db.execute("SELECT COUNT(*) FROM phasegraph_calls WHERE run_id = ?", (run_id,)).fetchone()
        except sqlite3.OperationalError:  # killed before the journal table existed
            return 0
    return int(n)


def repeats(log: list[Any], killed_at: float, resumed_at: float) -> tuple[int, list[float]]:
    """Answers fully sent before the kill, and for each of those asked again after the resume, how
    long before the kill its answer had been sent."""
    done = [r for r in log if r.status == 200 and r.t_end is not None and r.t_end <= killed_at]
    asked_again = {r.prompt_sha for r in log if r.t_start >= resumed_at}
    return len(done), [killed_at - r.t_end for r in done if r.prompt_sha in asked_again]


def lost(clean: dict[str, Any], manifest: dict[str, Any], run_dir: Path) -> int:
    """Deliverables of the clean manifest missing from `manifest` or from disk."""
    have: dict[tuple[str, str, str], str] = {
        (p["key"], a["id"], d["name"]): d["path"]
        for p in manifest["phases"]
        for a in p["agents"]
        for d in a["deliverables"]
    }
    missing = 0
    for phase, agent, names in c.manifest_shape(clean):
        for name in names:
            path = have.get((phase, agent, name))
            if path is None or not (run_dir / path).is_file() or (run_dir / path).stat().st_size == 0:
                missing += 1
    return missing


def _manifest(stdout: str, run_dir: Path) -> dict[str, Any]:
    path = run_dir / "manifest.json"
    if path.is_file():
        return dict(json.loads(path.read_text(encoding="utf-8")))
    return dict(json.loads(stdout)) if stdout.strip().startswith("{") else {"phases": [], "status": "none"}


def run(quick: bool = False, kills: int | None = None, seed: int = SEED) -> c.Section:
    kills = kills or (5 if quick else KILLS)
    work = c.work_dir("crash")
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    with FakeOpenAIProcess(FaultConfig(latency_ms=LATENCY_MS, seed=seed)) as server, c.Stopwatch() as total:
        env = c.fake_env(server.base_url)
        clean_project = _standard.write_project(work / "clean", standard_cards=False)
        spawned = time.monotonic()
        done = subprocess.run(
            _run_args(clean_project, "clean"), env=env, capture_output=True, text=True, timeout=300
        )
        clean_wall = time.monotonic() - spawned
        log = c.chat_calls(server.requests)
        clean_dir = clean_project / ".phasegraph" / "runs" / "clean"
        clean = _manifest(done.stdout, clean_dir)
        if done.returncode != 0 or clean.get("status") != "completed":
            raise SystemExit(
                f"crash benchmark: the clean run failed ({done.returncode}): {done.stderr[-500:]}"
            )
        first = min(r.t_start for r in log)
        span = max(r.t_end or r.t_start for r in log) - first
        startup = first - spawned
        for k in range(kills):
            offset = rng.uniform(0.0, span)
            rows.append(_kill(server, env, work, f"kill{k:02d}", clean, offset=offset))
        early = _kill(server, env, work, "startup", clean, offset=None, before_first=startup / 2)
    return _section(rows, early, clean, clean_wall, span, startup, total.seconds, seed)


def _first_request(
    server: FakeOpenAIProcess, proc: subprocess.Popen[bytes], timeout: float = 60.0
) -> float | None:
    """Wait for the run's first model request to reach the server; its arrival time (None if it exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        log = c.chat_calls(server.requests)
        if log:
            return float(log[0].t_start)
        time.sleep(0.005)
    return None


def _kill(
    server: FakeOpenAIProcess,
    env: dict[str, str],
    work: Path,
    run_id: str,
    clean: dict[str, Any],
    *,
    offset: float | None,
    before_first: float = 0.0,
) -> dict[str, Any]:
    """Start a run, SIGKILL it `offset` s after its first request (or `before_first` s after spawn),
    count its journal, resume it, and compare."""
    project = _standard.write_project(work / run_id, standard_cards=False)
    server.reset()
    spawned = time.monotonic()
    proc = subprocess.Popen(
        _run_args(project, run_id), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    if offset is None:
        time.sleep(before_first)
    else:
        anchor = _first_request(server, proc)
        time.sleep(max(0.0, (anchor or time.monotonic()) + offset - time.monotonic()))
    exited_first = proc.poll() is not None
    if not exited_first:
        os.kill(proc.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    proc.wait()
    saved = journaled(project, run_id)
    resumed_at = time.monotonic()
    after = subprocess.run(
        _resume_args(project, run_id), env=env, capture_output=True, text=True, timeout=300
    )
    run_dir = project / ".phasegraph" / "runs" / run_id
    manifest = _manifest(after.stdout, run_dir)
    log = c.chat_calls(server.requests)
    completed, repeated_gaps = repeats(log, killed_at, resumed_at)
    rerun_status = None
    if after.returncode != 0:
        again = subprocess.run(
            _run_args(project, run_id), env=env, capture_output=True, text=True, timeout=300
        )
        rerun_status = (
            _manifest(again.stdout, run_dir).get("status")
            if again.returncode == 0
            else (f"with exit {again.returncode}")
        )
    return {
        "rerun_status": rerun_status,
        "kill_s": offset if offset is not None else killed_at - spawned,
        "exited_before_kill": exited_first,
        "completed_before_kill": completed,
        "journaled": saved,
        "repeated": len(repeated_gaps),
        "repeated_sent_before_kill_s": repeated_gaps,
        "calls_after_resume": sum(1 for r in log if r.t_start >= resumed_at),
        "resume_exit": after.returncode,
        "status": manifest.get("status"),
        "lost": lost(clean, manifest, run_dir),
        "stderr": after.stderr.strip().splitlines()[-1:] if after.returncode else [],
    }


def _startup_text(early: dict[str, Any], startup: float) -> str:
    head = (
        f"\n\nOne more kill during start-up, {early['kill_s']:.2f} s after spawn (half the time a clean "
        f"run takes to its first request, {startup:.2f} s): "
    )
    if early["resume_exit"] == 0:
        return head + (
            f"`resume` continued it to {early['status']} with {early['calls_after_resume']} calls and "
            f"{early['lost']} deliverables lost."
        )
    rerun = early.get("rerun_status")
    return head + (
        f"`resume` exits {early['resume_exit']} (`{' '.join(early['stderr'])}`): killed before its first "
        "checkpoint, the run does not exist yet, so there is nothing to resume (and nothing had been paid "
        f"for). `phasegraph run` again with the same `--run-id` then ends {rerun}."
    )


def _section(
    rows: list[dict[str, Any]],
    early: dict[str, Any],
    clean: dict[str, Any],
    clean_wall: float,
    span: float,
    startup: float,
    seconds: float,
    seed: int,
) -> c.Section:
    total_repeated = sum(r["repeated"] for r in rows)
    total_lost = sum(r["lost"] for r in rows)
    in_flight = sum(max(0, r["completed_before_kill"] - r["journaled"]) for r in rows)
    completed_runs = sum(1 for r in rows if r["status"] == "completed")
    listed = sum(len(names) for _, _, names in c.manifest_shape(clean))
    table = c.table(
        [
            "kill",
            "at (s after the first request)",
            "answered before kill",
            "journaled",
            "repeated after resume",
            "calls after resume",
            "resumed run",
            "deliverables lost",
        ],
        [
            (
                k + 1,
                f"{r['kill_s']:.2f}" + (" (had exited)" if r["exited_before_kill"] else ""),
                r["completed_before_kill"],
                r["journaled"],
                r["repeated"]
                if not r["repeated"]
                else f"{r['repeated']} (answer sent "
                + ", ".join(f"{g * 1000:.0f} ms" for g in r["repeated_sent_before_kill_s"])
                + " before the kill)",
                r["calls_after_resume"],
                r["status"] if r["resume_exit"] == 0 else f"exit {r['resume_exit']}: {' '.join(r['stderr'])}",
                r["lost"],
            )
            for k, r in enumerate(rows)
        ],
    )
    verdict = (
        f"Completed calls repeated after resume: **{total_repeated}** (goal 0); deliverables lost: "
        f"**{total_lost}** of {listed * len(rows)} (goal 0); resumed runs completed: "
        f"{completed_runs}/{len(rows)}. Answers the server had sent but the killed process had not "
        f"journaled: {in_flight}"
        + (
            (
                "; every repeat is one of those (an answer still on the wire when the process died "
                "cannot have been saved)."
                if total_repeated
                else "."
            )
            if total_repeated <= in_flight
            else "; **more repeats than unjournaled answers: a journaled answer was asked again.**"
        )
    )
    early_text = _startup_text(early, startup)
    body = (
        "`phasegraph run` (default pipeline, built-in catalogue, the standard task, "
        f"{LATENCY_MS} ms per call, one handoff per agent) as a child process, killed with SIGKILL at "
        f"{len(rows)} moments drawn uniformly (seed {seed}) from the first {span:.2f} s after its first "
        "model request reached the server (the span of a clean run's model calls; the clean run took "
        f"{clean_wall:.2f} s, start-up included); then `phasegraph resume RUN_ID`. The fake server runs "
        "in its own process throughout.\n\n"
        + table
        + "\n"
        + verdict
        + early_text
        + "\n\n"
        + c.environment_line()
        + "\n"
        + c.command_line("bench_crash")
    )
    return c.Section(
        key="crash",
        title="5. Crash and resume (kill -9 at 20 points)",
        body=body,
        goals=[
            c.Goal(
                "kill -9 + resume: completed calls repeated", str(total_repeated), "0", total_repeated == 0
            ),
            c.Goal("kill -9 + resume: deliverables lost", str(total_lost), "0", total_lost == 0),
        ],
        data={"kills": rows, "startup_kill": early, "clean_wall_s": clean_wall, "span_s": span, "seed": seed},
        seconds=seconds,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kills", type=int, default=KILLS)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    print(run(kills=args.kills, seed=args.seed).markdown())


if __name__ == "__main__":
    main()
