# Column types every table shares: UTC datetimes on every backend, seeds as wide as llama.cpp's, JSON
# that stores None as SQL NULL, and the constraint names later SQLite batch migrations rely on.

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Dialect, Integer
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

# Seeds go up to 2**32 - 1 (llama.cpp's range): SQLite's INTEGER holds that, PostgreSQL's needs BIGINT.
SEED = Integer().with_variant(BigInteger(), "postgresql")

# Named constraints let later SQLite batch migrations find and drop them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend: SQLite drops the zone, so it is put back on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: storage keeps UTC only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def json_column(*, nullable: bool) -> Column[Any]:
    # none_as_null: a missing value is SQL NULL (queryable with IS NULL), not the JSON text 'null'.
    return Column(JSON(none_as_null=True), nullable=nullable)
