"""`phasegraph run | resume | approve | reject | verify | runs`: drive pipeline runs.

A thin shell over the run service (`orchestrator.run.Runner`), as `Orchestrator` is:
flags become settings and `RunOptions`, the service checks them and runs, and the
result becomes output and the exit code `orchestrator.errors.exit_code` gives.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from orchestrator._log import configure_logging
from orchestrator._terminal import terminal_safe
from orchestrator.cli import app
from orchestrator.cli._common import (
    DEFAULT_QUEUE,
    AgentsDirOption,
    BrokerOption,
    JsonOption,
    NoBuiltinAgentsOption,
    ProjectDirOption,
    QueueOption,
    print_json,
    print_json_rows,
    safe_markup,
)
from orchestrator.cli._progress import ProgressDisplay
from orchestrator.cli._task import TaskFileOption, task_text
from orchestrator.errors import AWAITING_APPROVAL, ConfigError, exit_code
from orchestrator.result import PhaseResult, RunResult
from orchestrator.run import VERIFY_TASK, Runner, RunOptions
from orchestrator.settings import Settings, load_settings

if TYPE_CHECKING:
    from orchestrator.providers.base import Provider

runs_app = typer.Typer(help="List and inspect runs.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")

_err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

ProviderOption = Annotated[
    str | None, typer.Option("--provider", help="openai | offline | replay | langchain (default: settings).")
]
ModelOption = Annotated[str | None, typer.Option("--model", help="Model name for the provider.")]
CassetteOption = Annotated[
    Path | None, typer.Option("--cassette", help="Cassette file for --provider replay.")
]
RecordOption = Annotated[
    Path | None, typer.Option("--record", help="Append every model request/response to this cassette.")
]
OutOption = Annotated[Path | None, typer.Option("--out", help="Artifacts root (default .phasegraph/runs).")]
CheckpointOption = Annotated[
    str | None,
    typer.Option(
        "--checkpoint-url", help="postgresql://... or sqlite:///path (default: the project's SQLite)."
    ),
]
MaxUsdOption = Annotated[
    float | None, typer.Option("--max-usd", help="Stop the run before spending more USD.")
]
MaxTokensOption = Annotated[int | None, typer.Option("--max-tokens", help="Stop the run before more tokens.")]
PriceInOption = Annotated[
    float | None,
    typer.Option("--price-in", help="USD per million input tokens of --model (for models the table lacks)."),
]
PriceOutOption = Annotated[
    float | None, typer.Option("--price-out", help="USD per million output tokens of --model.")
]
ChatModelOption = Annotated[
    str | None,
    typer.Option(
        "--langchain-model", help="module:callable returning a LangChain chat model (--provider langchain)."
    ),
]
UntilOption = Annotated[str | None, typer.Option("--until", help="Stop after this phase (key or label).")]
FromRunOption = Annotated[str | None, typer.Option("--from", help="Earlier deliverables from this run.")]
FromArtifactsOption = Annotated[
    Path | None, typer.Option("--from-artifacts", help="Earlier deliverables from this artifacts folder.")
]
RunIdOption = Annotated[str | None, typer.Option("--run-id", help="Use this run id.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
CheckOption = Annotated[
    list[str] | None,
    typer.Option(
        "--check",
        help="A check command Verify runs (repeatable; no shell); default: the project's configuration, "
        "else detected (pytest, npm test, go test, cargo test).",
    ),
]
CheckTimeoutOption = Annotated[
    float | None,
    typer.Option("--check-timeout", help="Seconds before a check is killed, with all it started (600)."),
]
CheckNetworkOption = Annotated[
    bool, typer.Option("--check-network", help="Let checks reach the network (default: cut off).")
]
InPlaceOption = Annotated[
    bool,
    typer.Option("--in-place", help="Write code in the project's own checkout, on a new branch (for CI)."),
]
IncludeUncommittedOption = Annotated[
    bool,
    typer.Option("--include-uncommitted", help="Carry uncommitted changes into the run's workspace."),
]
FixRoundsOption = Annotated[
    int | None,
    typer.Option(
        "--fix-rounds",
        help="Rounds in which failing checks go back to the agent that wrote the code (2; 0 for CI).",
    ),
]
CheckPythonOption = Annotated[
    Path | None,
    typer.Option(
        "--check-python", help="Python for Python checks (default: the project's .venv, else PATH)."
    ),
]


def _settings(**overrides: Any) -> Settings:
    settings = load_settings(**overrides)
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    return settings


def _chat_model(spec: str | None) -> Any:
    if not spec:
        return None
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ConfigError(f"--langchain-model {spec!r}: expected module:callable")
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"--langchain-model {spec!r}: {exc}") from None
    return factory() if callable(factory) else factory


def _runner(
    settings: Settings, quiet: bool, as_json: bool, chat_model: str | None = None, record: Path | None = None
) -> Runner:
    provider: Provider | None = None
    if record is not None or chat_model:
        from orchestrator.providers import make_provider

        provider = make_provider(settings, chat_model=_chat_model(chat_model), record_to=record)
    if quiet:
        return Runner(settings, provider=provider)
    # Live only when both streams are a terminal: piped output gets plain lines, and log
    # records are printed among them (as plain lines) unless a log format was asked for.
    live = None if sys.stdout.isatty() else False
    display = ProgressDisplay(live=live, divert_logs=settings.log_format == "auto")
    return Runner(settings, provider=provider, on_event=display)


def _run(coro: Coroutine[Any, Any, RunResult], runner: Runner) -> RunResult:
    """Drive one runner call; the progress display is closed however it ends (Ctrl-C too)."""
    try:
        return asyncio.run(coro)
    finally:
        if isinstance(runner.on_event, ProgressDisplay):
            runner.on_event.close()


def _finish(result: RunResult, as_json: bool) -> None:
    if as_json:
        print_json(result.model_dump(mode="json"))
    else:
        colour = {"completed": "green", "paused": "yellow"}.get(result.status, "red")
        message = safe_markup(result.message, one_line=True)
        _err.print(f"[{colour}]{result.status}[/{colour}] {message}".rstrip())
        _err.print(f"artifacts: {terminal_safe(result.run_dir, one_line=True)}", markup=False)
        ws = result.workspace
        if ws is not None:
            wrote = (
                f"{len(ws.files)} file(s) on {ws.branch}; see `phasegraph diff {result.run_id}`, "
                f"bring home with `phasegraph apply {result.run_id}`"
                if ws.head != ws.base
                else f"none written (branch {ws.branch})"
            )
            _err.print(f"code: {terminal_safe(wrote, one_line=True)}", markup=False)
        for phase in result.phases:
            if phase.checks or phase.checks_note:
                _err.print(
                    f"checks ({phase.key}): {terminal_safe(_checks_line(phase), one_line=True)}", markup=False
                )
        u = result.usage
        _err.print(
            f"usage: {u.calls} calls, {u.prompt_tokens} prompt + {u.completion_tokens} completion tokens, "
            f"${u.cost_usd:.4f}",
            markup=False,
        )
        if result.status == "paused":
            verb = "approve" if result.error_type == AWAITING_APPROVAL else "resume"
            _err.print(f"continue with: phasegraph {verb} {result.run_id}", markup=False)
    raise typer.Exit(exit_code(result))


def _checks_line(phase: PhaseResult) -> str:
    """`pytest passed (12 passed), after 1 fix round`, or why the phase ran no check."""
    if not phase.checks:
        return phase.checks_note
    line = "; ".join(f"{c.name} {c.status} ({c.message})" for c in phase.checks)
    rounds = len(phase.fix_rounds)
    return line + (f", after {rounds} fix round{'s' if rounds > 1 else ''}" if rounds else "")


def _start(
    opts: RunOptions,
    *,
    quiet: bool,
    as_json: bool,
    langchain_model: str | None,
    record: Path | None,
    verify: bool = False,
    junit: Path | None = None,
    **settings: Any,
) -> None:
    """Start a run (`verify`: its Verify phase, with `junit`) and exit with its documented code."""
    if record is not None:
        from orchestrator.artifacts import check_file_writable

        check_file_writable(record, "--record")
    runner = _runner(_settings(**settings), quiet or as_json, as_json, langchain_model, record)
    started = runner.verify(opts, junit) if verify else runner.start(opts)
    _finish(_run(started, runner), as_json)


@app.command()
def run(
    task: Annotated[
        str | None, typer.Argument(metavar="TASK", help="The software task, in words (or --task-file).")
    ] = None,
    task_file: TaskFileOption = None,
    project_dir: ProjectDirOption = Path("."),
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", help="Pipeline name (default, full, ...).")
    ] = None,
    phases: Annotated[
        str | None, typer.Option("--phases", help="Only these phases, comma-separated.")
    ] = None,
    until: UntilOption = None,
    provider: ProviderOption = None,
    model: ModelOption = None,
    cassette: CassetteOption = None,
    record: RecordOption = None,
    out: OutOption = None,
    run_id: RunIdOption = None,
    max_usd: MaxUsdOption = None,
    max_tokens: MaxTokensOption = None,
    price_in: PriceInOption = None,
    price_out: PriceOutOption = None,
    checkpoint_url: CheckpointOption = None,
    agents_dir: AgentsDirOption = None,
    no_builtin_agents: NoBuiltinAgentsOption = False,
    approval_gates: Annotated[
        bool | None, typer.Option("--approval-gates/--no-approval-gates", help="Pause after every phase.")
    ] = None,
    from_run: FromRunOption = None,
    from_artifacts: FromArtifactsOption = None,
    in_place: InPlaceOption = False,
    include_uncommitted: IncludeUncommittedOption = False,
    langchain_model: ChatModelOption = None,
    check: CheckOption = None,
    check_timeout: CheckTimeoutOption = None,
    check_network: CheckNetworkOption = False,
    check_python: CheckPythonOption = None,
    fix_rounds: FixRoundsOption = None,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Run TASK through the pipeline and write every deliverable under --out."""
    opts = RunOptions(
        task=task_text(task, task_file),
        project_dir=project_dir,
        pipeline=pipeline,
        phases=phases or (),
        until=until,
        run_id=run_id,
        agents_dirs=agents_dir or [],
        approval_gates=approval_gates,
        from_run=from_run,
        from_artifacts=from_artifacts,
        checks=check or None,
        check_timeout=check_timeout,
        check_network=check_network,
        check_python=check_python,
        fix_rounds=fix_rounds,
        in_place=in_place,
        include_uncommitted=include_uncommitted,
    )
    _start(
        opts,
        quiet=quiet,
        as_json=as_json,
        langchain_model=langchain_model,
        record=record,
        provider=provider,
        model=model,
        cassette=cassette,
        out_dir=out,
        max_usd=max_usd,
        max_tokens=max_tokens,
        price_in=price_in,
        price_out=price_out,
        checkpoint_url=checkpoint_url,
        no_builtin_agents=no_builtin_agents or None,
    )


