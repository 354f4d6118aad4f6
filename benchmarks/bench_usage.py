"""Usage under faults: does a run's manifest count what the server billed, under every fault kind?

For each fault kind the fake server (in its own process) injects it at a seeded rate, and the
default pipeline runs on the standard project as a user runs it: `phasegraph run` as a child
process, then, when the run stops on an unusable answer (exit 3), `phasegraph resume RUN_ID`
again until it completes or `RESUMES` resumes were made. The final manifest's `usage` is then
compared with the server's own record of every request of the case (all invocations together):

- *billed answers*: 200 answers that carried `usage` (usable or not: a malformed, mismatched,
  truncated or refused answer is billed like any other), against the manifest's `calls`;
- *tokens*: the prompt and completion tokens those answers' `usage` reported, against the
  manifest's `prompt_tokens` and `completion_tokens`;
- *hung*: requests the server read and never answered (the client timed out after
  `PHASEGRAPH_TIMEOUT_S`), against the manifest's `unanswered_attempts`.
429s and 500s carry no usage and bill nothing: they must appear in neither count.

A last case gives a priced model (`--model gpt-4o-mini`; the server answers under the name
asked) a `--max-usd` of about half a clean run's cost: the run must stop with exit 4 and status
`budget_exceeded`, its spend may pass the budget only by the calls already in flight when it was
reached (the budget is checked before each call), and its usage must equal the server's count too.

Where the two differ, the section lists every billed answer and hung request the run's spend
ledger (the journal's `phasegraph_usage` table) has no record of, with the invocation it
happened in, the unusable answer that ended that invocation, and whether it was asked again.

Run: `.venv/bin/python -m benchmarks.bench_usage [--resumes N] [--seed S]`
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import _common as c
from benchmarks import _standard
from benchmarks.fake_openai import FakeOpenAIProcess, FaultConfig, RequestLog

PHASEGRAPH = str(c.ROOT / ".venv" / "bin" / "phasegraph")
LATENCY_MS = 150
JITTER_MS = 100
"""Calls overlap as a real model's do: parallel collaborators are in flight together."""
ARRAY_ITEMS = 3
"""Three handoffs per agent (default depth 2), as in the resilience benchmark: about 24 calls a run."""
UNUSABLE = 0.25
"""Rate of an unusable answer (each ends the run: exit 3, then a resume)."""
RETRYABLE = 0.3
"""Rate of a fault the retry policy absorbs (429, 500, hang)."""
TIMEOUT_S = 1.0
"""PHASEGRAPH_TIMEOUT_S for the cases with hangs, so the client gives up on a hung request."""
HANG_S = 3.0
"""How long the server holds a hung request (longer than the client's timeout)."""
RESUMES = 20
SEED = 3
BUDGET_MODEL = "gpt-4o-mini"
BUDGET_SHARE = 0.5
"""The budget case's `--max-usd`, as a share of a clean run's cost."""


@dataclass(frozen=True)
class Case:
    """One fault kind: the server's rates and the run's extra settings."""

    name: str
    faults: dict[str, float]
    settings: dict[str, Any] = field(default_factory=dict)


CASES = (
    Case("malformed", {"rate_malformed": UNUSABLE}),
    Case("mismatch", {"rate_mismatch": UNUSABLE}),
    Case("length", {"rate_length": UNUSABLE}),
    Case("refusal", {"rate_refusal": UNUSABLE}),
    Case("hang", {"rate_hang": RETRYABLE, "hang_s": HANG_S}, {"timeout_s": TIMEOUT_S}),
    Case("429", {"rate_429": RETRYABLE, "retry_after_s": 0.2}),
    Case("500", {"rate_500": RETRYABLE}),
    Case(
        "mix",
        {
            "rate_malformed": UNUSABLE / 4,
            "rate_mismatch": UNUSABLE / 4,
            "rate_length": UNUSABLE / 4,
            "rate_refusal": UNUSABLE / 4,
            "rate_hang": RETRYABLE / 3,
            "rate_429": RETRYABLE / 3,
            "rate_500": RETRYABLE / 3,
            "retry_after_s": 0.2,
            "hang_s": HANG_S,
        },
        {"timeout_s": TIMEOUT_S},
    ),
)
FAULTS = ("malformed", "mismatch", "length", "refusal", "hang", "rate_limit", "server_error")
UNUSABLE_FAULTS = ("malformed", "mismatch", "length", "refusal")


@dataclass(frozen=True)
class Invocation:
    """One `phasegraph run` or `resume` process: its exit code and when it ran (monotonic clock,
    which on Linux the fake server's process shares)."""

    code: int
    started: float
    ended: float


