# The two commands a newcomer needs: `make run` and `make test`.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin

.PHONY: run test install install-test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

## Serve everything on the embedded defaults: http://127.0.0.1:4566, SQLite under .minicvm, sim driver.
run: install
	$(BIN)/minicvm serve

lint: install-test
	$(BIN)/ruff check .

## Install what the tests need, then run them all (lint included).
test: install-test
	$(BIN)/ruff check .
	$(BIN)/pytest -q -p no:cacheprovider

bench: install-test
	$(BIN)/python bench/api.py

clean:
	rm -rf $(VENV) .minicvm test-artifacts
