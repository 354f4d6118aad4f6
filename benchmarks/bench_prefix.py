"""Prompt caching: how much of each call's prompt an earlier call of the same agent already sent.

OpenAI caches the longest prefix a request shares with recent requests, once it is at least
1,024 tokens long, then in steps of 128 tokens; the `response_format` schema comes first in that
prefix, then the messages. This benchmark runs the standard task through phasegraph's OpenAI
provider against the local fake server (no network, no model), captures every request body as
the openai SDK sent it, and serializes each as the server reads it: the `response_format` JSON,
then each message's role and content. For every call it reports the longest prefix shared with
an earlier call of the same agent in the run, in tokens (o200k_base through tiktoken when it can
load offline, else the o200k-like estimate of `benchmarks/_tokens.py`; the table says which),
and what OpenAI could cache of it.

Three set-ups on the standard set-up (seed-sized cards; backend-python works in design and in
build): one run; the same run again (a CI job repeated: earlier calls include the first run's);
and one run whose first answer leaves a deliverable as "TBD", so that the gate asks for a repair.

Run: `.venv/bin/python -m benchmarks.bench_prefix`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import _common as c
from benchmarks import _standard
from benchmarks._tokens import TokenCounter, load_counter
from benchmarks.fake_openai import FakeOpenAI, FaultConfig

MIN_CACHED = 1024
"""OpenAI caches nothing below this many prefix tokens..."""
CACHE_STEP = 128
"""...and above it, whole steps of this many tokens."""


def serialized(body: Mapping[str, Any]) -> str:
    """A request as the server reads it for caching: tools and schema first, then the messages."""
    parts = []
    if body.get("tools"):
        parts.append(json.dumps(body["tools"], separators=(",", ":"), ensure_ascii=False))
    if body.get("response_format"):
        parts.append(json.dumps(body["response_format"], separators=(",", ":"), ensure_ascii=False))
    for message in body.get("messages", []):
        parts.append(f"<|{message.get('role', '')}|>{message.get('content', '')}")
    return "\n".join(parts)


def shared_prefix(text: str, earlier: Sequence[str]) -> str:
    """The longest prefix `text` shares with any of `earlier`."""
    best = ""
    for other in earlier:
        common = os.path.commonprefix([text, other])  # noqa: RUF071 - characters, on purpose
        if len(common) > len(best):
            best = common
    return best


def cacheable(prefix_tokens: int) -> int:
    """What OpenAI would report as `cached_tokens` for a shared prefix of this many tokens."""
    if prefix_tokens < MIN_CACHED:
        return 0
    return MIN_CACHED + (prefix_tokens - MIN_CACHED) // CACHE_STEP * CACHE_STEP


@dataclass(frozen=True)
class PrefixCall:
    """One call and what of it an earlier call of the same agent already sent."""

    agent: str
    phase: str
    prompt_tokens: int
    shared_tokens: int
    shared_chars: int
    schema_chars: int
    """Length of the serialized `response_format`: a shared prefix at least this long covers the schema."""

    @property
    def cacheable_tokens(self) -> int:
        return cacheable(self.shared_tokens)


def analyse(bodies: Sequence[Mapping[str, Any]], counter: TokenCounter) -> list[PrefixCall]:
    """Each body (in the order sent) against the earlier bodies of the same agent."""
    seen: dict[str, list[str]] = {}
    calls = []
    for body in bodies:
        agent, phase = _who(body)
        text = serialized(body)
        prefix = shared_prefix(text, seen.get(agent, []))
        schema = json.dumps(body.get("response_format") or {}, separators=(",", ":"), ensure_ascii=False)
        calls.append(
            PrefixCall(
                agent=agent,
                phase=phase,
                prompt_tokens=counter.count(text),
                shared_tokens=counter.count(prefix) if prefix else 0,
                shared_chars=len(prefix),
                schema_chars=len(schema),
            )
        )
        seen.setdefault(agent, []).append(text)
    return calls


def _who(body: Mapping[str, Any]) -> tuple[str, str]:
    headers = body.get("_headers") or {}
    return str(headers.get("x-phasegraph-agent", "")), str(headers.get("x-phasegraph-phase", ""))


class _Placeholder:
    """An httpx transport to the fake server that turns the first deliverable of the first answer
    into "TBD", so the phase gate asks that agent for a repair."""

    def __init__(self) -> None:
        import httpx

        self._inner = httpx.AsyncHTTPTransport()
        self._done = False

    async def handle_async_request(self, request: Any) -> Any:
        import httpx

        response = await self._inner.handle_async_request(request)
        if self._done or not request.url.path.endswith("/chat/completions"):
            return response
        await response.aread()
        body = json.loads(response.content)
        content = json.loads(body["choices"][0]["message"]["content"])
        first = next(k for k in content if k != "handoffs")
        content[first] = "TBD"
        body["choices"][0]["message"]["content"] = json.dumps(content)
        self._done = True
        return httpx.Response(response.status_code, json=body)

    async def aclose(self) -> None:
        await self._inner.aclose()


def capture(
    base_url: str, project: Path, run_ids: Sequence[str], *, placeholder: bool = False
) -> tuple[list[dict[str, Any]], list[Any]]:
    """Run the standard task once per run id through the OpenAI provider; every request body as
    sent, in order (with the `x-phasegraph-*` headers under `_headers`), and the results."""
    import httpx

    from orchestrator.providers import make_provider
    from orchestrator.run import Runner, RunOptions

    bodies: list[dict[str, Any]] = []

    async def keep(request: httpx.Request) -> None:
        if request.url.path.endswith("/chat/completions"):
            body = json.loads(request.content)
            body["_headers"] = {k: v for k, v in request.headers.items() if k.startswith("x-phasegraph-")}
            bodies.append(body)

    async def go() -> list[Any]:
        settings = c.settings_for(base_url, prompt_cache_key=True)
        transport: Any = _Placeholder() if placeholder else None
        client = httpx.AsyncClient(transport=transport, event_hooks={"request": [keep]})
        provider = make_provider(settings, http_client=client)
        try:
            runner = Runner(settings, provider=provider)
            return [
                await runner.start(RunOptions(task=_standard.TASK, project_dir=project, run_id=run_id))
                for run_id in run_ids
            ]
        finally:
            await provider.aclose()
            await client.aclose()

    results = asyncio.run(go())
    return bodies, results


def summary(calls: Sequence[PrefixCall], statuses: Sequence[str], keys: set[str]) -> dict[str, Any]:
    return {
        "statuses": list(statuses),
        "calls": [dict(vars(x), cacheable_tokens=x.cacheable_tokens) for x in calls],
        "prompt_tokens": sum(x.prompt_tokens for x in calls),
        "shared_tokens": sum(x.shared_tokens for x in calls),
        "cacheable_tokens": sum(x.cacheable_tokens for x in calls),
        "prompt_cache_keys": len(keys),
    }


def measure(project: Path, counter: TokenCounter) -> dict[str, dict[str, Any]]:
    """The three set-ups: one run; the same run again (earlier calls include the first run's);
    one run whose first answer leaves a deliverable as "TBD" (a repair call)."""
    found: dict[str, dict[str, Any]] = {}
    config = FaultConfig(seed=3, array_items=2)
    with FakeOpenAI(config) as server:
        bodies, results = capture(server.base_url, project, ["once", "again"])
    calls = analyse(bodies, counter)
    first = len(bodies) // 2
    keys = {str(b.get("prompt_cache_key")) for b in bodies if "prompt_cache_key" in b}
    found["one run"] = summary(calls[:first], [results[0].status], keys)
    found["the same run again"] = summary(calls[first:], [results[1].status], keys)
    with FakeOpenAI(config) as server:
        bodies, results = capture(server.base_url, project, ["repair"], placeholder=True)
    keys = {str(b.get("prompt_cache_key")) for b in bodies if "prompt_cache_key" in b}
    found["one run with a repair"] = summary(analyse(bodies, counter), [r.status for r in results], keys)
    return found


def run(quick: bool = False) -> c.Section:
    c.quiet_logging()
    counter = load_counter()
    work = c.work_dir("prefix")
    with c.Stopwatch() as total:
        found = measure(_standard.write_project(work / "standard"), counter)
    rows = [
        (
            name,
            len(m["calls"]),
            f"{m['prompt_tokens']:,}",
            f"{m['shared_tokens']:,}",
            f"{m['cacheable_tokens']:,}",
            f"**{c.ratio(m['cacheable_tokens'], m['prompt_tokens']):.0%}**",
            ", ".join(m["statuses"]),
        )
        for name, m in found.items()
    ]
    per_call = c.table(
        [
            "set-up · call",
            "prompt",
            "shared with an earlier call of the agent",
            "covers the schema",
            "cacheable",
        ],
        [
            (
                f"{name} · {x['phase']} / {x['agent']}",
                f"{x['prompt_tokens']:,}",
                f"{x['shared_tokens']:,}",
                "yes" if x["shared_chars"] >= x["schema_chars"] else "no",
                f"{x['cacheable_tokens']:,}",
            )
            for name, m in found.items()
            for x in m["calls"]
            if name != "the same run again" and sum(y["agent"] == x["agent"] for y in m["calls"]) > 1
        ],
    )
    within = found["one run"]
    body = (
        "The standard set-up (seed-sized cards; backend-python works in design and in build). Every "
        "request as the openai SDK sent it to the fake server, serialized as the server reads it for "
        "caching (`response_format` first, then each message); for each call, the longest prefix it "
        "shares with an earlier call of the same agent, and what OpenAI would cache of it (nothing below "
        f"{MIN_CACHED:,} tokens, then steps of {CACHE_STEP}). Counter `{counter.name}`"
        + ("" if counter.exact else " (an estimate: tiktoken's o200k_base could not load offline)")
        + ".\n\n"
        + c.table(
            ["set-up", "calls", "prompt tokens", "shared", "cacheable", "cacheable ÷ prompt", "run"], rows
        )
        + "\n"
        + per_call
        + "\n"
        + "An agent's calls in different phases share almost nothing: the output schema, which comes "
        "first, is the phase's own. A turn and its repair share the schema and the system prompt; the "
        "same turn in a repeated run shares everything up to the material that changed. "
        f"`prompt_cache_key` (sent here with `PHASEGRAPH_PROMPT_CACHE_KEY=true`): "
        f"{found['one run']['prompt_cache_keys']} distinct key(s) for the "
        f"{len(within['calls'])} calls of one run, one per agent and phase.\n\n"
        + c.environment_line()
        + "\n"
        + c.command_line("bench_prefix")
    )
    again = found["the same run again"]
    return c.Section(
        key="prefix",
        title="Prompt caching: prefix shared between calls of one agent",
        body=body,
        goals=[
            c.Goal(
                "Cacheable share of prompt tokens, standard run repeated",
                f"{c.ratio(again['cacheable_tokens'], again['prompt_tokens']):.0%}",
                "report",
                None,
            )
        ],
        data={"setups": found, "counter": counter.name},
        seconds=total.seconds,
    )


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None).parse_args(argv)
    print(run().markdown())


if __name__ == "__main__":
    main()
