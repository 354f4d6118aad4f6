"""docs/python-api.md works as written: its Python blocks run in order on a copy of the example project.

Blocks that need a real model start with `# needs OPENAI_API_KEY` and are only compiled.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "python-api.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_the_python_api_doc_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith(("PHASEGRAPH_", "OPENAI_", "AZURE_OPENAI_")):
            monkeypatch.delenv(name)
    shutil.copytree(
        ROOT / "examples" / "fastapi-service",
        tmp_path / "examples" / "fastapi-service",
        ignore=shutil.ignore_patterns(".phasegraph"),
    )
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "python_api_doc"}
    for number, block in enumerate(BLOCKS, start=1):
        code = compile(block, f"{DOC.name} block {number}", "exec")
        if block.startswith("# needs OPENAI_API_KEY"):
            continue
        exec(code, namespace)
    printed = capsys.readouterr().out
    assert "completed" in printed
    assert (tmp_path / "verify.xml").is_file()
    assert len(BLOCKS) >= 10