def _config(seed: int, **faults: float) -> FaultConfig:
    return FaultConfig(
        latency_ms=LATENCY_MS, latency_jitter_ms=JITTER_MS, array_items=ARRAY_ITEMS, seed=seed, **faults
    )


def server_count(log: list[RequestLog]) -> dict[str, int]:
    """What the server billed over `log`: answers with usage, their tokens, and hung requests."""
    billed = [r for r in log if r.billed]
    return {
        "requests": len(log),
        "billed": len(billed),
        "prompt_tokens": sum(r.prompt_tokens for r in billed),
        "completion_tokens": sum(r.completion_tokens for r in billed),
        "hung": sum(r.hung for r in log),
    }


def manifest_count(usage: dict[str, Any]) -> dict[str, int]:
    """The same four figures from a manifest's `usage`."""
    return {
        "billed": int(usage.get("calls", 0)),
        "prompt_tokens": int(usage.get("prompt_tokens", 0)),
        "completion_tokens": int(usage.get("completion_tokens", 0)),
        "hung": int(usage.get("unanswered_attempts", 0)),
    }


def equal(server: dict[str, int], manifest: dict[str, int]) -> bool:
    return all(server[k] == manifest[k] for k in ("billed", "prompt_tokens", "completion_tokens", "hung"))


def _invoke(args: list[str], env: dict[str, str]) -> tuple[Invocation, str]:
    started = time.monotonic()
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, cwd=c.ROOT)
    last = (done.stderr.strip().splitlines() or [""])[-1]
    return Invocation(done.returncode, started, time.monotonic()), last


def drive(
    project: Path, run_id: str, env: dict[str, str], extra: list[str], resumes: int
) -> tuple[list[Invocation], str, dict[str, Any]]:
    """`phasegraph run`, then `resume` while it stops on a provider failure (exit 3): the
    invocations, the last error line, and the final manifest."""
    base = ["--project-dir", str(project), "--json", *extra]
    first, last = _invoke([PHASEGRAPH, "run", _standard.TASK, "--run-id", run_id, *base], env)
    calls = [first]
    while calls[-1].code == 3 and len(calls) <= resumes:
        again, last = _invoke([PHASEGRAPH, "resume", run_id, *base], env)
        calls.append(again)
    path = project / ".phasegraph" / "runs" / run_id / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return calls, last if calls[-1].code else "", manifest


def ledger(project: Path, run_id: str) -> list[dict[str, Any]]:
    """The run's spend ledger as the journal holds it (`phasegraph_usage` in the SQLite state):
    one `{"agent", "phase", "call"}` per recorded call, in recording order."""
    with sqlite3.connect(project / ".phasegraph" / "state.sqlite") as db:
        rows = db.execute(
            "SELECT agent, phase, usage FROM phasegraph_usage WHERE run_id = ? ORDER BY id", (run_id,)
        ).fetchall()
    return [{"agent": a, "phase": p, "call": json.loads(u)} for a, p, u in rows]


def unrecorded(
    log: list[RequestLog], records: list[dict[str, Any]], invocations: list[Invocation]
) -> list[dict[str, Any]]:
    """What the server billed that the ledger has no record of, each with what was happening.

    Billed answers are matched to recorded answers by (phase, agent, prompt and completion
    tokens), newest first; hung requests to recorded unanswered attempts by (phase, agent). For
    each one left over: its invocation, whether its prompt was asked again later (paid twice), and the
    unusable answer that ended that invocation, if one did, with how long before it arrived.
    """
    answers = Counter(
        (r["phase"], r["agent"], r["call"]["prompt_tokens"], r["call"]["completion_tokens"])
        for r in records
        if r["call"].get("answered", True)
    )
    unanswered: Counter[tuple[Any, ...]] = Counter()
    for r in records:
        unanswered[(r["phase"], r["agent"])] += int(r["call"].get("unanswered_attempts", 0))
    left: list[RequestLog] = []
    # Newest first: an answer is asked again only when an earlier one was not journaled.
    for entry in sorted(log, key=lambda r: r.t_start, reverse=True):
        if entry.billed:
            key: Any = (entry.phase, entry.agent, entry.prompt_tokens, entry.completion_tokens)
            pool = answers
        elif entry.hung:
            key, pool = (entry.phase, entry.agent), unanswered
        else:
            continue
        if pool[key] > 0:
            pool[key] -= 1
        else:
            left.append(entry)
    out = []
    for entry in reversed(left):
        n = next((i for i, inv in enumerate(invocations) if inv.started <= entry.t_start <= inv.ended), -1)
        inv = invocations[n] if n >= 0 else None
        stopper = _stopper(log, inv) if inv is not None and inv.code == 3 else None
        done = entry.t_end or entry.t_start
        out.append(
            {
                "index": entry.index,
                "what": "hung request" if entry.hung else f"{entry.fault} answer",
                "phase": entry.phase,
                "agent": entry.agent,
                "tokens": (entry.prompt_tokens, entry.completion_tokens),
                "invocation": n + 1,
                "exit": inv.code if inv else None,
                "asked_again": any(
                    r.prompt_sha == entry.prompt_sha and r.t_start > entry.t_start for r in log
                ),
                "stopper": f"{stopper.fault} answer to {stopper.phase}/{stopper.agent}" if stopper else None,
                "before_stop_s": (stopper.t_end or 0.0) - entry.t_start if stopper else None,
                "after_stop_s": done - (stopper.t_end or 0.0) if stopper else None,
            }
        )
    return out


