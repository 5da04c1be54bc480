"""Finished recordings in the database, so every replica of a shared database can serve them.

A call's WAV is written to the data dir of the replica that serves the call, as the call goes. On
a shared database (PostgreSQL, several ``vatel serve`` replicas) it is copied into
``call_recordings`` in 1 MiB pieces when the call ends, and the local file is removed; a replica
that has no file for a call streams it from there. (On SQLite, one server, the file stays the
store.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from vatel.server.store.schema import call_recordings

PIECE_BYTES = 1 << 20


async def store_recording(engine: AsyncEngine, call_id: str, path: Path) -> int:
    """Copy the WAV at ``path`` into the database (replacing any earlier copy); its size."""
    size = 0
    async with engine.begin() as conn:
        await conn.execute(delete(call_recordings).where(call_recordings.c.call_id == call_id))
        with path.open("rb") as wav:
            seq = 0
            while piece := await asyncio.to_thread(wav.read, PIECE_BYTES):
                await conn.execute(insert(call_recordings).values(call_id=call_id, seq=seq, data=piece))
                size += len(piece)
                seq += 1
    return size


async def move_recording(engine: AsyncEngine, call_id: str, path: Path) -> bool:
    """Store the WAV at ``path`` and remove the file; ``False`` when there is no file. (A failure
    raises and leaves the file.)"""
    if not await asyncio.to_thread(path.is_file):
        return False
    await store_recording(engine, call_id, path)
    await asyncio.to_thread(path.unlink, missing_ok=True)
    return True


async def recording_size(engine: AsyncEngine, call_id: str) -> int | None:
    """The size of the stored copy in bytes; ``None`` when there is none."""
    async with engine.connect() as conn:
        pieces, size = (
            await conn.execute(
                select(func.count(), func.coalesce(func.sum(func.length(call_recordings.c.data)), 0)).where(
                    call_recordings.c.call_id == call_id
                )
            )
        ).one()
    return int(size) if pieces else None


async def recording_pieces(engine: AsyncEngine, call_id: str) -> AsyncIterator[bytes]:
    """The stored copy, piece by piece (one piece in memory at a time)."""
    seq = 0
    while True:
        async with engine.connect() as conn:
            piece = await conn.scalar(
                select(call_recordings.c.data).where(
                    call_recordings.c.call_id == call_id, call_recordings.c.seq == seq
                )
            )
        if piece is None:
            return
        yield bytes(piece)
        seq += 1
