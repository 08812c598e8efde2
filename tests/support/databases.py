"""The two backends every database test runs on, and a fresh database on either.

Kept out of tests/conftest.py so test modules can import them (`from support.databases import
...`): `from conftest import ...` resolves to whichever conftest.py pytest imported last, which
is tests/unit/conftest.py as soon as the unit tier is collected first.
"""

from __future__ import annotations

import uuid

import pytest

from support.pgserver import ThrowawayPostgres

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def fresh_database_url(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A new, empty database on the given backend, dropped at the end of the test."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db')}/contacthub.db"
    server: ThrowawayPostgres = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex[:16]}"
    url = server.create_database(name)
    request.addfinalizer(lambda: server.drop_database(name))
    return url
