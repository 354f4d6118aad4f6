"""Tokens: phasegraph's prompt tokens against a naive prompt for the same calls.

The naive prompt is what a transcript-passing framework sends: the agent's whole card as the
system message, and as the user message the task, the deliverables it must write, and every
output produced before the call started, in full. It is built for exactly the calls phasegraph
made (recorded through the provider) and counted the way the fake server bills phasegraph's
(`_common.count_prompt`: chat accounting plus the same `response_format` schema on both sides,
since both need the same structured answer). Counting phasegraph's recorded requests the same way
must reproduce the server's `usage` exactly; the benchmark checks that.

Two set-ups: the built-in catalogue with the server's default one handoff per agent, and the
issue's standard set-up (seed-sized cards, design handing off to two collaborators; see
`_standard`). Every deliverable every chosen card promises must be on disk, non-empty.

Run: `.venv/bin/python -m benchmarks.bench_tokens`
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from benchmarks import _common as c
from benchmarks import _standard
from benchmarks._tokens import load_counter
from benchmarks.bench_overhead import phasegraph_run
from benchmarks.fake_openai import FakeOpenAIProcess, FaultConfig

GOAL = 0.5


def naive_messages(
    card_text: str, task: str, phase: str, deliverables: list[str], earlier: list[str]
) -> list[dict[str, str]]:
    """The naive prompt: the whole card, the task, what to deliver, and every earlier output in full."""
    user = f"Phase: {phase}\n\nTask: {task}\n\nDeliver:\n" + "\n".join(f"- {d}" for d in deliverables)
    if earlier:
        user += "\n\nEverything produced so far:\n\n" + "\n\n".join(earlier)
    return [{"role": "system", "content": card_text}, {"role": "user", "content": user}]


def _card_text(project: Path, agent: str) -> str:
    own = project / "agents" / f"{agent}.md"
    return (own if own.is_file() else _standard.BUILTIN_AGENTS / f"{agent}.md").read_text(encoding="utf-8")


def measure(server: FakeOpenAIProcess, project: Path, run_id: str) -> dict[str, Any]:
    """One run through a recording provider; phasegraph's and the naive prompt tokens of each call."""
    from orchestrator.providers import make_provider

    server.reset()
    provider = c.recording(make_provider(c.settings_for(server.base_url)))

    async def go() -> Any:
        try:
            return await phasegraph_run(server.base_url, project, run_id, provider)
        finally:
            await provider.aclose()

    _, result = asyncio.run(go())
    log = c.chat_calls(server.requests)
    counter = load_counter()
    calls = []
    for call in provider.calls:
        schema = call.body["response_format"]["json_schema"]["schema"]
        ours = c.count_prompt(counter, call.body["messages"], schema)
        billed = next(
            r.prompt_tokens
            for r in log
            if r.agent == call.agent and r.phase == call.phase and r.status == 200
        )
        if ours != billed:
            raise SystemExit(
                f"token benchmark: counted {ours} for {call.agent}/{call.phase}, server billed {billed}"
            )
        earlier = [e.raw for e in provider.calls if e.ended <= call.started]
        deliverables = list(schema.get("required", []))
        deliverables = [d for d in deliverables if d != "handoffs"]
        naive = c.count_prompt(
            counter,
            naive_messages(
                _card_text(project, call.agent), _standard.TASK, call.phase, deliverables, earlier
            ),
            schema,
        )
        calls.append({"agent": call.agent, "phase": call.phase, "phasegraph": ours, "naive": naive})
    promised, produced = c.all_delivered(result, project)
    return {
        "status": result.status,
        "calls": calls,
        "phasegraph": sum(x["phasegraph"] for x in calls),
        "naive": sum(x["naive"] for x in calls),
        "manifest_prompt_tokens": result.usage.prompt_tokens,
        "server_prompt_tokens": sum(r.prompt_tokens for r in log),
        "promised": promised,
        "produced": produced,
        "counter": server.token_counter,
    }


def run(quick: bool = False) -> c.Section:
    c.quiet_logging()
    work = c.work_dir("tokens")
    with c.Stopwatch() as total:
        with FakeOpenAIProcess(FaultConfig(seed=3)) as server:
            builtin = measure(
                server, _standard.write_project(work / "builtin", standard_cards=False), "builtin"
            )
        with FakeOpenAIProcess(FaultConfig(seed=3, array_items=2)) as server:
            standard = measure(server, _standard.write_project(work / "standard"), "standard")
    rows = []
    for name, m in (
        ("built-in catalogue, one handoff per agent", builtin),
        ("standard set-up (seed-sized cards)", standard),
    ):
        r = c.ratio(m["phasegraph"], m["naive"])
        rows.append(
            (
                name,
                len(m["calls"]),
                f"{m['phasegraph']:,}",
                f"{m['naive']:,}",
                f"**{r:.0%}**",
                f"{m['produced']}/{m['promised']}",
                m["status"],
            )
        )
    per_call = c.table(
        ["call (standard set-up)", "phasegraph", "naive", "ratio"],
        [
            (
                f"{x['phase']} / {x['agent']}",
                f"{x['phasegraph']:,}",
                f"{x['naive']:,}",
                f"{x['phasegraph'] / x['naive']:.0%}",
            )
            for x in standard["calls"]
        ],
    )
    worst = max(c.ratio(m["phasegraph"], m["naive"]) for m in (builtin, standard))
    ok = worst <= GOAL and all(
        m["produced"] == m["promised"] and m["status"] == "completed" for m in (builtin, standard)
    )
    body = (
        "Prompt tokens of the same calls, as phasegraph sent them and as a naive prompt (whole card + "
        f"every earlier output, in full) would be; counter `{standard['counter']}`, schema tokens "
        "counted on both sides. Zero latency; one run each (token counts do not vary between runs).\n\n"
        + c.table(
            ["set-up", "calls", "phasegraph", "naive", "phasegraph ÷ naive", "deliverables", "run"], rows
        )
        + "\n"
        + per_call
        + "\n"
        + "phasegraph's counts are the server's `usage`, checked call by call. Manifest usage against "
        + "the server's total: "
        + "; ".join(
            f"{name} {m['manifest_prompt_tokens']:,} vs {m['server_prompt_tokens']:,} "
            f"({'equal' if m['manifest_prompt_tokens'] == m['server_prompt_tokens'] else 'DIFFERENT'})"
            for name, m in (("built-in", builtin), ("standard", standard))
        )
        + ".\n\n"
        + (
            f"Goal ≤ {GOAL:.0%} of naive with every deliverable produced: **{'met' if ok else 'missed'}** "
            f"(worst {worst:.0%})."
        )
        + "\n\n"
        + c.environment_line()
        + "\n"
        + c.command_line("bench_tokens")
    )
    return c.Section(
        key="tokens",
        title="3. Prompt tokens vs a naive prompt",
        body=body,
        goals=[
            c.Goal(
                "Prompt tokens vs naive (worst set-up)", f"{worst:.0%}", f"≤ {GOAL:.0%}, all deliverables", ok
            )
        ],
        data={"builtin": builtin, "standard": standard},
        seconds=total.seconds,
    )


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None).parse_args(argv)
    print(run().markdown())


if __name__ == "__main__":
    main()
