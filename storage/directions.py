# Persona directions' only door (like experiments.py for experiment rows): keyword-only functions taking the session.
# Rows are only ever added: a name's newest row is the one a new lane is steered with, and an older row stays
# findable by its vector's sha256, which is what a steered reply records.

from collections.abc import Mapping
from typing import Any

from sqlmodel import Session, col, select

from storage.rows import commit
from storage.tables.directions import Direction

__all__ = [
    "Direction",
    "add_direction",
    "direction_by_vector",
    "direction_names",
    "list_directions",
    "newest_direction",
]


def add_direction(
    *,
    session: Session,
    name: str,
    model_name: str,
    model_sha256: str,
    vector_sha256: str,
    n_layer: int,
    n_embd: int,
    vectors: bytes,
    best_layer: int,
    provenance: Mapping[str, Any],
) -> Direction:
    """Save a direction; an existing one of the same name stays, the new one is now the name's newest."""
    direction = Direction(
        name=name,
        model_name=model_name,
        model_sha256=model_sha256,
        vector_sha256=vector_sha256,
        n_layer=n_layer,
        n_embd=n_embd,
        vectors=vectors,
        best_layer=best_layer,
        provenance=dict(provenance),
    )
    session.add(direction)
    commit(session, direction)
    return direction


def newest_direction(*, session: Session, name: str) -> Direction | None:
    """The direction saved last under `name`, or None."""
    query = select(Direction).where(col(Direction.name) == name).order_by(col(Direction.id).desc()).limit(1)
    return session.exec(query).first()


def direction_by_vector(*, session: Session, vector_sha256: str, name: str | None = None) -> Direction | None:
    """A direction whose vectors have this sha256, or None: the newest saved under `name` if one is, else the
    newest of any name (the same numbers saved twice, say once per model, keep each their own row)."""
    query = select(Direction).where(col(Direction.vector_sha256) == vector_sha256).order_by(col(Direction.id).desc())
    rows = list(session.exec(query))
    return next((row for row in rows if row.name == name), rows[0] if rows else None)


def list_directions(*, session: Session) -> list[Direction]:
    """Each name's newest direction, by name."""
    newest: dict[str, Direction] = {}
    for row in session.exec(select(Direction).order_by(col(Direction.id))):
        newest[row.name] = row
    return [newest[name] for name in sorted(newest)]


def direction_names(*, session: Session) -> list[str]:
    """Every name a direction is saved under, sorted."""
    query = select(Direction.name).distinct().order_by(col(Direction.name))
    return list(session.exec(query))
