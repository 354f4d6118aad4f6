# The two set-up commands are `make demo` and `make test` (see README.md).
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test demo lint typecheck bench clean browser screenshot

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check orchestrator tests benchmarks
	$(VENV)/bin/ruff format --check orchestrator tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict orchestrator
	$(VENV)/bin/mypy --strict --explicit-package-bases tests

test: lint typecheck browser
	$(VENV)/bin/pytest

# The report's browser test opens report.html in Debian's Chromium (driven by Playwright, which
# downloads nothing here); Graphviz's `dot` lays out the handoff graph. Installed with apt-get
# when missing and this runs as root; otherwise the browser test skips and says why.
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ] || ! command -v dot >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium graphviz >/dev/null) \
	      || echo "browser: apt-get could not install chromium/graphviz; the browser test will skip"; \
	  else echo "browser: chromium or graphviz missing and not root; the browser test will skip"; fi; \
	fi

# The README's picture: an offline run of the example project, its report.html photographed.
screenshot: $(STAMP) browser
	$(PY) -m tests._browser docs/report.png

DEMO_TASK := Add JWT authentication to the FastAPI notes service
DEMO_DIR  := examples/fastapi-service

demo: $(STAMP)
	$(VENV)/bin/phasegraph agents list
	$(VENV)/bin/phasegraph plan "$(DEMO_TASK)" --project-dir $(DEMO_DIR)
	$(VENV)/bin/phasegraph run "$(DEMO_TASK)" --project-dir $(DEMO_DIR) --provider offline

# The benchmarks' optional extras (exact token counts) go into .venv; the peers (CrewAI,
# langgraph-supervisor) get their own venvs under benchmarks/, created on first use.
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) benchmarks/requirements.txt
	$(PY) -m pip install --quiet -r benchmarks/requirements.txt
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
