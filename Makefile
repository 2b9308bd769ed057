# The two commands a newcomer needs: `make run` and `make test`.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages, installed by the targets below only when missing.
GUEST_DEPS   ?= qemu-system-x86 qemu-utils e2tools busybox-static e2fsprogs lz4 gcc libc6-dev
BROWSER_DEPS ?= chromium
BENCH_DEPS   ?= nginx wrk
NODE_DEPS    ?= nodejs npm
GUEST_IMAGE_DIR ?= .minicvm/guest-image

.PHONY: run test install install-test lint bench bench-deps clean guest-deps guest-image browser-deps node-sdk

# apt-get install what is missing of $(1); apt-get update first only if the plain install fails.
define apt_install
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get install -y -q --no-install-recommends $$missing || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends $$missing; }; \
	fi
endef

# The same, as one shell command (for use after a test in a recipe line). A machine whose node came with its own
# npm (NodeSource's nodejs conflicts with Debian's npm) is left as it is: node-sdk only asks when a command is missing.
define apt_install_cmds
$(SUDO) apt-get install -y -q --no-install-recommends $(1) || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends $(1); }
endef

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
	$(BIN)/mypy

## Debian packages for the qemu driver.
guest-deps:
	$(call apt_install,$(GUEST_DEPS))

## The qemu driver's guest (Debian cloud kernel + busybox initramfs + our init and agent), cached in
## $(GUEST_IMAGE_DIR); servers and tests find it there (or through MINICVM_GUEST_IMAGE_DIR).
guest-image: guest-deps install
	$(BIN)/python -m minicvm.drivers.qemu.image $(GUEST_IMAGE_DIR)

## Debian's chromium for the console's browser tests (Playwright drives it; its own browser download is never used).
browser-deps:
	$(call apt_install,$(BROWSER_DEPS))

## The official Node.js SDK for tests/test_node_sdk.py: Debian's node and npm, the SDK at the versions
## pinned in tests/node/package-lock.json, installed into tests/node/node_modules.
node-sdk:
	@command -v node >/dev/null && command -v npm >/dev/null || { $(call apt_install_cmds,$(NODE_DEPS)); }
	@[ -f tests/node/node_modules/.package-lock.json ] && cmp -s tests/node/package-lock.json tests/node/.installed-lock || \
	  { npm ci --prefix tests/node --no-audit --no-fund && cp tests/node/package-lock.json tests/node/.installed-lock; }

## Install what the tests need, then run them all (ruff and mypy included).
test: install-test guest-image browser-deps node-sdk
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q -p no:cacheprovider

## nginx and wrk for bench/clb.py.
bench-deps:
	$(call apt_install,$(BENCH_DEPS))

## Every benchmark, one after the other (several minutes each).
bench: install-test guest-image bench-deps
	$(BIN)/python bench/api.py
	$(BIN)/python bench/clb.py
	$(BIN)/python bench/autoscaling.py
	$(BIN)/python bench/qemu.py

clean:
	rm -rf $(VENV) .minicvm test-artifacts tests/node/node_modules tests/node/.installed-lock
