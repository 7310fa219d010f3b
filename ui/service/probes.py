"""Asking the servers behind remote base lanes what they serve, for the Models page and `simulacra models`."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.errors import ModelUnavailable
from simulator.registry import ModelStatus, Registry


@dataclass(frozen=True)
class ProbeResult:
    """A model's status after its server was asked again; `error` says why the server could not answer."""

    status: ModelStatus
    error: str | None = None


def remote_simulators(registry: Registry) -> list[str]:
    return [name for name, entry in registry.entries.items() if entry.is_remote_simulator]


def probe_servers(registry: Registry) -> list[ProbeResult]:
    """Ask every remote simulator's server what it serves now; one unreachable server does not stop the rest."""
    results = []
    for name in remote_simulators(registry):
        entry = registry.entries[name]
        try:
            registry.probe(entry)
        except ModelUnavailable as e:
            results.append(ProbeResult(registry.status(entry), str(e)))
            continue
        results.append(ProbeResult(registry.status(entry)))
    return results
