# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=

.PHONY: run test lint install install-test chromium bench bench-quick bench-scoring clean lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The constraints file pins every package, so installs are reproducible.
$(VENV)/.installed-run: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run
install-test: $(VENV)/.installed-test

## make run: migrate, load the essay's questions, create the first admin, serve web + scheduler.
run: install
	$(BIN)/tracker db upgrade
	$(BIN)/tracker questions load questions
	$(BIN)/tracker users ensure-admin
	$(BIN)/tracker serve --host $(HOST) --port $(PORT)

## make test: the whole suite (SQLite by default; TRACKER_TEST_DATABASE_URL selects PostgreSQL).
test: install-test chromium
	$(BIN)/pytest $(PYTEST_ARGS)

## make lint: ruff (style, imports, bugbear) over the code and tests, mypy over tracker/ (pyproject.toml).
lint: install-test
	$(BIN)/ruff check tracker tests bench migrations docs
	$(BIN)/mypy

# Browser tests drive Debian's Chromium through Playwright (never `playwright install`).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "Chromium is missing: run 'sudo apt-get install chromium' (browser tests need it)"; exit 1; fi; \
	fi

## make bench: seed PostgreSQL with the issue-14 dataset, time pages, submissions and bulk paths
## against real gunicorn processes; ends with one `BENCH <name> <value> <unit>` line per figure.
BENCH_DATABASE_URL ?= postgresql://127.0.0.1:5432/bench_issue14
bench: install-test
	$(BIN)/python bench/run.py --url $(BENCH_DATABASE_URL) --scale 1

## make bench-quick: the same at a tenth of the size.
bench-quick: install-test
	$(BIN)/python bench/run.py --url $(BENCH_DATABASE_URL) --scale 0.1

## make bench-scoring: the scoring engine alone on synthetic arrays.
bench-scoring: install-test
	$(BIN)/python bench/scoring.py

# Refresh the pinned versions after changing dependencies in pyproject.toml.
lock: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) build dist *.egg-info tests/artifacts
