# The two commands of the README:
#   make dev    run the embedded demo (broker + simulated API + worker + sample requests)
#   make test   lint and run every test (what CI runs)
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: dev test lint install

$(BIN)/streamrouter: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/streamrouter

dev: install
	$(BIN)/streamrouter dev

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest -q