def _stopper(log: list[RequestLog], inv: Invocation) -> RequestLog | None:
    """The first unusable answer sent during `inv`: the one that ended it with exit 3."""
    sent = [r for r in log if r.fault in UNUSABLE_FAULTS and r.t_end is not None]
    during = [r for r in sent if inv.started <= (r.t_end or 0.0) <= inv.ended]
    return min(during, key=lambda r: r.t_end or 0.0, default=None)


def _case(server: FakeOpenAIProcess, work: Path, case: Case, seed: int, resumes: int) -> dict[str, Any]:
    server.reset(_config(seed, **case.faults))
    project = _standard.write_project(work / case.name, standard_cards=False)
    env = c.fake_env(server.base_url, **case.settings)
    invocations, last, manifest = drive(project, case.name, env, [], resumes)
    log = c.chat_calls(server.requests)
    server_side = server_count(log)
    ours = manifest_count(manifest.get("usage", {}))
    return {
        "case": case.name,
        "faults": {f: sum(r.fault == f for r in log) for f in FAULTS},
        "invocations": len(invocations),
        "exit_codes": [i.code for i in invocations],
        "status": manifest.get("status"),
        "last_error": last,
        "server": server_side,
        "manifest": ours,
        "equal": equal(server_side, ours),
        "unrecorded": unrecorded(log, ledger(project, case.name), invocations),
    }


def _price(model: str) -> Any:
    from orchestrator.pricing import price_for

    price = price_for(model)
    if price is None:
        raise SystemExit(f"usage benchmark: no built-in price for {model}")
    return price


def _cost(entry: RequestLog, price: Any) -> float:
    return float(entry.prompt_tokens * price.input + entry.completion_tokens * price.output) / 1_000_000


def _budget(server: FakeOpenAIProcess, work: Path, seed: int) -> dict[str, Any]:
    """A clean run of the priced model for its cost, then one with about half of it as `--max-usd`."""
    price = _price(BUDGET_MODEL)
    model = ["--model", BUDGET_MODEL]
    env = c.fake_env(server.base_url)
    server.reset(_config(seed))
    clean_project = _standard.write_project(work / "budget-clean", standard_cards=False)
    clean_runs, _, clean = drive(clean_project, "clean", env, model, 0)
    clean_usd = float(clean.get("usage", {}).get("cost_usd", 0.0))
    if [i.code for i in clean_runs] != [0] or not clean_usd:
        raise SystemExit(f"usage benchmark: the clean priced run failed ({clean_runs})")
    budget = round(clean_usd * BUDGET_SHARE, 6)
    server.reset(_config(seed))
    project = _standard.write_project(work / "budget", standard_cards=False)
    invocations, last, manifest = drive(project, "budget", env, [*model, "--max-usd", str(budget)], 0)
    log = c.chat_calls(server.requests)
    usage = manifest.get("usage", {})
    billed = [r for r in log if r.billed]
    costs = sorted(_cost(r, price) for r in billed)
    server_usd = sum(costs)
    # What took the spend past the budget: the answer that reached it and the calls in flight then.
    reached = _reached_at(billed, price, budget)
    in_flight = [r for r in billed if reached is not None and r.t_start <= reached <= (r.t_end or reached)]
    server_side, ours = server_count(log), manifest_count(usage)
    return {
        "clean_usd": clean_usd,
        "clean_calls": clean.get("usage", {}).get("calls"),
        "budget_usd": budget,
        "invocations": len(invocations),
        "exit_codes": [i.code for i in invocations],
        "status": manifest.get("status"),
        "error_type": manifest.get("error_type"),
        "last_error": last,
        "manifest_usd": float(usage.get("cost_usd", 0.0)) + float(usage.get("reserved_usd", 0.0)),
        "server_usd": server_usd,
        "over_usd": server_usd - budget,
        "largest_call_usd": costs[-1] if costs else 0.0,
        "in_flight_at_limit": len(in_flight),
        "in_flight_usd": sum(_cost(r, price) for r in in_flight),
        "server": server_side,
        "manifest": ours,
        "equal": equal(server_side, ours),
        "unrecorded": unrecorded(log, ledger(project, "budget"), invocations),
    }