@app.command()
def verify(
    project_dir: ProjectDirOption = Path("."),
    task: Annotated[
        str | None, typer.Option("--task", help="What to verify (default: the whole project).")
    ] = None,
    task_file: TaskFileOption = None,
    from_run: FromRunOption = None,
    from_artifacts: FromArtifactsOption = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write a JUnit XML report here.")] = None,
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", help="Pipeline whose verify phase runs.")
    ] = None,
    provider: ProviderOption = None,
    model: ModelOption = None,
    cassette: CassetteOption = None,
    record: RecordOption = None,
    out: OutOption = None,
    run_id: RunIdOption = None,
    max_usd: MaxUsdOption = None,
    max_tokens: MaxTokensOption = None,
    price_in: PriceInOption = None,
    price_out: PriceOutOption = None,
    checkpoint_url: CheckpointOption = None,
    agents_dir: AgentsDirOption = None,
    no_builtin_agents: NoBuiltinAgentsOption = False,
    langchain_model: ChatModelOption = None,
    check: CheckOption = None,
    check_timeout: CheckTimeoutOption = None,
    check_network: CheckNetworkOption = False,
    check_python: CheckPythonOption = None,
    fix_rounds: FixRoundsOption = None,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Run only the Verify phase (for CI): the project's real checks, then the Verify agents;
    `--junit` gets a suite per check with a case per real test, and a case per deliverable."""
    opts = RunOptions(
        task=task_text(task, task_file, flag="--task", default=VERIFY_TASK),
        project_dir=project_dir,
        pipeline=pipeline,
        run_id=run_id,
        agents_dirs=agents_dir or [],
        from_run=from_run,
        from_artifacts=from_artifacts,
        checks=check or None,
        check_timeout=check_timeout,
        check_network=check_network,
        check_python=check_python,
        fix_rounds=fix_rounds,
    )
    _start(
        opts,
        quiet=quiet,
        as_json=as_json,
        langchain_model=langchain_model,
        record=record,
        verify=True,
        junit=junit,
        provider=provider,
        model=model,
        cassette=cassette,
        out_dir=out,
        max_usd=max_usd,
        max_tokens=max_tokens,
        price_in=price_in,
        price_out=price_out,
        checkpoint_url=checkpoint_url,
        no_builtin_agents=no_builtin_agents or None,
    )


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(help="The run to continue.")],
    project_dir: ProjectDirOption = Path("."),
    until: UntilOption = None,
    max_usd: MaxUsdOption = None,
    max_tokens: MaxTokensOption = None,
    price_in: PriceInOption = None,
    price_out: PriceOutOption = None,
    checkpoint_url: CheckpointOption = None,
    cassette: CassetteOption = None,
    langchain_model: ChatModelOption = None,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Continue a run after a crash, a failure, a budget stop or --until."""
    settings = _settings(
        max_usd=max_usd,
        max_tokens=max_tokens,
        price_in=price_in,
        price_out=price_out,
        checkpoint_url=checkpoint_url,
        cassette=cassette,
    )
    runner = _runner(settings, quiet or as_json, as_json, langchain_model)
    _finish(_run(runner.resume(run_id, project_dir, until=until), runner), as_json)


