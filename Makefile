# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv/ and fetch
# what they need themselves (Python packages from PyPI, Kafka jars from Maven Central).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install lint test demo clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "lead-router needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check processor tests benchmarks
	$(BIN)/ruff format --check processor tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# The IP database is optional for the demo: without it, visitors known only by IP stay unlocated.
demo: install
	-$(BIN)/lead-router geo fetch
	$(BIN)/lead-router demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
