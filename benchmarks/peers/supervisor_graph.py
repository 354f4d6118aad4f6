"""The standard task as a langgraph-supervisor graph, for the peer comparison.

Runs in benchmarks/.venv-supervisor.

Usage: ``python supervisor_graph.py SPEC.json`` with ``OPENAI_BASE_URL`` pointing at the fake server
(started with ``call_tools=True``, so the supervisor's model calls each transfer tool once, in order,
then answers). One ReAct agent per turn of the standard task (backend-python twice: design and
build), each agent's whole card as its prompt and no tools; the supervisor is told the order.
Prints one JSON line: wall seconds of ``ainvoke`` (imports excluded), how many agent answers came
back, and the usage the chat model reported.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any


async def main(spec_path: str) -> None:
    from langchain_openai import ChatOpenAI
    from langgraph.prebuilt import create_react_agent
    from langgraph_supervisor import create_supervisor

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    model = ChatOpenAI(
        model="fake-model",
        base_url=os.environ["OPENAI_BASE_URL"],
        api_key=os.environ.get("OPENAI_API_KEY", "fake"),
        temperature=0.0,
    )
    workers = []
    names = []
    for step in spec["steps"]:
        name = f"{step['phase']}_{step['agent'].replace('-', '_')}"
        names.append(name)
        card = Path(spec["cards"][step["agent"]]).read_text(encoding="utf-8")
        instructions = f"\n\nIn phase {step['phase']}, deliver: " + "; ".join(step["deliverables"])
        workers.append(create_react_agent(model, tools=[], prompt=card + instructions, name=name))
    supervisor = create_supervisor(
        workers,
        model=model,
        prompt=(
            "You are the supervisor of a software team. Hand the task to each agent in this order, "
            "one at a time, and answer with a summary when all have finished: " + ", ".join(names)
        ),
    ).compile()
    started = time.perf_counter()
    state: dict[str, Any] = await supervisor.ainvoke(
        {"messages": [{"role": "user", "content": spec["task"]}]}, {"recursion_limit": 100}
    )
    wall = time.perf_counter() - started
    messages = state["messages"]
    answered = {m.name for m in messages if getattr(m, "type", "") == "ai" and m.name in names and m.content}
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "calls": 0}
    for m in messages:
        meta = getattr(m, "usage_metadata", None)
        if meta:
            usage["prompt_tokens"] += meta.get("input_tokens", 0)
            usage["completion_tokens"] += meta.get("output_tokens", 0)
            usage["calls"] += 1
    print(
        json.dumps(
            {
                "peer": "langgraph-supervisor",
                "version": version("langgraph-supervisor"),
                "wall_s": wall,
                "outputs": len(answered),
                "expected_outputs": len(names),
                "own_usage": usage,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
