"""Database fixtures: SQLite and a real PostgreSQL (tests/support/postgres.py).

Loaded by ``pytest_plugins = ["support.db_fixtures"]`` in tests/conftest.py.

- ``postgres_url``: the session's cluster, ``postgresql+asyncpg://postgres@127.0.0.1:PORT/postgres``.
- ``fresh_postgres_url``: a new empty database on it for one test, dropped afterwards.
- ``database_url``: each test twice, ids ``sqlite`` (a file in ``tmp_path``) and ``postgresql`` (a fresh
  database); the cluster is only started when a ``postgresql`` test runs.

If the cluster cannot start, the PostgreSQL-backed tests fail with the script's message: in CI and as
root always; only on a developer's machine without root are they skipped, with that message as reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.postgres import (
    PostgresCluster,
    PostgresUnavailable,
    create_database,
    drop_database,
    postgres_required,
    start_cluster,
    stop_cluster,
)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresCluster]:
    """The session's PostgreSQL cluster (tests usually want ``postgres_url`` or ``fresh_postgres_url``)."""
    problem = ""
    try:
        cluster = start_cluster()
    except PostgresUnavailable as exc:
        problem = f"PostgreSQL could not be started for the PostgreSQL-backed tests.\n{exc}"
    if problem:  # outside the except block, so pytest shows the message alone
        if postgres_required():
            pytest.fail(problem, pytrace=False)
        pytest.skip(f"{problem}\n(skipped: not root and not CI)")
    try:
        yield cluster
    finally:
        stop_cluster(cluster.directory)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresCluster) -> str:
    """SQLAlchemy URL of the session's cluster (its ``postgres`` database, shared by every test)."""
    return postgres_server.url


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """SQLAlchemy URL of a new, empty database of this test's own; dropped after the test."""
    url = create_database(postgres_url)
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The test runs once on SQLite and once on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'vatel.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url
