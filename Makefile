# Two commands on a fresh machine: `make demo` and `make test`. Both idempotent; the environment lives in .venv.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS ?= dev,scale,learn,agents

.PHONY: demo test deploy-check bench lint venv clean web web-test chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install when the project metadata changes (pyproject.toml), otherwise reuse the environment.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

venv: $(STAMP)

# The browser client (web/): npm's packages exactly as package-lock.json says (`npm ci`, again only when the lock
# changes), then Vite builds the page into the Python package (src/mpgenie/web_static, served at /play/, listed as
# package data and kept out of git), again whenever a source is newer than the build.
WEB_SOURCES := web/index.html web/vite.config.js web/package.json $(shell find web/src -type f 2>/dev/null)
WEB_BUILT := src/mpgenie/web_static/index.html
NPM_STAMP := web/node_modules/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(NPM_STAMP): web/package-lock.json
	cd web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

$(WEB_BUILT): $(NPM_STAMP) $(WEB_SOURCES)
	cd web && npm run build --silent

web: $(WEB_BUILT)

# The JS tests (node's test runner) against the golden fixtures that tests/web/golden.py writes from the Python code.
web-test: $(NPM_STAMP)
	cd web && npm test --silent

# Headless Chromium for the browser tests: Debian's packages, installed once (never a browser download).
chromium:
	@test -x /usr/bin/chromium || ($(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)

DEMO_SECONDS ?= 120

# The realtime server with bots on localhost; Ctrl-C stops it earlier (DEMO_SECONDS=0: until Ctrl-C).
demo: $(STAMP) web
	$(BIN)/mpgenie generate --episodes 2 --players 6 --steps 200 --out out/sample-dataset
	$(BIN)/mpgenie dataset check out/sample-dataset
	$(BIN)/mpgenie dataset stats out/sample-dataset --preview out/sample-dataset/preview.png
	@echo "sample dataset: out/sample-dataset (preview image: out/sample-dataset/preview.png)"
	$(BIN)/mpgenie demo --seconds $(DEMO_SECONDS)

# The Numba kernels run compiled in the main run (coverage cannot see inside); their tests run again with the JIT
# off so that their Python path counts. Then one combined report, gated at fail_under (pyproject.toml).
KERNEL_TESTS := tests/world/test_spatial.py tests/world/test_kinematics.py tests/net/test_snapwire.py tests/render

test: $(STAMP) web chromium web-test
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy src/mpgenie/world src/mpgenie/net
	$(BIN)/bandit -q -c pyproject.toml -r src
	$(BIN)/coverage erase
	$(BIN)/python -m pytest -n 2 -q --cov --cov-report= --cov-fail-under=0
	NUMBA_DISABLE_JIT=1 $(BIN)/python -m pytest -n 2 -q -p no:cacheprovider --cov --cov-append --cov-report= --cov-fail-under=0 $(KERNEL_TESTS)
	$(BIN)/coverage report --format=total > /dev/null || ($(BIN)/coverage report; exit 1)
	@echo "line coverage of src/: $$($(BIN)/coverage report --format=total)%"

# The deployment artefacts alone (Dockerfile, deploy/, CI workflow): tests/deploy, which `make test` runs too.
deploy-check: $(STAMP)
	$(BIN)/python -m pytest tests/deploy -q

bench: $(STAMP)
	$(BIN)/mpgenie bench world --players 1000 --ticks 200
	$(BIN)/mpgenie bench world --players 10000 --ticks 200
	$(BIN)/mpgenie bench aoi --players 10000

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy src/mpgenie/world src/mpgenie/net
	$(BIN)/bandit -q -c pyproject.toml -r src

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build src/*.egg-info web/node_modules src/mpgenie/web_static
