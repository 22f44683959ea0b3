# Counterfoil: two commands matter — `make run` and `make test`. See README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export COUNTERFOIL_HOME ?= $(CURDIR)/.data
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test bench lint format check system-deps translations clean-data

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Counterfoil needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## Install, load the demo into the embedded store, serve on http://$(HOST):$(PORT)
run: $(BIN)/.installed
	bash scripts/system-deps.sh --runtime
	$(BIN)/counterfoil init
	$(BIN)/counterfoil demo
	@cat "$(COUNTERFOIL_HOME)/demo-logins.txt"
	@# plain log lines for a person at a terminal (a service logs JSON, the default)
	COUNTERFOIL_LOG_FORMAT=$${COUNTERFOIL_LOG_FORMAT:-text} $(BIN)/counterfoil serve --host $(HOST) --port $(PORT)

## System packages the tests need (PostgreSQL, Chromium, CJK fonts), then lint, types, the suite
test: $(BIN)/.installed system-deps lint
	$(BIN)/pytest -n 2 -q --durations=25

system-deps:
	bash scripts/system-deps.sh

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(BIN)/.installed
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

## Benchmarks: print figures and write them to bench/results/
bench: $(BIN)/.installed system-deps
	$(BIN)/python bench/run.py

## Refresh the message catalogue from the source (then translate the new zh_CN entries)
translations: $(BIN)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _ --no-location --sort-output --omit-header \
		-o src/counterfoil/locale/messages.pot src/counterfoil
	$(BIN)/pybabel update --no-fuzzy-matching --omit-header -l zh_CN -D messages \
		-i src/counterfoil/locale/messages.pot -d src/counterfoil/locale

clean-data:
	rm -rf "$(COUNTERFOIL_HOME)"
