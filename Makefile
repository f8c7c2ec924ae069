# docsage: `make run` serves the bundled docs; `make test` runs lint, types and the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck unit unit-postgresql eval bench clean node-test-deps browser-test-deps redis-test-deps cpu-test-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/docsage demo --docs docs --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# $(call ensure,COMMAND,PACKAGES): a shell line that installs Debian's PACKAGES when COMMAND is missing (CI runs
# as root on a machine where nothing was installed by hand).
ensure = command -v $(1) >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(2))

# Node and the pinned official Kapa JS clients that tests/api/kapa_clients drives; `npm ci` reruns only when
# node_modules is missing or older than the lockfile. Without npm, install Debian's (CI runs as root).
NODE_CLIENTS := tests/clients/node
ENSURE_NPM := $(call ensure,npm,nodejs npm)

$(NODE_CLIENTS)/node_modules/.installed: $(NODE_CLIENTS)/package.json $(NODE_CLIENTS)/package-lock.json
	$(ENSURE_NPM)
	cd $(NODE_CLIENTS) && npm ci --no-audit --no-fund
	touch $@

node-test-deps: $(NODE_CLIENTS)/node_modules/.installed
	@$(ENSURE_NPM)

# Debian's Chromium for the widget's browser tests (tests/web, driven by the Playwright package; Playwright's own
# browser download is not used). Without it, install Debian's (CI runs as root).
ENSURE_CHROMIUM := $(call ensure,chromium,chromium)

browser-test-deps:
	@$(ENSURE_CHROMIUM)

# Debian's redis-server for the several-replica tests (tests/conftest.py starts its own on a free port).
ENSURE_REDIS := $(call ensure,redis-server,redis-server)

redis-test-deps:
	@$(ENSURE_REDIS)

# Debian's qemu-user: tests/embed runs the embedder on an emulated AVX2-only CPU (no AVX-512) to check that the
# bundled int8 model gives the same vectors on every CPU of this class.
ENSURE_QEMU := $(call ensure,qemu-x86_64,qemu-user)

cpu-test-deps:
	@$(ENSURE_QEMU)

unit: $(VENV)/.installed-dev node-test-deps browser-test-deps redis-test-deps cpu-test-deps
	$(BIN)/pytest -q

# The API, ingestion, jobs and storage tests again on PostgreSQL 16 + pgvector (the pgserver wheel, started by
# the fixtures in tests/databases.py) with Redis.
unit-postgresql: $(VENV)/.installed-dev redis-test-deps
	$(BIN)/pytest -q --database=postgresql tests/api tests/ingest tests/jobs tests/db tests/index tests/retrieval tests/test_scale_out.py

test: lint typecheck unit unit-postgresql

eval: $(VENV)/.installed
	$(BIN)/docsage eval --dataset ../shared/eval/scifact --dataset ../shared/eval/anthropic_docs
	$(BIN)/docsage eval --answers eval/answers/click --answers eval/answers/alembic \
		--answers eval/answers/simpy --answers eval/answers/coverage

# wrk drives the retrieval API throughput benchmark (bench/api.py); Debian's, installed when missing.
ENSURE_WRK := $(call ensure,wrk,wrk)

bench: $(VENV)/.installed-dev browser-test-deps
	@$(ENSURE_WRK)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