def _reached_at(billed: list[RequestLog], price: Any, budget: float) -> float | None:
    """When the answers sent so far first reached `budget` (server clock), if they did."""
    total = 0.0
    for entry in sorted(billed, key=lambda r: r.t_end or r.t_start):
        total += _cost(entry, price)
        if total >= budget:
            return entry.t_end
    return None


def _faults(row: dict[str, Any]) -> str:
    names = {"rate_limit": "429", "server_error": "500"}
    return ", ".join(f"{n} {names.get(f, f)}" for f, n in row["faults"].items() if n) or "none"


def _row(label: str, r: dict[str, Any]) -> tuple[Any, ...]:
    s, m = r["server"], r["manifest"]
    return (
        label,
        r["status"],
        r["invocations"],
        s["requests"],
        s["billed"],
        m["billed"],
        f"{s['prompt_tokens']:,} + {s['completion_tokens']:,}",
        f"{m['prompt_tokens']:,} + {m['completion_tokens']:,}",
        s["hung"],
        m["hung"],
        "yes" if r["equal"] else "**no**",
    )


def _missing_line(case: str, u: dict[str, Any]) -> tuple[Any, ...]:
    if not u["stopper"]:
        when = "—"
    elif u["what"] == "hung request":
        when = f"sent {u['before_stop_s']:.3f} s before the {u['stopper']} that ended it, still unanswered"
    else:
        when = (
            f"sent {u['before_stop_s']:.3f} s before the {u['stopper']} that ended it, "
            f"answered {u['after_stop_s']:+.3f} s after it"
        )
    return (
        case,
        f"#{u['index']} {u['phase']}/{u['agent']}",
        u["what"],
        f"{u['tokens'][0]:,} + {u['tokens'][1]:,}" if u["what"] != "hung request" else "—",
        f"{u['invocation']} (exit {u['exit']})",
        when,
        "yes" if u["asked_again"] else "no",
    )


def _explain(missing: list[tuple[Any, ...]], explained: bool) -> str:
    """What the server billed that the ledger lacks; `explained` when an unusable answer ended
    the invocation of every one."""
    if not missing:
        return (
            "Every answer the server billed and every request it left hanging is in the run's spend "
            "ledger (`phasegraph_usage` in the project's SQLite state), and nothing else is.\n\n"
        )
    return (
        "What the server billed and the run's spend ledger (`phasegraph_usage`) has no record of, "
        "request by request (billed answers matched by phase, agent and tokens; hung requests by phase "
        "and agent):\n\n"
        + c.table(
            [
                "case",
                "request",
                "what",
                "tokens",
                "invocation",
                "when",
                "asked again (paid twice)",
            ],
            missing,
            "lllrlll",
        )
        + "\n"
        + (
            "Each is a call running in parallel with one whose unusable answer ended the invocation: "
            if explained
            else "Those with an unusable answer ending their invocation are calls running in parallel "
            "with it: "
        )
        + "LangGraph then cancels the other tasks of the superstep, and a call cancelled while its "
        "request is on the wire is never metered, neither as an answer (the server sent one and "
        "billed it) nor as an unanswered attempt, and its answer is not journaled, so the resume asks "
        "it again and pays twice."
        + ("" if explained else " The others have another cause (raw rows: `results/usage.json`).")
        + "\n\n"
    )


