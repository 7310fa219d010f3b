"""docker-compose.yml as compose reads it, for the tests that check it without a Docker engine: the file parsed,
and compose's variable interpolation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]

_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${X}, ${X:-default} and ${X:?error} (the forms these files use); raises KeyError(error)."""

    def one(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        if env.get(name):
            return env[name]
        if operator in (":?", "?"):
            raise KeyError(argument)
        return argument if operator else ""

    return _VARIABLE.sub(one, value)
