"""The pipeline graph: for each phase, route -> primary -> dispatch <-> collaborators -> gate.

Private to `orchestrator.run`. The graph depends only on its `GraphShape`; a run's
`RunContext` (catalogue, router, provider, prompts: things that are not state)
reaches the nodes as LangGraph's runtime context, passed on every `astream`.
Everything a resumed run needs to continue is in `RunState` and so in the checkpoint.
One compiled graph can therefore serve every run of its shape that checkpoints to the
same place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from orchestrator._nodes import GraphShape, NodeKind, node
from orchestrator._phase import Graph, PhaseNodes
from orchestrator._turn import RunContext
from orchestrator.state import RunState

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.store.base import BaseStore

CompiledGraph: TypeAlias = CompiledStateGraph[RunState, RunContext, RunState, RunState]


def build_graph(shape: GraphShape) -> Graph:
    """The StateGraph of `shape` (phases in pipeline order), not yet compiled."""
    graph: Graph = StateGraph(RunState, context_schema=RunContext)
    for key in shape.phases:
        PhaseNodes(key, shape).add_to(graph)
    graph.add_edge(START, node(shape.phases[0], NodeKind.ROUTE))
    return graph


def compile_graph(
    shape: GraphShape, checkpointer: BaseCheckpointSaver[str] | None = None, store: BaseStore | None = None
) -> CompiledGraph:
    """The graph of `shape`, compiled to checkpoint through `checkpointer`.

    Nothing of a run is in it: a cache keyed on the shape and the checkpointer (held,
    so its id is never reused) may hand it to every run of that shape.
    """
    return build_graph(shape).compile(checkpointer=checkpointer, store=store)
