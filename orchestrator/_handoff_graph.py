"""The handoff graph of a run (private helper of `report_html` and `artifacts`).

Phase -> primary -> collaborator, built from the manifest's JSON, and drawn three
ways: inline SVG laid out by Graphviz `dot` when the binary is installed, a plain
column layout when it is not, and a Mermaid block for `report.md`. Every label that
came from a model (a brief) is cut to its first words and reduced to a safe
character set before it reaches any drawing, so no drawing can carry markup.
"""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

BRIEF_WORDS = 6
"""Words of a brief an edge label shows."""
_UNSAFE = re.compile(r"[^\w\s.,:;!?'()/+#·-]", re.UNICODE)
_NODE_W, _NODE_H, _GAP_X, _GAP_Y, _PAD = 190, 34, 40, 22, 16
"""The plain layout's grid, in SVG pixels."""


@dataclass(frozen=True)
class Node:
    """One agent in one phase."""

    key: str
    """A drawing-safe id, unique in the run (`design__backend-python`)."""
    agent: str
    role: str


@dataclass(frozen=True)
class Edge:
    """A handoff (or the flow from one phase's primary to the next's)."""

    src: str
    dst: str
    label: str = ""
    flow: bool = False
    """True for the phase-to-phase edge (drawn dashed, unlabelled)."""


@dataclass
class Cluster:
    """One phase with its agents, primary first."""

    key: str
    title: str
    nodes: list[Node] = field(default_factory=list)


@dataclass
class HandoffGraph:
    """Phases as clusters of agent nodes, handoffs and phase flow as edges."""

    clusters: list[Cluster] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


def safe_label(text: str, words: int = BRIEF_WORDS) -> str:
    """The first `words` words of model text, with anything but letters, digits and plain
    punctuation dropped: fit for an SVG text, a dot label and a Mermaid label alike."""
    parts = _UNSAFE.sub("", text).split()
    cut = " ".join(parts[:words])
    return cut + (" …" if len(parts) > words else "")


