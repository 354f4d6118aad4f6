"""A child process for bench_startup: the first runs of a fresh process, each timed.

`python -m benchmarks._fresh_run BASE_URL PROJECT RUN_ID [RUN_ID ...] [--preimport FILE] [--freeze]`
first imports every module listed in FILE (one name a line; names that do not import are skipped)
and, with `--freeze`, moves what they built out of the collector's reach (`gc.freeze()`); then
runs the standard task once per run id, one after another, each `Runner.start` in its own
`asyncio.run` as bench_overhead does; the clock of each run starts before `orchestrator.run` is
imported, so without `--preimport` the first run pays every import it needs. It prints one JSON
line: each run's wall seconds and run folder, and every module imported by the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import json
import sys
import time
from pathlib import Path

from benchmarks import _common as c
from benchmarks import _standard


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("project", type=Path)
    parser.add_argument("run_ids", nargs="+")
    parser.add_argument("--preimport", type=Path)
    parser.add_argument("--freeze", action="store_true")
    args = parser.parse_args()
    if args.preimport is not None:
        for name in args.preimport.read_text(encoding="utf-8").split():
            with contextlib.suppress(Exception):
                importlib.import_module(name)
    if args.freeze:
        gc.freeze()
    c.quiet_logging()
    runs = []
    for run_id in args.run_ids:
        started = time.perf_counter()
        from orchestrator.run import Runner, RunOptions

        runner = Runner(c.settings_for(args.base_url))
        options = RunOptions(task=_standard.TASK, project_dir=args.project, run_id=run_id)
        result = asyncio.run(runner.start(options))
        runs.append(
            {"wall": time.perf_counter() - started, "status": result.status, "run_dir": result.run_dir}
        )
    print(json.dumps({"runs": runs, "modules": sorted(sys.modules)}))


if __name__ == "__main__":
    main()
