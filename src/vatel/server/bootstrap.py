"""Getting a data directory ready to serve: database, migrations, the organization, the key file.

The first start creates the organization and its first API key; the key is returned once (the CLI
prints it) and kept in ``<data dir>/api-key`` (mode 0600) for local tools such as the embedded
``vatel session``. The database only ever holds its hash.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from vatel.server.live.recording import repair
from vatel.server.settings import ServerSettings
from vatel.server.store.calls import unfinished_calls, update_call
from vatel.server.store.database import migrate, open_engine
from vatel.server.store.organizations import Organization, first_start, session_token_secret
from vatel.server.store.recordings import move_recording
from vatel.server.store.timestamps import now_text

log = logging.getLogger("vatel.server")


@dataclass(frozen=True)
class Prepared:
    engine: AsyncEngine
    organization: Organization
    new_key: str | None
    token_secret: str


def write_key_file(path: Path, key: str) -> None:
    """Write the key readable by this user only (created 0600, never world-readable for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    os.chmod(path, 0o600)


def read_key_file(path: Path) -> str | None:
    try:
        key = path.read_text().strip()
    except OSError:
        return None
    return key or None


async def recover_calls(engine: AsyncEngine, settings: ServerSettings) -> int:
    """Close the calls a stopped server left open (``kill -9`` mid-call) and repair their WAVs.

    Only calls whose recording is in *this* data dir are touched: with several replicas on one
    PostgreSQL, another replica's live calls are not ours to end. There the repaired WAVs then
    move into the database, as a call's does when it ends (``store.recordings``).
    """
    recovered: list[tuple[str, Path]] = []
    async with engine.begin() as conn:
        for row in await unfinished_calls(conn):
            if not row.recording_path:
                continue
            path = settings.data_dir / row.recording_path
            if not path.is_file():
                continue
            repair(path)
            await update_call(
                conn,
                row.id,
                status="ended",
                ended_at=now_text(),
                termination_reason="server stopped during the call",
            )
            recovered.append((row.id, path))
    if settings.database_url:
        for call_id, path in recovered:
            try:
                await move_recording(engine, call_id, path)
            except Exception:  # the file stays, and this replica still serves it
                log.exception("could not copy the recording of call %s to the database", call_id)
    return len(recovered)


async def prepare(settings: ServerSettings) -> Prepared:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = open_engine(settings.resolved_database_url)
    try:
        await migrate(engine)
        organization, new_key = await first_start(engine)
        if new_key is not None:
            write_key_file(settings.api_key_file, new_key)
        secret = await session_token_secret(engine)
        await recover_calls(engine, settings)
    except BaseException:
        await engine.dispose()
        raise
    return Prepared(engine, organization, new_key, secret)
