"""Shared pytest fixtures. Each block is self-contained; add new blocks below, don't merge them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.fake_server import FakeServer

# Database fixtures (tests/support/db_fixtures.py): `database_url` over SQLite and PostgreSQL.
pytest_plugins = ["support.db_fixtures"]

# --- fake REST server (tests/support/fake_server.py) -----------------------------------------------
# One real uvicorn server on 127.0.0.1 for the whole session (starting and stopping one costs about
# 0.2 s); `fake_server` hands it to a test with no scripted replies and no recorded requests.


@pytest.fixture(scope="session")
def fake_server_session() -> Iterator[FakeServer]:
    """The session's server; tests should ask for ``fake_server`` instead."""
    with FakeServer() as server:
        yield server


@pytest.fixture
def fake_server(fake_server_session: FakeServer) -> Iterator[FakeServer]:
    """A scriptable HTTP server on a free loopback port, reset before and after the test."""
    fake_server_session.reset()
    yield fake_server_session
    fake_server_session.reset()
