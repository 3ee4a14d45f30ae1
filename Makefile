# Slipstream: `make run` serves the API with the example DAGs; `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SLIPSTREAM_HOME ?= $(CURDIR)/.slipstream
export SLIPSTREAM_HOME

.PHONY: run test conformance lint fuzz bench clean venv

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/slipstream db upgrade
	exec $(BIN)/slipstream standalone

test: $(VENV)/.test-installed
	-@scripts/ensure-services
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	@if $(BIN)/python -m tests.databases; then \
		echo "== the whole suite again, on PostgreSQL =="; \
		SLIPSTREAM_TEST_BACKEND=postgres $(BIN)/python -m pytest $(PYTEST_ARGS); \
	else echo "PostgreSQL run skipped: no server answers"; fi

# Airflow 2.10.5's own example DAGs, unchanged, against the states real Airflow gave them.
conformance: $(VENV)/.test-installed
	$(BIN)/python -m pytest tests/conformance/test_airflow_examples.py $(PYTEST_ARGS)

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@if command -v npm >/dev/null 2>&1; then $(BIN)/python scripts/lint-spec; \
	else echo "Spec lint (Redocly, Spectral) skipped: Node.js and npm are not installed"; fi

fuzz: $(VENV)/.test-installed
	$(BIN)/python -m bench.fuzz

bench: $(VENV)/.test-installed
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .slipstream .pytest_cache
