"""The report's call timeline and spending bars (private helper of `report_html`).

Both are drawn from the manifest's JSON. The timeline is hand-placed SVG: one row per
agent on a linear time axis is a scale, not a layout problem, and a plotting library
(matplotlib) would add tens of megabytes to draw rectangles.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_LABEL_W, _PLOT_W, _ROW_H, _BAR_H, _TOP, _PAD = 170, 720, 26, 16, 28, 10
PALETTE = ("#4e79a7", "#59a14f", "#b07aa1", "#9c755f", "#76b7b2", "#edc948", "#bab0ac", "#ff9da7")
"""Phase colours, in phase order."""
REPAIR = "#f28e2b"
FAILED = "#e15759"


@dataclass(frozen=True)
class CallRow:
    """One model call placed on the run's clock."""

    agent: str
    phase: str
    start_s: float
    """Seconds after the run's first call started."""
    duration_s: float
    attempts: int
    repair: bool
    answered: bool
    tokens: int
    cost_usd: float
    timed: bool
    """False when the record has no start time (older runs): placed after the previous call."""

    @property
    def retries(self) -> int:
        """Attempts beyond the first."""
        return max(self.attempts - 1, 0)


def call_rows(manifest: Mapping[str, Any]) -> list[CallRow]:
    """The run's calls (`manifest["calls"]`) on one clock, in recorded order."""
    records: Sequence[Mapping[str, Any]] = manifest.get("calls") or []
    starts = [r["call"].get("started_at") for r in records if r.get("call", {}).get("started_at")]
    t0 = min(starts) if starts else 0.0
    rows: list[CallRow] = []
    cursor = 0.0
    for record in records:
        call = record.get("call") or {}
        started = call.get("started_at")
        duration = float(call.get("latency_s") or 0.0)
        start = float(started) - t0 if started else cursor
        cursor = max(cursor, start + duration)
        rows.append(
            CallRow(
                agent=str(record.get("agent") or "?"),
                phase=str(record.get("phase") or ""),
                start_s=start,
                duration_s=duration,
                attempts=int(call.get("attempts", 1)),
                repair=bool(call.get("repair")),
                answered=bool(call.get("answered", True)),
                tokens=int(call.get("prompt_tokens", 0)) + int(call.get("completion_tokens", 0)),
                cost_usd=float(call.get("cost_usd", 0.0)),
                timed=bool(started),
            )
        )
    return rows


def phase_colours(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Phase key -> colour, in the run's phase order."""
    keys = [str(p.get("key")) for p in manifest.get("phases") or []]
    return {key: PALETTE[i % len(PALETTE)] for i, key in enumerate(keys)}


def _tick_step(span: float) -> float:
    """A round tick interval giving about six ticks over `span` seconds."""
    raw = max(span, 1e-3) / 6
    magnitude = 10 ** math.floor(math.log10(raw))
    return float(next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw))


def _seconds(value: float) -> str:
    return f"{value:.3g}s" if value < 10 else f"{value:.0f}s"


def timeline_svg(rows: Sequence[CallRow], colours: Mapping[str, str]) -> str:
    """One row per agent, one bar per call; repairs outlined orange, unanswered calls red."""
    agents = list(dict.fromkeys(r.agent for r in rows))
    span = max((r.start_s + r.duration_s for r in rows), default=0.0) or 1.0
    scale = _PLOT_W / span
    height = _TOP + len(agents) * _ROW_H + _PAD
    width = _LABEL_W + _PLOT_W + 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">'
    ]
    step = _tick_step(span)
    for i in range(int(span / step) + 1):
        x = _LABEL_W + i * step * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="{_TOP - 6}" x2="{x:.1f}" y2="{height - _PAD}" stroke="#e3e6ea"/>'
            f'<text x="{x:.1f}" y="{_TOP - 10}" text-anchor="middle" fill="#666">{_seconds(i * step)}</text>'
        )
    for i, agent in enumerate(agents):
        y = _TOP + i * _ROW_H
        parts.append(f'<text x="4" y="{y + _BAR_H - 3}" class="agent">{html.escape(agent)}</text>')
    for row in rows:
        parts.append(_bar(row, agents.index(row.agent), scale, colours))
    parts.append("</svg>")
    return "".join(parts)


def _bar(row: CallRow, index: int, scale: float, colours: Mapping[str, str]) -> str:
    x = _LABEL_W + row.start_s * scale
    y = _TOP + index * _ROW_H
    w = max(row.duration_s * scale, 3.0)
    fill = colours.get(row.phase, PALETTE[-1]) if row.answered else FAILED
    stroke = f' stroke="{REPAIR}" stroke-width="3"' if row.repair else ""
    what = [row.agent, row.phase, f"start +{_seconds(row.start_s)}", f"{row.duration_s:.3f}s"]
    if row.retries:
        what.append(f"{row.retries} retr{'y' if row.retries == 1 else 'ies'}")
    if row.repair:
        what.append("repair call")
    if not row.answered:
        what.append("no answer")
    title = html.escape(" · ".join(what))
    mark = ""
    if row.retries:
        mark = f'<text x="{x + w + 3:.1f}" y="{y + _BAR_H - 4}" fill="{FAILED}">↻{row.retries}</text>'
    return (
        f'<g class="call"><title>{title}</title><rect x="{x:.1f}" y="{y}" width="{w:.1f}" '
        f'height="{_BAR_H}" rx="2" fill="{fill}"{stroke}/>{mark}</g>'
    )


@dataclass(frozen=True)
class SpendRow:
    """One bar of the spending chart."""

    name: str
    tokens: int
    cost_usd: float
    tokens_pct: float
    """Bar length in percent of the chart's scale (the budget when one was set)."""
    usd_pct: float


def spend_rows(totals: Mapping[str, Mapping[str, Any]], budget: Mapping[str, Any] | None) -> list[SpendRow]:
    """Bars for `totals` (name -> usage JSON), scaled to the budget when set, else to the largest."""
    tokens = {
        n: int(u.get("prompt_tokens", 0)) + int(u.get("completion_tokens", 0)) for n, u in totals.items()
    }
    usd = {n: float(u.get("cost_usd", 0.0)) for n, u in totals.items()}
    budget = budget or {}
    token_scale = budget.get("max_tokens") or max(tokens.values(), default=0) or 1
    usd_scale = budget.get("max_usd") or max(usd.values(), default=0.0) or 1.0
    return [
        SpendRow(
            name=name,
            tokens=tokens[name],
            cost_usd=usd[name],
            tokens_pct=min(100.0, 100.0 * tokens[name] / token_scale),
            usd_pct=min(100.0, 100.0 * usd[name] / usd_scale),
        )
        for name in totals
    ]


def agent_totals(manifest: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Usage per agent id across the run's phases (the manifest's per-agent usage, added by `Usage`)."""
    from orchestrator.usage import Usage

    totals: dict[str, Usage] = {}
    for phase in manifest.get("phases") or []:
        for agent in phase.get("agents") or []:
            name = str(agent.get("id"))
            totals[name] = totals.get(name, Usage()) + Usage.model_validate(agent.get("usage") or {})
    return {name: usage.model_dump(mode="json") for name, usage in totals.items()}
