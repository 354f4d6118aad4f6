"""examples/quickstart.ipynb runs top to bottom in a real Jupyter kernel and shows three phases.

The kernel is this interpreter (`sys.executable`) with ipykernel, started from a
kernelspec written to a temporary folder, so whatever kernels the machine has
installed cannot change what is tested. One kernel start for the whole file.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The notebook after running every cell in a fresh kernel (cwd: examples/, like a reader's)."""
    kernels = tmp_path_factory.mktemp("kernels")
    spec = kernels / "phasegraph-test"
    spec.mkdir()
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "phasegraph test kernel",
                "language": "python",
            }
        )
    )
    manager = KernelManager(
        kernel_name="phasegraph-test", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)])
    )
    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    settings = ("PHASEGRAPH_", "OPENAI_", "AZURE_OPENAI_")
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(settings)}
    try:
        NotebookClient(
            notebook, km=manager, timeout=180, resources={"metadata": {"path": str(NOTEBOOK.parent)}}
        ).execute()
    finally:
        os.environ.update(saved)
    return notebook


def _outputs(notebook: Any, kind: str) -> list[str]:
    texts = []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            if kind == "stream" and out.get("output_type") == "stream":
                texts.append(out["text"])
            elif kind in out.get("data", {}):
                texts.append(out["data"][kind])
    return texts


@pytest.mark.slow
def test_every_cell_runs_without_error(executed: Any) -> None:
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]


@pytest.mark.slow
def test_the_outputs_show_the_three_phases_as_markdown(executed: Any) -> None:
    markdown = "\n".join(_outputs(executed, "text/markdown"))
    for heading in ("### Phase 2 · Design — completed", "### Phase 5b · Build — completed",
                    "### Phase 7 · Verify — completed"):  # fmt: skip
        assert heading in markdown
    assert "| 7 verify | completed | `backend-python` |" in markdown
    assert "**Plan** (pipeline `default`)" in markdown


@pytest.mark.slow
def test_the_outputs_show_routing_reasons_and_a_deliverable_text(executed: Any) -> None:
    printed = "".join(_outputs(executed, "stream"))
    assert "backend-python" in printed and "FastAPI" in printed
    assert "Offline output for “Authentication strategy”" in printed
    assert re.search(r"^completed · \d+ calls · \d+ tokens$", printed, flags=re.M)


@pytest.mark.slow
def test_the_finished_run_draws_its_graph_and_timeline_inline(executed: Any) -> None:
    pictures = [html for html in _outputs(executed, "text/html") if 'class="timeline"' in html]
    assert pictures, "no cell showed the run's picture"
    for agent in ("backend-python", "database-specialist", "security-expert"):
        assert f">{agent}</text>" in pictures[-1]


@pytest.mark.slow
def test_attach_after_the_run_sees_it_completed(executed: Any) -> None:
    last = executed.cells[-1].outputs[-1]["data"]["text/plain"]
    assert last == "('completed', ['design', 'build', 'verify'])"
