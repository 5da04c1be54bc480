"""The store itself: migrations build exactly the tables, data survives restarts, keys are hashed."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, select

import vatel
from support.live_server import start_live
from vatel.server.bootstrap import prepare
from vatel.server.settings import ServerSettings
from vatel.server.store.database import DatabaseError, current_revision, migrate, open_engine
from vatel.server.store.organizations import create_key, list_keys, revoke_key
from vatel.server.store.schema import api_keys, metadata

pytestmark = pytest.mark.loopback


def settings_for(tmp_path: Path, database_url: str) -> ServerSettings:
    pg = None if database_url.startswith("sqlite") else database_url
    return ServerSettings(data_dir=tmp_path / "data", database_url=pg)


def test_migrations_build_exactly_the_schema(tmp_path: Path, database_url: str) -> None:
    def differences(connection: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))

    async def check() -> tuple[list[Any], str | None]:
        engine = open_engine(settings_for(tmp_path, database_url).resolved_database_url)
        await migrate(engine)
        await migrate(engine)  # a second run is a no-op
        async with engine.connect() as conn:
            diff = await conn.run_sync(differences)
        revision = await current_revision(engine)
        await engine.dispose()
        return diff, revision

    diff, revision = asyncio.run(check())
    assert diff == []
    assert revision == "0002"


def test_data_survives_a_restart_and_the_first_key_is_made_once(tmp_path: Path, database_url: str) -> None:
    runner, live = start_live(tmp_path / "data", database_url)
    with live.client() as client:
        agent = client.agents.create({"name": "Survivor"})
    runner.stop()
    runner, again = start_live(tmp_path / "data", database_url)
    try:
        assert again.key == live.key  # no second organization or key on restart
        with again.client() as client:
            assert [a.id for a in client.agents.list()] == [agent.id]
    finally:
        runner.stop()


def test_keys_are_stored_hashed_and_the_key_file_is_private(tmp_path: Path, database_url: str) -> None:
    settings = settings_for(tmp_path, database_url)

    async def run() -> tuple[str | None, list[str]]:
        ready = await prepare(settings)
        async with ready.engine.connect() as conn:
            stored = [str(value) for row in await conn.execute(select(api_keys)) for value in row]
        await ready.engine.dispose()
        return ready.new_key, stored

    key, stored = asyncio.run(run())
    assert key is not None and key.startswith("vtl_")
    assert all(key not in value for value in stored)
    key_file = settings.api_key_file
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    if database_url.startswith("sqlite"):
        raw = b"".join(path.read_bytes() for path in settings.data_dir.glob("vatel.db*"))
        assert key.encode() not in raw


def test_revoked_keys_stop_working(tmp_path: Path, database_url: str) -> None:
    runner, live = start_live(tmp_path / "data", database_url)
    try:

        async def add_and_revoke() -> tuple[str, str]:
            engine = open_engine(live.settings.resolved_database_url)
            info, extra = await create_key(engine, "ci")
            assert [k.name for k in await list_keys(engine)] == ["first key", "ci"]
            revoked = await revoke_key(engine, info.id)
            assert revoked.revoked_at is not None
            await engine.dispose()
            return extra, info.id

        extra, _ = asyncio.run(add_and_revoke())
        with (
            vatel.Client(api_key=extra, base_url=live.url, max_retries=0) as client,
            pytest.raises(vatel.AuthenticationError, match="invalid or revoked"),
        ):
            client.agents.list()
        with live.client() as client:
            assert client.agents.list() == []  # the first key still works
    finally:
        runner.stop()


@pytest.mark.parametrize("url", ["mysql://x/y", "not a url", "sqlite:////proc/no/such/dir/x.db"])
def test_unusable_database_urls_fail_clearly(url: str) -> None:
    async def run() -> None:
        engine = open_engine(url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    with pytest.raises((DatabaseError, OSError)):
        asyncio.run(run())


def test_a_revoked_key_stops_working_within_the_cache_window(tmp_path: Path) -> None:
    import time

    from vatel.server.api.routing import KEY_CACHE_SECONDS

    runner, live = start_live(tmp_path / "data", "sqlite")
    try:

        async def new_key() -> tuple[str, str]:
            engine = open_engine(live.settings.resolved_database_url)
            info, key = await create_key(engine, "cached")
            await engine.dispose()
            return info.id, key

        async def revoke(key_id: str) -> None:
            engine = open_engine(live.settings.resolved_database_url)
            await revoke_key(engine, key_id)
            await engine.dispose()

        key_id, key = asyncio.run(new_key())
        with vatel.Client(api_key=key, base_url=live.url, max_retries=0) as client:
            assert client.agents.list() == []  # checked once: trusted for the window
            asyncio.run(revoke(key_id))
            time.sleep(KEY_CACHE_SECONDS + 0.1)
            with pytest.raises(vatel.AuthenticationError):
                client.agents.list()
    finally:
        runner.stop()
