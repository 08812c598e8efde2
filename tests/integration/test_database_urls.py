"""CONTACTHUB_DATABASE_URL: one server or a cluster's servers, as libpq takes them."""

from __future__ import annotations

import orjson
import pytest

from contacthub.adapters.store.database import LIBPQ_OPTIONS_KEY, parse_database_url
from contacthub.adapters.store.eventlog import CustomerLog
from contacthub.config import ConfigurationError
from support.pgserver import ThrowawayPostgres, free_port


def test_a_url_naming_three_servers_gives_libpq_their_hosts_and_ports_in_order() -> None:
    target = parse_database_url(
        "postgresql://app:s%40cret@10.0.0.1:5433,db2.example:5434,[fd00::3]/contacthub?target_session_attrs=read-write"
    )
    env = target.es_env
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"]) == ("10.0.0.1,db2.example,fd00::3", "5433,5434,5432")
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DBNAME"]) == ("app", "s@cret", "contacthub")
    assert orjson.loads(env[LIBPQ_OPTIONS_KEY]) == {
        "target_session_attrs": "read-write", "connect_timeout": "5", "application_name": "contacthub",
    }
    assert target.servers == 3
    # Safe to log: no password.
    assert target.description == (
        "postgresql://app@10.0.0.1:5433,db2.example:5434,fd00::3:5432/contacthub?target_session_attrs=read-write"
    )


def test_a_read_url_may_prefer_standbys_and_query_values_are_read_as_libpq_reads_them() -> None:
    env = parse_database_url("postgresql://h1,h2/db?target_session_attrs=prefer-standby&user=app&password=a+b%25c",
                             "CONTACTHUB_READ_DATABASE_URL").es_env
    assert orjson.loads(env[LIBPQ_OPTIONS_KEY])["target_session_attrs"] == "prefer-standby"
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("app", "a+b%c")


def test_a_single_server_url_reads_as_before() -> None:
    env = parse_database_url("postgresql://postgres@localhost:5432/contacthub").es_env
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == ("localhost", "5432", "contacthub")
    assert parse_database_url("postgresql:///contacthub").es_env["POSTGRES_HOST"] == "localhost"


@pytest.mark.parametrize(("url", "problem"), [
    ("postgresql://h1:5432,:5433/db", "has no host name"),
    ("postgresql://h1:5432,h2:port/db", "not a number between 1 and 65535"),
    ("postgresql://h1:5432,,h3/db", "an empty server"),
    ("postgresql://h1,h2/db?target_session_attrs=writable", "target_session_attrs must be one of"),
    ("postgresql://h1/db?pool_size=many", "pool_size must be a whole number"),
    ("postgresql://h1/db?sslmod=require", "unknown parameter 'sslmod'"),
    ("postgresql://h1,h2/", "needs a database name"),
    ("postgresql://h1,h2/db", "needs target_session_attrs=read-write"),
    ("postgresql://h1,h2/db?target_session_attrs=prefer-standby", "would send writes to a standby"),
    ("postgresql:///db?host=h1,h2&port=1,2,3&target_session_attrs=read-write", "2 hosts but 3 ports"),
    ("postgresql://[::1/db", "cannot read the URL"),
])
def test_a_url_contacthub_cannot_use_is_refused_naming_the_setting_and_the_problem(url: str, problem: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        parse_database_url(url)
    assert str(refused.value).startswith("CONTACTHUB_DATABASE_URL: ")
    assert problem in str(refused.value)


@pytest.mark.postgres
def test_the_log_opens_on_the_first_listed_server_that_answers(postgres_server: ThrowawayPostgres) -> None:
    """A server that is down is skipped (libpq tries the next), as after losing a machine."""
    name = "multi_host_url"
    postgres_server.create_database(name)
    try:
        nobody = free_port()
        url = (f"postgresql://postgres@127.0.0.1:{nobody},127.0.0.1:{postgres_server.port}/{name}"
               "?target_session_attrs=read-write&connect_timeout=2")
        log = CustomerLog(parse_database_url(url))
        try:
            assert log.head_position() == 0
            with log.read_store.transaction(commit=False) as sql:
                assert sql.execute("SELECT inet_server_port() AS port").one() == {"port": postgres_server.port}
        finally:
            log.close()
    finally:
        postgres_server.drop_database(name)
