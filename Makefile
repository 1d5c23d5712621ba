# The two commands of the quick start: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SMSC_MODULES := tests/smsc/node_modules/.package-lock.json

.PHONY: run test lint bench mutate clean

run: $(VENV)/.installed
	$(BIN)/dlrhub serve --dev

test: $(VENV)/.installed-dev $(SMSC_MODULES)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/dispatch.py

# Mutation testing (docs/testing.md): not in CI, minutes for the domain, long for services.
# `make mutate SCOPE=services` for the services that decide outcomes.
SCOPE ?= domain
mutate: $(VENV)/.installed-dev
	nice -n 10 $(BIN)/python tools/mutate.py $(SCOPE)

$(VENV)/.python-ok:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "dlrhub needs Python 3.11 or newer (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@touch $@

$(VENV)/.installed: $(VENV)/.python-ok pyproject.toml
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.python-ok pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

# The node-smpp test SMSC of the SMPP tests (tests/smsc): installed again when its lock changes.
# Without npm the SMPP tests skip locally (CI installs Node and forbids skipping: .ci/run).
$(SMSC_MODULES): tests/smsc/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix tests/smsc --no-audit --no-fund && touch $@; \
	else \
		echo "npm not found: the SMPP tests will be skipped (apt-get install nodejs npm)"; \
	fi

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
