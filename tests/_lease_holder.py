"""Another process that wants a run: claims its lease, says `got PID` or `locked MESSAGE`,
and holds the lease until its stdin closes (tests of one writer per run)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from orchestrator.checkpoint import open_persistence
from orchestrator.errors import RunLocked
from orchestrator.lease import run_lease


async def main(url: str, project_dir: str, run_id: str) -> None:
    async with open_persistence(url, Path(project_dir)) as pers:
        try:
            async with run_lease(pers.registry, run_id):
                print(f"got {os.getpid()}", flush=True)
                await asyncio.to_thread(sys.stdin.read)
        except RunLocked as exc:
            print(f"locked {exc}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