@app.command()
def approve(
    run_id: Annotated[str, typer.Argument(help="The paused run.")],
    feedback: Annotated[str, typer.Option("--feedback", help="Notes for the next phase.")] = "",
    project_dir: ProjectDirOption = Path("."),
    until: UntilOption = None,
    checkpoint_url: CheckpointOption = None,
    quiet: QuietOption = False,
    broker: BrokerOption = None,
    queue: QueueOption = DEFAULT_QUEUE,
    as_json: JsonOption = False,
) -> None:
    """Approve the phase a run waits on, and continue (with --broker, a worker continues)."""
    if broker is not None:
        from orchestrator.cli.worker import queued_decision

        queued_decision(
            run_id,
            project_dir,
            approve=True,
            text=feedback,
            broker=broker,
            queue=queue,
            checkpoint_url=checkpoint_url,
            as_json=as_json,
        )
        return
    runner = _runner(_settings(checkpoint_url=checkpoint_url), quiet or as_json, as_json)
    _finish(_run(runner.approve(run_id, project_dir, feedback=feedback, until=until), runner), as_json)


@app.command()
def reject(
    run_id: Annotated[str, typer.Argument(help="The paused run.")],
    reason: Annotated[str, typer.Option("--reason", help="What to change; the phase re-runs with it.")],
    project_dir: ProjectDirOption = Path("."),
    until: UntilOption = None,
    checkpoint_url: CheckpointOption = None,
    quiet: QuietOption = False,
    broker: BrokerOption = None,
    queue: QueueOption = DEFAULT_QUEUE,
    as_json: JsonOption = False,
) -> None:
    """Reject the phase a run waits on; it runs again with the reason (with --broker, on a worker)."""
    if broker is not None:
        from orchestrator.cli.worker import queued_decision

        queued_decision(
            run_id,
            project_dir,
            approve=False,
            text=reason,
            broker=broker,
            queue=queue,
            checkpoint_url=checkpoint_url,
            as_json=as_json,
        )
        return
    runner = _runner(_settings(checkpoint_url=checkpoint_url), quiet or as_json, as_json)
    _finish(_run(runner.reject(run_id, project_dir, reason=reason, until=until), runner), as_json)


