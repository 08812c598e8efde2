"""Smoke test for the throwaway PostgreSQL server used by the postgres tests."""

from __future__ import annotations

import psycopg
import pytest

# pytest's default "prepend" import mode puts tests/ on sys.path (tests/ has no
# __init__.py), so this works under both `pytest` and `python -m pytest`.
from support.pgserver import ThrowawayPostgres


def test_throwaway_server_lifecycle_and_crash_restart() -> None:
    pg = ThrowawayPostgres().start()
    base_dir = pg._base_dir  # only to check that stop() cleans up
    try:
        url = pg.create_database("smoke")
        assert url == f"postgresql://postgres@127.0.0.1:{pg.port}/smoke"

        with psycopg.connect(url) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
            conn.execute("create table item (id int primary key, name text not null)")
            conn.execute("insert into item values (1, 'ä'), (2, 'b')")
        # Leaving the block committed; this session stays open across the crash.
        survivor = psycopg.connect(url)

        pg.restart(mode="immediate")

        with pytest.raises(psycopg.OperationalError):
            survivor.execute("select 1")  # the crash cut existing sessions
        survivor.close()
        with psycopg.connect(url) as conn:
            rows = conn.execute("select id, name from item order by id").fetchall()
        assert rows == [(1, "ä"), (2, "b")]

        pg.drop_database("smoke")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url).close()
    finally:
        pg.stop()

    assert not base_dir.exists()
    pg.stop()  # idempotent
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg.url(), connect_timeout=2).close()
