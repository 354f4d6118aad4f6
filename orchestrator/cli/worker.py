"""`phasegraph worker | submit | runs wait`: runs past one machine, through a broker.

Thin shells over `orchestrator.worker` (the Celery side) and `orchestrator.submit`
(checking, queueing and following a run); see README, "Running on many machines".
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

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
)
from orchestrator.cli._task import TaskFileOption, task_text
from orchestrator.cli.run import (
    CassetteOption,
    CheckNetworkOption,
    CheckOption,
    CheckpointOption,
    CheckPythonOption,
    CheckTimeoutOption,
    FixRoundsOption,
    FromArtifactsOption,
    FromRunOption,
    IncludeUncommittedOption,
    InPlaceOption,
    MaxTokensOption,
    MaxUsdOption,
    ModelOption,
    OutOption,
    PriceInOption,
    PriceOutOption,
    ProviderOption,
    RunIdOption,
    UntilOption,
    _finish,
    _settings,
    runs_app,
)
from orchestrator.run import RunOptions
from orchestrator.worker import VISIBILITY_TIMEOUT_S


@app.command()
def worker(
    broker: BrokerOption = None,
    checkpoint_url: CheckpointOption = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Runs this worker advances at once (processes).")
    ] = 1,
    queues: Annotated[
        str | None, typer.Option("--queues", help="Comma-separated queues to consume (default: phasegraph).")
    ] = None,
    visibility_timeout: Annotated[
        float,
        typer.Option(
            "--visibility-timeout",
            min=1,
            help="Redis: seconds before an unacknowledged run is handed out again.",
        ),
    ] = VISIBILITY_TIMEOUT_S,
) -> None:
    """Execute queued runs: any worker continues any run, one process per run at a time."""
    from orchestrator._log import configure_logging
    from orchestrator.submit import require_broker, require_postgres
    from orchestrator.worker import run_worker

    settings = _settings(checkpoint_url=checkpoint_url)
    url = require_postgres(settings, "worker")
    broker_url = require_broker(settings, broker)
    level = settings.log_level if "log_level" in settings.model_fields_set else "info"
    configure_logging(level=level, fmt="json")
    chosen = [q.strip() for q in (queues or DEFAULT_QUEUE).split(",") if q.strip()]
    code = run_worker(
        broker_url, url, concurrency=concurrency, queues=chosen, visibility_timeout=visibility_timeout
    )
    raise typer.Exit(code)


@app.command()
def submit(
    task: Annotated[
        str | None, typer.Argument(metavar="TASK", help="The software task, in words (or --task-file).")
    ] = None,
    task_file: TaskFileOption = None,
    project_dir: ProjectDirOption = Path("."),
    pipeline: Annotated[str | None, typer.Option("--pipeline", help="Pipeline name.")] = None,
    phases: Annotated[
        str | None, typer.Option("--phases", help="Only these phases, comma-separated.")
    ] = None,
    until: UntilOption = None,
    provider: ProviderOption = None,
    model: ModelOption = None,
    cassette: CassetteOption = None,
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
    check: CheckOption = None,
    check_timeout: CheckTimeoutOption = None,
    check_network: CheckNetworkOption = False,
    check_python: CheckPythonOption = None,
    fix_rounds: FixRoundsOption = None,
    broker: BrokerOption = None,
    queue: QueueOption = DEFAULT_QUEUE,
    as_json: JsonOption = False,
) -> None:
    """Queue TASK for the workers and print its run id (`runs wait RUN_ID` follows it)."""
    from orchestrator.submit import require_broker
    from orchestrator.submit import submit as queue_run

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
    settings = _settings(
        provider=provider,
        model=model,
        cassette=cassette,
        out_dir=out.resolve() if out is not None else None,
        max_usd=max_usd,
        max_tokens=max_tokens,
        price_in=price_in,
        price_out=price_out,
        checkpoint_url=checkpoint_url,
        no_builtin_agents=no_builtin_agents or None,
    )
    broker_url = require_broker(settings, broker)
    queued = asyncio.run(queue_run(settings, opts, broker=broker_url, queue=queue))
    if as_json:
        print_json({"run_id": queued, "status": "queued", "queue": queue})
    else:
        print(queued)


@runs_app.command("wait")
def runs_wait(
    run_id: Annotated[str, typer.Argument(help="The run to wait for.")],
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0, help="Give up after this many seconds (exit 6).")
    ] = None,
    project_dir: ProjectDirOption = Path("."),
    checkpoint_url: CheckpointOption = None,
    as_json: JsonOption = False,
) -> None:
    """Wait until a run ends or waits for approval; exit with the run's code."""
    from orchestrator.submit import wait_for

    settings = _settings(checkpoint_url=checkpoint_url)
    result = asyncio.run(wait_for(settings, run_id, project_dir, timeout=timeout))
    _finish(result, as_json)


def queued_decision(
    run_id: str,
    project_dir: Path,
    *,
    approve: bool,
    text: str,
    broker: str,
    queue: str,
    checkpoint_url: str | None,
    as_json: bool,
) -> None:
    """`approve`/`reject --broker`: queue the decision; a worker continues the run."""
    from orchestrator.submit import enqueue_decision, require_broker

    settings = _settings(checkpoint_url=checkpoint_url)
    broker_url = require_broker(settings, broker)
    asyncio.run(
        enqueue_decision(
            settings, run_id, project_dir, approve=approve, text=text, broker=broker_url, queue=queue
        )
    )
    data: dict[str, Any] = {"run_id": run_id, "status": "queued", "queue": queue}
    if as_json:
        print_json(data)
    else:
        print(f"{run_id} queued ({'approved' if approve else 'rejected'}); `phasegraph runs wait {run_id}`")