def _node_key(phase: str, agent: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{phase}__{agent}")


def _edge_label(agent: Mapping[str, Any]) -> str:
    words = safe_label(str(agent.get("brief") or ""))
    by = agent.get("by")
    by_text = f"by: {safe_label(str(by), 1)}" if by else ""
    return " · ".join(p for p in (words, by_text) if p)


def build_graph(manifest: Mapping[str, Any]) -> HandoffGraph:
    """The run's graph from its manifest (`RunResult.model_dump(mode="json")`)."""
    graph = HandoffGraph()
    previous: str | None = None
    for phase in manifest.get("phases") or []:
        key = str(phase.get("key", ""))
        title = f"{phase.get('label', '')} · {phase.get('name') or key} ({phase.get('status', '')})"
        cluster = Cluster(key=_node_key("phase", key), title=safe_label(title, 12))
        agents: Sequence[Mapping[str, Any]] = phase.get("agents") or []
        ids = {str(a.get("id")) for a in agents}
        for agent in sorted(agents, key=lambda a: a.get("role") != "primary"):
            node = Node(_node_key(key, str(agent.get("id"))), str(agent.get("id")), str(agent.get("role")))
            cluster.nodes.append(node)
            by = agent.get("handed_off_by")
            if by and str(by) in ids:
                graph.edges.append(Edge(_node_key(key, str(by)), node.key, _edge_label(agent)))
        if not cluster.nodes and phase.get("primary"):
            primary = str(phase["primary"])
            cluster.nodes.append(Node(_node_key(key, primary), primary, "primary"))
        if cluster.nodes:
            head = cluster.nodes[0].key
            if previous is not None:
                graph.edges.append(Edge(previous, head, flow=True))
            previous = head
        graph.clusters.append(cluster)
    return graph


def dot_available() -> bool:
    """True when the Graphviz `dot` binary is on PATH."""
    return shutil.which("dot") is not None


def svg_with_dot(graph: HandoffGraph) -> str:
    """The graph laid out by Graphviz `dot`, as an inline `<svg>` element."""
    import graphviz

    # Top to bottom with every phase's primary on one rank: phases stand side by side,
    # each primary above the collaborators it handed work to.
    attrs = {"rankdir": "TB", "newrank": "true", "fontname": "sans-serif", "bgcolor": "transparent"}
    dot = graphviz.Digraph("handoffs", graph_attr=attrs)
    dot.attr("node", shape="box", style="rounded,filled", fontname="sans-serif", fontsize="11")
    dot.attr("edge", fontname="sans-serif", fontsize="9", color="#555555")
    for i, cluster in enumerate(graph.clusters):
        with dot.subgraph(name=f"cluster_{i}") as sub:
            sub.attr(label=graphviz.escape(cluster.title), style="rounded", color="#9aa5b1", fontsize="11")
            if not cluster.nodes:
                sub.node(f"{cluster.key}__empty", label="(no agent)", style="dashed")
            for node in cluster.nodes:
                fill = "#d9e8fb" if node.role == "primary" else "#eef2f6"
                sub.node(node.key, label=graphviz.escape(node.agent), fillcolor=fill, id=f"agent-{node.key}")
    with dot.subgraph() as top:
        top.attr(rank="same")
        for cluster in graph.clusters:
            top.node(cluster.nodes[0].key if cluster.nodes else f"{cluster.key}__empty")
    for edge in graph.edges:
        if edge.flow:
            dot.edge(edge.src, edge.dst, style="dashed", color="#9aa5b1")
        else:
            dot.edge(edge.src, edge.dst, label=graphviz.escape(edge.label))
    svg = str(dot.pipe(format="svg", encoding="utf-8"))
    return svg[svg.index("<svg") :]


def svg_plain(graph: HandoffGraph) -> str:
    """A column per phase, primary on top and collaborators under it: the layout without `dot`.

    Hand-placed on a grid because there is nothing to solve: edges stay inside a column
    (handoffs) or join neighbouring columns (the phase flow).
    """
    pos: dict[str, tuple[int, int]] = {}
    parts: list[str] = []
    for col, cluster in enumerate(graph.clusters):
        x = _PAD + col * (_NODE_W + _GAP_X)
        parts.append(f'<text x="{x}" y="{_PAD + 10}" class="ph">{html.escape(cluster.title)}</text>')
        for row, node in enumerate(cluster.nodes):
            y = _PAD + 24 + row * (_NODE_H + _GAP_Y)
            pos[node.key] = (x, y)
            fill = "#d9e8fb" if node.role == "primary" else "#eef2f6"
            parts.append(
                f'<g id="agent-{node.key}" class="node"><rect x="{x}" y="{y}" width="{_NODE_W}" '
                f'height="{_NODE_H}" rx="8" fill="{fill}" stroke="#555"/>'
                f'<text x="{x + 10}" y="{y + 21}">{html.escape(node.agent)}</text></g>'
            )
    for edge in graph.edges:
        (x1, y1), (x2, y2) = pos[edge.src], pos[edge.dst]
        if edge.flow:
            parts.append(
                f'<line x1="{x1 + _NODE_W}" y1="{y1 + _NODE_H // 2}" x2="{x2}" y2="{y2 + _NODE_H // 2}" '
                'stroke="#9aa5b1" stroke-dasharray="4 3" marker-end="url(#arrow)"/>'
            )
            continue
        parts.append(
            f'<line x1="{x1 + 20}" y1="{y1 + _NODE_H}" x2="{x2 + 20}" y2="{y2}" stroke="#555" '
            'marker-end="url(#arrow)"/>'
            f'<text x="{x2 + 26}" y="{y2 - 5}" class="el">{html.escape(edge.label)}</text>'
        )
    rows = max((len(c.nodes) for c in graph.clusters), default=0)
    width = _PAD * 2 + max(len(graph.clusters), 1) * (_NODE_W + _GAP_X)
    height = _PAD * 2 + 24 + max(rows, 1) * (_NODE_H + _GAP_Y)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>'
        "<style>.ph{font-weight:bold}.el{font-size:10px;fill:#444}</style>" + "".join(parts) + "</svg>"
    )


def graph_svg(graph: HandoffGraph) -> tuple[str, str]:
    """The SVG drawing and a one-line note on how it was laid out."""
    if dot_available():
        try:
            return svg_with_dot(graph), ""
        except Exception as exc:  # a broken Graphviz install must not cost the report
            return svg_plain(graph), f"Graphviz dot failed ({type(exc).__name__}); plain layout."
    return svg_plain(graph), "Graphviz `dot` is not installed: plain layout (apt-get install graphviz)."


def mermaid(graph: HandoffGraph) -> str:
    """The graph as a Mermaid flowchart (GitHub, GitLab and JupyterLab render it)."""
    lines = ["flowchart LR"]
    for cluster in graph.clusters:
        lines.append(f'  subgraph {cluster.key}["{_mermaid_text(cluster.title)}"]')
        for node in cluster.nodes:
            name = _mermaid_text(safe_label(node.agent, 4))
            shape = f'(["{name}"])' if node.role == "primary" else f'["{name}"]'
            lines.append(f"    {node.key}{shape}")
        lines.append("  end")
    for edge in graph.edges:
        if edge.flow:
            lines.append(f"  {edge.src} -.-> {edge.dst}")
        elif edge.label:
            lines.append(f'  {edge.src} -->|"{_mermaid_text(edge.label)}"| {edge.dst}')
        else:
            lines.append(f"  {edge.src} --> {edge.dst}")
    return "\n".join(lines)


def _mermaid_text(text: str) -> str:
    """A label inside Mermaid's double quotes (quotes become Mermaid's own entity)."""
    return text.replace('"', "#quot;")
