"""How the PostgreSQL recorder sends a batch's columns (adapters/store/postgres.py `_insert`): text
and bigint columns as one joined string the server splits, anything that could not survive that
as a typed array. Either way every value must arrive exactly as it was, in order."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg.sql import SQL

from contacthub.adapters.store.postgres import _insert
from support.pgserver import ThrowawayPostgres

COLUMNS = (("position", "bigint"), ("a", "text"), ("b", "bigint"), ("c", "bytea"))


@pytest.fixture
def connection(postgres_server: ThrowawayPostgres) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(postgres_server.create_database("bulk_writes"), autocommit=True) as conn:
        conn.execute("CREATE TABLE bulk (position bigint, a text, b bigint, c bytea)")
        yield conn
    postgres_server.drop_database("bulk_writes")


@pytest.mark.parametrize(
    "texts",
    [
        ["C000001", "C000002", "C000001"],  # the usual: ids, digests, hashes, topics
        ["x", "y\x1fz", "w"],  # the separator itself: sent as an array
        ["", "q"],  # an empty string (a joined string could not tell it apart): as an array
        ["客户", "a,b", "{x}", '"q"', "NULL", "a\\b", " "],  # array-literal and CSV syntax, non-ASCII
        ["only"],
    ],
)
def test_every_value_arrives_as_it_was_in_order(connection: psycopg.Connection[tuple[object, ...]], texts: list[str]) -> None:
    numbers = [(-1) ** i * (2**62 - i) for i in range(len(texts))]
    blobs = [bytes([i]) * i for i in range(len(texts))]
    with connection.cursor() as cursor:
        _insert(cursor, SQL("bulk"), COLUMNS, [list(range(len(texts))), texts, numbers, blobs])
    rows = connection.execute("SELECT a, b, c FROM bulk ORDER BY position").fetchall()
    assert [(a, b, bytes(c)) for a, b, c in rows] == list(zip(texts, numbers, blobs, strict=True))
