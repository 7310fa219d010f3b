# The Vectors service's tests run on both databases, like storage's (tests/support/backends.py): a direction's bytes
# and JSON provenance must read back the same from SQLite's BLOB and PostgreSQL's BYTEA.

import pytest

from tests.support.backends import db_url, engine, parametrize_backends  # noqa: F401 - fixtures


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backends(metafunc)
