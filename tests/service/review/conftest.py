# The review tests that touch a database run on SQLite and on PostgreSQL, as the storage tests do: the `db_url`
# and `engine` fixtures of tests/support/backends.py, parametrised by backend.

from __future__ import annotations

import pytest

from tests.support.backends import db_url, engine, parametrize_backends  # noqa: F401 - fixtures


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backends(metafunc)
