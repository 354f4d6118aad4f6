"""The CI story end to end: record a verify run once against "OpenAI", replay it forever offline.

While recording, the real openai SDK talks HTTP to the repository's fake OpenAI
server on 127.0.0.1 (benchmarks/fake_openai.py: schema-valid answers with usage)
through `OPENAI_BASE_URL`; while replaying, the server stays up and must receive
no request at all. The commands are the ones docs/ci.md and
examples/github-actions-verify.yml give.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from benchmarks.fake_openai import FakeOpenAI, FaultConfig
from orchestrator.cli import _register, app
from tests.conftest import invoke_cli

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "examples" / "github-actions-verify.yml"
CI_DOC = ROOT / "docs" / "ci.md"
API_KEY = "sk-test-recording-key-0123456789"


pytestmark = pytest.mark.usefixtures("clean_env")


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code, out, _ = invoke_cli(capsys, monkeypatch, *args)
    return code, out


def comparable(manifest: dict[str, Any]) -> dict[str, Any]:
    """A manifest without what must differ between a recording and its replay (each call's
    clock, attempts and model are the replay's own; their number is compared apart)."""
    skip = ("run_id", "run_dir", "provider", "model", "calls")
    text = json.dumps({k: v for k, v in manifest.items() if k not in skip})
    data: dict[str, Any] = json.loads(re.sub(r'"cost_usd": [0-9.e-]+', '"cost_usd": 0', text))
    return data


def deliverable_texts(manifest: dict[str, Any]) -> dict[str, str]:
    from orchestrator.artifacts import read_deliverable

    run_dir = Path(manifest["run_dir"])
    return {
        d["path"]: read_deliverable(run_dir / d["path"])
        for phase in manifest["phases"]
        for agent in phase["agents"]
        for d in agent["deliverables"]
    }


def test_record_once_then_replay_gives_the_same_manifest_without_network(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cassette = tmp_path / "ci" / "verify.cassette.jsonl"
    task = ["--task", "Verify the JWT authentication of the FastAPI notes service"]
    junit = tmp_path / "verify.xml"
    with FakeOpenAI(FaultConfig(seed=7)) as server:
        monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        code, out = cli(
            monkeypatch, capsys, "verify", "--project-dir", str(project), *task,
            "--provider", "openai", "--record", str(cassette), "--json",
        )  # fmt: skip
        recorded = json.loads(out)
        assert code == 0 and recorded["status"] == "completed" and recorded["provider"] == "openai"
        calls = [r for r in server.requests if r.path == "/v1/chat/completions"]
        assert len(calls) == recorded["usage"]["calls"] == len(cassette.read_text().splitlines())
        assert API_KEY not in cassette.read_text()

        monkeypatch.delenv("OPENAI_API_KEY")
        server.reset()
        code, out = cli(
            monkeypatch, capsys, "verify", "--project-dir", str(project), *task,
            "--provider", "replay", "--cassette", str(cassette), "--junit", str(junit), "--json",
        )  # fmt: skip
        assert server.requests == [], "a replay must not reach the model"
    replayed = json.loads(out)
    assert code == 0 and replayed["provider"] == "replay"
    assert comparable(replayed) == comparable(recorded)

    def who(manifest: dict[str, Any]) -> list[tuple[str, str]]:
        return sorted((c["agent"], c["phase"]) for c in manifest["calls"])

    assert who(replayed) == who(recorded)
    assert deliverable_texts(replayed) == deliverable_texts(recorded)
    assert replayed["usage"]["cost_usd"] == 0
    assert junit.is_file()


def test_a_replay_whose_prompt_changed_misses_with_exit_3(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestrator import Orchestrator
    from orchestrator.providers import OfflineProvider
    from orchestrator.providers.replay import Cassette, RecordingProvider

    cassette = tmp_path / "verify.cassette.jsonl"
    task = "Verify the JWT authentication of the FastAPI notes service"
    Orchestrator(provider=RecordingProvider(OfflineProvider(), Cassette(cassette))).verify(project, task=task)
    (project / "app" / "main.py").write_text("# rewritten since the recording\n")
    code, out = cli(
        monkeypatch, capsys, "verify", "--project-dir", str(project), "--task", task,
        "--provider", "replay", "--cassette", str(cassette), "--json",
    )  # fmt: skip
    result = json.loads(out)
    assert code == 3
    assert result["error_type"] == "ReplayMiss"
    assert "(agent backend-python, phase verify)" in result["message"]


def workflow_commands() -> list[str]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    return [step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step]


def test_the_sample_workflow_replays_the_cassette_and_publishes_junit() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = workflow["jobs"]["verify"]["steps"]
    verify = next(s["run"] for s in steps if "phasegraph verify" in s.get("run", ""))
    assert "--provider replay --cassette ci/verify.cassette.jsonl --junit verify.xml" in verify
    publishers = [
        s for s in steps if "junit" in str(s.get("uses", "")).lower() or s.get("with", {}).get("path")
    ]
    assert publishers and all(s.get("if") == "${{ always() }}" for s in publishers)


def documented_commands() -> list[list[str]]:
    """Every `phasegraph ...` command line in docs/ci.md's shell blocks and in the sample workflow."""
    blocks = re.findall(r"```(?:sh|console|bash)\n(.*?)```", CI_DOC.read_text(), flags=re.S)
    lines = [line for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    lines += [line for run in workflow_commands() for line in run.replace("\\\n", " ").splitlines()]
    found = []
    for line in lines:
        words = shlex.split(line, comments=True)
        while words and re.match(r"^[A-Z_]+=", words[0]):
            words = words[1:]
        if len(words) > 1 and words[0].split("/")[-1] == "phasegraph":
            found.append(words[1:])
    return found


@pytest.mark.parametrize("words", documented_commands(), ids=lambda w: " ".join(w[:2]))
def test_documented_commands_use_real_commands_and_flags(words: list[str]) -> None:
    _register()
    group: Any = typer.main.get_command(app)
    command = group.commands[words[0]]
    if words[0] == "runs":
        command = command.commands[words[1]]
    known = {opt for param in command.params for opt in param.opts + param.secondary_opts}
    flags = {w.split("=", 1)[0] for w in words if w.startswith("--")}
    assert flags <= known, f"unknown flags {sorted(flags - known)} for phasegraph {words[0]}"