@runs_app.command("list")
def runs_list(
    project_dir: ProjectDirOption = Path("."),
    checkpoint_url: CheckpointOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every run the checkpointer knows, newest first."""
    from rich.table import Table

    rows = asyncio.run(Runner(_settings(checkpoint_url=checkpoint_url)).list(project_dir))
    if as_json:
        print_json_rows(rows)
        return
    table = Table("run id", "status", "pipeline", "phases", "task")
    for row in rows:
        cells = (row["run_id"], row["status"], row["pipeline"], ",".join(row["phases"]), row["task"][:60])
        table.add_row(*(safe_markup(str(cell), one_line=True) for cell in cells))
    Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 160).print(table)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="The run to show.")],
    project_dir: ProjectDirOption = Path("."),
    checkpoint_url: CheckpointOption = None,
    as_json: JsonOption = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write the run's report as one self-contained HTML file.")
    ] = None,
) -> None:
    """A run's manifest, from its checkpoint."""
    from orchestrator.artifacts import atomic_write, check_file_writable, render_report

    if html is not None:
        check_file_writable(html, "--html")
    result = asyncio.run(Runner(_settings(checkpoint_url=checkpoint_url)).show(run_id, project_dir))
    if html is not None:
        from orchestrator.report_html import render_html

        atomic_write(html, render_html(result))
        if not as_json:
            print(f"report: {html}")
            return
    if as_json:
        print_json(result.model_dump(mode="json"))
    else:
        Console().print(terminal_safe(render_report(result)), markup=False, highlight=False, emoji=False)
