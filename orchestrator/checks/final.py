"""The final results in the deliverables: after a fix loop, each deliverable of the phase says
what the checks ended with.

The phase's agents wrote their deliverables from the first results; fix rounds change the code
and run the checks again. Each deliverable keeps its text (the history) and gains one section
generated from the final results rather than a second model call: deterministic, free, and the
same on every resume (the section is cut at its marker and appended again, never twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from orchestrator.checks.model import CheckResult, FixRound
from orchestrator.checks.results import summary, trim

if TYPE_CHECKING:
    from orchestrator._turn import RunContext
    from orchestrator.state import AgentOutput, RunState

MARKER = "<!-- phasegraph: final check results -->"
"""Starts the section: what `first_text` cuts at, and what a reader of the file can search for."""
_FAILURES_SHOWN = 20
_MESSAGE_CHARS = 400


def first_text(text: str) -> str:
    """A deliverable's text as its agent wrote it, without the final-results section."""
    return text.split(MARKER, 1)[0].rstrip()


def with_final(text: str, section: str) -> str:
    """`text` (as its agent wrote it) followed by exactly one final-results `section`."""
    return f"{first_text(text)}\n\n{section.rstrip()}"


def final_section(results: Sequence[CheckResult], rounds: Sequence[FixRound]) -> str:
    """The section: the verdict, each check's final status, counts, coverage and failing tests,
    and the fix rounds that led there."""
    last = rounds[-1].round if rounds else 0
    failing = [r for r in results if not r.ok]
    verdict = (
        f"{len(failing)} of {len(results)} check(s) still fail after {last} fix round(s)"
        if failing
        else f"every check passes after fix round {last}"
    )
    lines = [
        MARKER,
        f"## Final check results (after fix round {last})",
        "",
        "_Written by phasegraph from the checks it ran after the last fix round; the text above "
        "was written from the first results, before the fixes._",
        "",
        f"**Verdict:** {verdict}.",
        "",
    ]
    for r in sorted(results, key=lambda c: c.ok):
        exit_part = "" if r.exit_code is None else f", exit {r.exit_code}"
        cov = "" if r.coverage is None else f"; line coverage {r.coverage:.1f}%"
        lines.append(f"- `{r.name}` **{r.status}** ({summary(r)}{exit_part}{cov}): `{r.command}`")
        if r.status in ("error", "timeout") and r.message:
            lines.append(f"  - {r.message.splitlines()[0]}")
        for case in r.failures[:_FAILURES_SHOWN]:
            lines.append(f"  - {case.status} `{case.id}`")
            if case.message:
                lines.extend(f"    > {line}" for line in trim(case.message, _MESSAGE_CHARS).splitlines())
        if len(r.failures) > _FAILURES_SHOWN:
            lines.append(f"  - ... and {len(r.failures) - _FAILURES_SHOWN} more")
    lines.append("")
    for fix in rounds:
        after = "; ".join(f"{r.name} {r.status} ({summary(r)})" for r in fix.checks) or "no checks"
        changed = f"{fix.changes} file(s) changed" if fix.commit else "no file changed"
        lines.append(f"- fix round {fix.round}: `{fix.agent}` ({fix.phase}), {changed}; then {after}")
    return "\n".join(lines)


def final_outputs(
    ctx: RunContext, state: RunState, key: str, updated: dict[str, AgentOutput]
) -> dict[str, AgentOutput]:
    """`updated` plus every other output of phase `key`, each deliverable (text and file) ending
    with the final-results section; `updated` itself when no fix round ran."""
    from orchestrator._turn import emit
    from orchestrator._writes import files_section
    from orchestrator.artifacts import write_deliverable
    from orchestrator.changes import TurnChanges
    from orchestrator.checks.phase import phase_results, phase_rounds

    rounds = phase_rounds(state, key)
    if not rounds:
        return updated
    section = final_section(phase_results(state, key), rounds)
    outputs = {k: o for k, o in (state.get("outputs") or {}).items() if o["phase"] == key}
    result = dict(updated)
    for out_key, out in {**outputs, **updated}.items():
        if out.get("imported"):
            continue
        done = TurnChanges(out.get("changes") or [], out.get("commit"))
        texts = {name: with_final(text, section) for name, text in out["deliverables"].items()}
        for name, text in texts.items():
            shown = first_text(text) + files_section(ctx.workspace, done, name) + f"\n\n{section}"
            path = write_deliverable(ctx.run_dir, key, out["agent"], name, shown, run_id=ctx.run_id)
            emit(
                "deliverable_written",
                ctx.run_id,
                key,
                out["agent"],
                f"{name} + final check results -> {path}",
                path=path,
            )
        new = out.copy()
        new["deliverables"] = texts
        result[out_key] = new
    return result
