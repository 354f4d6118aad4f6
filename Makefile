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

DEMO_TASK := Add JWT authentication to the FastAPI notes service
DEMO_DIR  := examples/fastapi-service
# The example's own environment (FastAPI, pytest): Verify runs its real tests with it. It lives
# outside the example folder so copies of the example stay small. Made once (from your package
# index); the run itself needs no network.
DEMO_VENV := .venv-example
DEMO_PY   := $(DEMO_VENV)/bin/python

$(DEMO_VENV)/.installed: $(DEMO_DIR)/requirements.txt
	python3 -m venv $(DEMO_VENV)
	$(DEMO_PY) -m pip install --quiet -r $(DEMO_DIR)/requirements.txt "pytest>=8" "pytest-cov>=5" "httpx>=0.27"
	touch $(DEMO_VENV)/.installed

demo: $(STAMP) $(DEMO_VENV)/.installed
	$(VENV)/bin/phasegraph agents list
	$(VENV)/bin/phasegraph plan "$(DEMO_TASK)" --project-dir $(DEMO_DIR) --check-python $(DEMO_PY)
	$(VENV)/bin/phasegraph run "$(DEMO_TASK)" --project-dir $(DEMO_DIR) --provider offline \
		--check-python $(DEMO_PY)
	@echo "The Verify phase's real checks (the example's tests), from the run's report.md:"
	@sed -n '/^\*\*Checks/,/^$$/p' "$$(ls -td $(DEMO_DIR)/.phasegraph/runs/*/ | head -1)report.md"

# The README's picture: the example project's run against the fake OpenAI server (its tests run
# in the example's environment), its report.html photographed.
screenshot: $(STAMP) browser $(DEMO_VENV)/.installed
	$(PY) -m tests._browser docs/report.png $(DEMO_PY)

# The benchmarks' optional extras (exact token counts) go into .venv; the peers (CrewAI,
# langgraph-supervisor) get their own venvs under benchmarks/, created on first use.
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) benchmarks/requirements.txt
	$(PY) -m pip install --quiet -r benchmarks/requirements.txt
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) $(DEMO_VENV) .mypy_cache .pytest_cache .ruff_cache
