"""The standard task as a CrewAI sequential crew, for the peer comparison (runs in benchmarks/.venv-crewai).

Usage: ``python crewai_crew.py SPEC.json`` with ``OPENAI_BASE_URL`` pointing at the fake server.
SPEC is written by ``benchmarks.bench_peers``: the task, the five agent turns (phase, agent,
deliverables) and the card file of each agent, used whole as the agent's backstory. One task per
turn, in order, each agent without tools or delegation: CrewAI's plainest sequential crew. Prints
one JSON line: wall seconds of ``kickoff`` (imports excluded), CrewAI's own usage metrics, and
how many task outputs came back.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main(spec_path: str) -> None:
    import crewai
    from crewai import LLM, Agent, Crew, Process, Task

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    llm = LLM(
        model="openai/fake-model",
        base_url=os.environ["OPENAI_BASE_URL"],
        api_key=os.environ.get("OPENAI_API_KEY", "fake"),
        temperature=0.0,
    )
    agents: dict[str, Agent] = {}
    for agent_id, card in spec["cards"].items():
        agents[agent_id] = Agent(
            role=agent_id,
            goal=f"Do the {agent_id} part of the task, completely and concretely.",
            backstory=Path(card).read_text(encoding="utf-8"),
            llm=llm,
            allow_delegation=False,
            verbose=False,
        )
    tasks = [
        Task(
            description=f"Phase {step['phase']}. {spec['task']}",
            expected_output="Markdown with one section for each of: " + "; ".join(step["deliverables"]),
            agent=agents[step["agent"]],
        )
        for step in spec["steps"]
    ]
    crew = Crew(agents=list(agents.values()), tasks=tasks, process=Process.sequential, verbose=False)
    started = time.perf_counter()
    result = crew.kickoff()
    wall = time.perf_counter() - started
    usage = getattr(result, "token_usage", None) or getattr(crew, "usage_metrics", None)
    print(
        json.dumps(
            {
                "peer": "crewai",
                "version": crewai.__version__,
                "wall_s": wall,
                "outputs": sum(1 for t in result.tasks_output if (t.raw or "").strip()),
                "expected_outputs": len(tasks),
                "own_usage": usage.model_dump() if usage is not None else None,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
