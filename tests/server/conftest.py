"""A real ``vatel serve`` app on loopback, over SQLite and over PostgreSQL (``database_url``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import vatel
from support.live_server import LiveServer, start_live


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    """The server on a fresh database: SQLite in ``tmp_path``, or a fresh PostgreSQL database."""
    runner, server = start_live(tmp_path / "data", database_url)
    try:
        yield server
    finally:
        runner.stop()


@pytest.fixture
def client(live: LiveServer) -> Iterator[vatel.Client]:
    with live.client() as sdk:
        yield sdk
