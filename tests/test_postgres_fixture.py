"""The database fixtures (tests/support/db_fixtures.py) work: SQLite and a real PostgreSQL on loopback."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from support.postgres import PostgresCluster, create_database, drop_database, run_script

pytestmark = pytest.mark.loopback

metadata = MetaData()
items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
)

# initdb + start took 0.8 s on a 2-core machine; an apt install (a clean CI machine) takes longer.
START_BUDGET_SECONDS = 10.0


async def test_engine_round_trip(database_url: str, request: pytest.FixtureRequest) -> None:
    backend = request.node.callspec.id
    assert make_url(database_url).get_backend_name() == backend
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
            await connection.execute(insert(items), [{"id": 1, "name": "one"}, {"id": 2, "name": "twee ë"}])
        async with engine.connect() as connection:
            rows = (await connection.execute(select(items.c.id, items.c.name).order_by(items.c.id))).all()
        assert [tuple(row) for row in rows] == [(1, "one"), (2, "twee ë")]
        assert engine.dialect.name == backend
    finally:
        await engine.dispose()


async def _table_count(url: str) -> tuple[str, int]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            database = (await connection.execute(text("SELECT current_database()"))).scalar_one()
            tables = (
                await connection.execute(
                    text("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
                )
            ).scalar_one()
        return str(database), int(tables)
    finally:
        await engine.dispose()


async def test_fresh_postgres_databases_are_isolated(postgres_url: str, fresh_postgres_url: str) -> None:
    other_url = create_database(postgres_url)
    try:
        assert other_url != fresh_postgres_url
        engine = create_async_engine(fresh_postgres_url)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(metadata.create_all)
                await connection.execute(insert(items), [{"id": 1, "name": "only here"}])
                count = (await connection.execute(select(func.count()).select_from(items))).scalar_one()
                assert count == 1
        finally:
            await engine.dispose()

        name, tables = await _table_count(fresh_postgres_url)
        assert (name, tables) == (make_url(fresh_postgres_url).database, 1)
        other_name, other_tables = await _table_count(other_url)
        assert (other_name, other_tables) == (make_url(other_url).database, 0)
        # The shared `postgres` database stays untouched too.
        assert (await _table_count(postgres_url))[1] == 0
    finally:
        drop_database(other_url)
    _, remaining = await _table_count(postgres_url)
    assert remaining == 0


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on ``port``, from /proc/net/tcp{,6}."""
    found: set[str] = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            # The kernel prints each 32-bit word in host (little-endian) order.
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(socket.inet_ntop(family, raw))
    return found


async def test_cluster_listens_on_loopback_only(postgres_server: PostgresCluster, postgres_url: str) -> None:
    engine = create_async_engine(postgres_url)
    try:
        async with engine.connect() as connection:
            listen = (await connection.execute(text("SHOW listen_addresses"))).scalar_one()
            server_address = (await connection.execute(text("SELECT host(inet_server_addr())"))).scalar_one()
            fsync = (await connection.execute(text("SHOW fsync"))).scalar_one()
    finally:
        await engine.dispose()
    assert listen == "127.0.0.1"
    assert server_address == "127.0.0.1"
    assert fsync == "off"
    if sys.platform == "linux":
        assert _listening_addresses(postgres_server.port) == {"127.0.0.1"}
        # Another loopback address reaches the same interface, but nothing listens there.
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.2", postgres_server.port), 2),
        ):
            pass


def test_cluster_starts_quickly(postgres_server: PostgresCluster) -> None:
    if postgres_server.installed_postgresql:
        pytest.skip(f"this start installed PostgreSQL with apt first ({postgres_server.start_seconds:.1f} s)")
    assert postgres_server.start_seconds < START_BUDGET_SECONDS, (
        f"scripts/postgres start took {postgres_server.start_seconds:.1f} s:\n{postgres_server.log}"
    )


def test_script_is_idempotent(postgres_server: PostgresCluster, tmp_path: Path) -> None:
    again, log = run_script("start", postgres_server.directory, 60)
    assert again == postgres_server.url
    assert "already running" in log
    assert run_script("url", postgres_server.directory, 60)[0] == postgres_server.url
    # Stopping a cluster that is not there succeeds; a directory the script did not make is kept.
    run_script("stop", tmp_path / "absent", 60)
    (tmp_path / "keep.txt").write_text("not a cluster")
    with pytest.raises(RuntimeError, match="refusing to remove"):
        run_script("stop", tmp_path, 60)
    assert (tmp_path / "keep.txt").exists()
