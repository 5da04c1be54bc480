"""Opening the database: the async engine, SQLite's pragmas, and migrations on start.

SQLite runs in WAL mode with a busy timeout, so ``vatel keys`` can write while the server runs.
On PostgreSQL, migrations run under an advisory lock, so replicas that start together migrate once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_ADVISORY_LOCK = 0x7661_7465_6C00  # "vatel\0": any constant shared by every replica


class DatabaseError(RuntimeError):
    """The database cannot be used (bad URL, unreachable server, missing driver)."""


def open_engine(url: str) -> AsyncEngine:
    """An async engine for ``url``; refuses URLs this server cannot drive, saying which work."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError for garbage
        raise DatabaseError(f"not a database URL: {url!r} ({exc})") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.drivername != "sqlite+aiosqlite":
            parsed = parsed.set(drivername="sqlite+aiosqlite")
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        if parsed.drivername != "postgresql+asyncpg":
            parsed = parsed.set(drivername="postgresql+asyncpg")
        # No pre-ping: it costs a round trip per checkout (benchmarks/rest.py); connections are
        # recycled instead, and asyncpg reports a dead one as an error the request can retry.
        return create_async_engine(parsed, pool_size=10, max_overflow=20, pool_recycle=300)
    raise DatabaseError(
        f"unsupported database {backend!r}: use sqlite+aiosqlite:///path or postgresql+asyncpg://..."
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
    command.upgrade(_alembic_config(connection), "head")


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (a no-op when it already is)."""
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade)
    except (OSError, DBAPIError) as exc:
        detail = getattr(exc, "orig", None) or exc
        raise DatabaseError(f"cannot use the database {engine.url.render_as_string()}: {detail}") from None


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_current_revision)