def run(quick: bool = False, resumes: int = RESUMES, seed: int = SEED) -> c.Section:
    cases = CASES[:1] + CASES[-1:] if quick else CASES
    work = c.work_dir("usage")
    with FakeOpenAIProcess(_config(seed)) as server, c.Stopwatch() as total:
        rows = [_case(server, work, case, seed, resumes) for case in cases]
        budget = _budget(server, work, seed)
    table = c.table(
        [
            "fault kind",
            "final status",
            "invocations",
            "requests",
            "billed answers (server)",
            "manifest calls",
            "tokens, server (prompt + completion)",
            "tokens, manifest",
            "hung (server)",
            "manifest unanswered_attempts",
            "equal?",
        ],
        [_row(r["case"], r) for r in rows] + [_row(f"budget stop ({BUDGET_MODEL})", budget)],
    )
    unequal = [r["case"] for r in rows if not r["equal"]] + ([] if budget["equal"] else ["budget stop"])
    all_equal = not unequal
    missing = [_missing_line(r["case"], u) for r in rows for u in r["unrecorded"]]
    missing += [_missing_line("budget stop", u) for u in budget["unrecorded"]]
    stopped = budget["exit_codes"] == [4] and budget["status"] == "budget_exceeded"
    within_one = budget["over_usd"] <= budget["largest_call_usd"]
    within_flight = budget["over_usd"] <= budget["in_flight_usd"] + 1e-12
    faults = c.table(
        ["fault kind", "faults the server injected", "exit codes, run then resumes"],
        [(r["case"], _faults(r), " → ".join(map(str, r["exit_codes"]))) for r in rows],
        "lll",
    )
    body = (
        "The default pipeline on the standard project (`benchmarks/_standard.py`, built-in catalogue), "
        f"every agent handing off to {ARRAY_ITEMS} collaborators (default depth), {LATENCY_MS} ± "
        f"{JITTER_MS} ms per answer so that parallel calls overlap as a real model's do, `phasegraph run` "
        f"as a child process against the fake server (seed {seed}); after an exit 3 (an unusable answer "
        f"ends the run) `phasegraph resume` again, up to {resumes} times. Unusable answers at "
        f"{UNUSABLE:.0%} of requests (the mix: a quarter of that each), retried faults at {RETRYABLE:.0%} "
        f"(the mix: a third each; 429s ask for 0.2 s; hung requests are held {HANG_S:g} s against "
        f"`PHASEGRAPH_TIMEOUT_S={TIMEOUT_S:g}`). *Server* columns are the fake server's own record of "
        "every request of the case over all invocations (a *billed answer* is a 200 that carried `usage`, "
        "usable or not); *manifest* columns are the final manifest's `usage`.\n\n"
        + table
        + "\n"
        + faults
        + "\n"
        + f"Usage equals the server's count under every fault kind: **{'yes' if all_equal else 'no'}**"
        + (f" (not for: {', '.join(unequal)})" if unequal else "")
        + ".\n\n"
        + _explain(missing, all(u["stopper"] for r in [*rows, budget] for u in r["unrecorded"]))
        + f"Budget stop: a clean run of `{BUDGET_MODEL}` cost ${budget['clean_usd']:.6f} in "
        f"{budget['clean_calls']} calls; with `--max-usd {budget['budget_usd']:g}` the run exited "
        f"{' → '.join(map(str, budget['exit_codes']))} with status `{budget['status']}` "
        f"({budget['error_type']}). The server billed ${budget['server_usd']:.6f} (the manifest says "
        f"${budget['manifest_usd']:.6f}): ${budget['over_usd']:.6f} over the budget, against "
        f"${budget['largest_call_usd']:.6f} for the largest single call "
        f"({'within' if within_one else '**more than**'} one call's worth) and "
        f"${budget['in_flight_usd']:.6f} for the {budget['in_flight_at_limit']} call(s) that took the "
        "spend past it (the answer that reached it and the calls in flight then: the budget is checked "
        f"before each call, so calls in flight finish; {'within' if within_flight else '**beyond**'} "
        "that).\n\n" + c.environment_line() + "\n" + c.command_line("bench_usage")
    )
    over = (
        f" ({budget['over_usd'] / budget['largest_call_usd']:.1f} of the largest call)"
        if budget["largest_call_usd"]
        else ""
    )
    return c.Section(
        key="usage",
        title="9. Usage under faults (manifest against the server's count)",
        body=body,
        goals=[
            c.Goal(
                "Usage equals the server's count under every fault kind",
                "yes" if all_equal else f"no ({', '.join(unequal)})",
                "equal",
                all_equal,
            ),
            c.Goal(
                "`--max-usd` stop: exit 4, spend past the budget",
                f"exit {budget['exit_codes'][-1]}, +${budget['over_usd']:.6f}{over}",
                "exit 4, budget_exceeded, ≤ the calls in flight",
                stopped and within_flight,
            ),
        ],
        data={"cases": rows, "budget": budget},
        seconds=total.seconds,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--resumes", type=int, default=RESUMES)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    section = run(quick=args.quick, resumes=args.resumes, seed=args.seed)
    c.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (c.RESULTS_DIR / "usage.json").write_text(
        json.dumps({"machine": c.machine(), "seconds": section.seconds, "data": section.data}, indent=2),
        encoding="utf-8",
    )
    print(section.markdown())


if __name__ == "__main__":
    main()
