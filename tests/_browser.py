"""Open a `report.html` in real headless Chromium and see what a reader sees.

Playwright drives Debian's `/usr/bin/chromium` (`executable_path`), so no browser is
downloaded (`playwright install` is never run). Every request the page makes is logged:
a self-contained report makes exactly one, for its own `file://` URL.

Also the `make screenshot` target: a run of the example project with the real OpenAI
provider against the local fake server (benchmarks/fake_openai.py: latency, a few 429s to
retry, gpt-4o-mini's prices), whose report is photographed for the README:
    python -m tests._browser docs/report.png
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = Path(os.environ.get("PHASEGRAPH_CHROMIUM", "/usr/bin/chromium"))
DEMO_TASK = "Add JWT authentication to the FastAPI notes service"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "fastapi-service"


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not os.access(CHROMIUM, os.X_OK):
        return (
            f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium package with apt-get "
            "when it runs as root; install it, or point PHASEGRAPH_CHROMIUM at a Chromium binary"
        )
    return None


@dataclass
class Seen:
    """What the browser saw of one page."""

    requests: list[str] = field(default_factory=list)
    """Every URL the page asked for, its own included."""
    graph_texts: list[str] = field(default_factory=list)
    """The texts of the handoff graph's SVG."""
    timeline_bars: int = 0
    """Call bars drawn in the timeline's SVG."""
    retry_marks: int = 0
    """`↻N` marks next to calls that needed retries."""
    scripts: int = 0
    """`<script>` elements in the DOM."""
    handlers: int = 0
    """Elements carrying an inline event-handler attribute (`onerror=`, `onclick=`, ...)."""
    pwned: object = None
    """`window.__pwned`, which an injected script would set."""
    body_text: str = ""


_PROBE = """() => {
  const all = Array.from(document.querySelectorAll('*'));
  return {
    graph: Array.from(document.querySelectorAll('figure.graph svg text')).map(t => t.textContent.trim()),
    bars: document.querySelectorAll('svg.timeline g.call rect').length,
    retries: Array.from(document.querySelectorAll('svg.timeline g.call text'))
      .filter(t => t.textContent.startsWith('↻')).length,
    scripts: document.querySelectorAll('script').length,
    handlers: all.filter(el => Array.from(el.attributes).some(a => a.name.startsWith('on'))).length,
    pwned: window.__pwned === undefined ? null : window.__pwned,
    text: document.body.innerText,
  };
}"""


def look_at(
    report: Path, screenshot: Path | None = None, *, javascript: bool = True, height: int = 1000
) -> Seen:
    """Open `report` in headless Chromium (a `height`-pixel window, photographed at `screenshot`),
    open every `<details>`, and probe the page."""
    from playwright.sync_api import sync_playwright

    seen = Seen()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            context = browser.new_context(
                viewport={"width": 1100, "height": height}, java_script_enabled=javascript
            )
            page = context.new_page()
            page.on("request", lambda request: seen.requests.append(request.url))
            page.goto(report.resolve().as_uri(), wait_until="load")
            if screenshot is not None:
                page.screenshot(path=str(screenshot))
            for summary in page.locator("details > summary").all():
                summary.click()
            page.wait_for_load_state("load")
            probe = page.evaluate(_PROBE)
        finally:
            browser.close()
    seen.graph_texts, seen.timeline_bars = probe["graph"], probe["bars"]
    seen.retry_marks, seen.scripts, seen.handlers = probe["retries"], probe["scripts"], probe["handlers"]
    seen.pwned, seen.body_text = probe["pwned"], probe["text"]
    return seen


def demo_screenshot(target: Path, check_python: Path | None = None) -> None:
    """The example project's run against the fake server, its report photographed at `target`;
    `check_python` runs the example's tests (the Makefile's example environment)."""
    from benchmarks.fake_openai import FakeOpenAI, FaultConfig
    from orchestrator import Orchestrator
    from orchestrator.settings import load_settings

    faults = FaultConfig(latency_ms=400, latency_jitter_ms=300, rate_429=0.15, retry_after_s=0.3, seed=5)
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI(faults) as server:
        project = Path(tmp) / "fastapi-service"
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".phasegraph"))
        settings = load_settings(
            provider="openai",
            model="fake-model",
            openai_base_url=server.base_url,
            openai_api_key="fake-key",
            price_in=0.15,
            price_out=0.60,
            max_usd=0.05,
        )
        result = Orchestrator(settings=settings, check_python=check_python).run(DEMO_TASK, project)
        look_at(Path(result.run_dir) / "report.html", target, height=900)


if __name__ == "__main__":
    reason = missing_browser()
    if reason:
        sys.exit(f"screenshot: {reason}")
    python = Path(sys.argv[2]).absolute() if len(sys.argv) > 2 else None
    demo_screenshot(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/report.png"), python)
