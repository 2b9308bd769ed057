# The two commands a newcomer needs: `make run` and `make test`.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
# What the qemu driver needs from Debian (installed by `make test` / `make guest-image` when missing).
GUEST_DEPS      ?= qemu-system-x86 qemu-utils e2tools busybox-static e2fsprogs lz4 gcc libc6-dev
GUEST_IMAGE_DIR ?= .minicvm/guest-image
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test install install-test lint bench clean guest-deps guest-image

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

## Debian packages for the qemu driver: apt-get install only what is missing (apt-get update if needed).
guest-deps:
	@missing=""; for p in $(GUEST_DEPS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get install -y -q --no-install-recommends $$missing || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends $$missing; }; \
	fi

## The qemu driver's guest (Debian cloud kernel + busybox initramfs + our init and agent), cached in
## $(GUEST_IMAGE_DIR); servers and tests find it there (or through MINICVM_GUEST_IMAGE_DIR).
guest-image: guest-deps install
	$(BIN)/python -m minicvm.drivers.qemu.image $(GUEST_IMAGE_DIR)

## Install what the tests need, then run them all (lint included).
test: install-test guest-image
	$(BIN)/ruff check .
	$(BIN)/pytest -q -p no:cacheprovider

bench: install-test
	$(BIN)/python bench/api.py

clean:
	rm -rf $(VENV) .minicvm test-artifacts
