"""Calls, their transcript entries and recordings; the filtered, paginated call log.

Every ``GET /v1/calls`` filter is a column (or, for ``tag``, a text match on the JSON list), so
the page and the total come from the database on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import String, and_, cast, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from vatel.server.store.errors import NotFound
from vatel.server.store.schema import calls, transcript_entries
from vatel.server.store.timestamps import parse

LIKE_ESCAPE = "\\"


@dataclass(frozen=True)
class CallQuery:
    """The filters of ``GET /v1/calls``, already checked by the API."""

    agent_ids: tuple[str, ...] = ()
    status: str | None = None
    source: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    outbound: bool | None = None
    search: str | None = None
    tag: str | None = None
    outcome: str | None = None


@dataclass(frozen=True)
class CallRecord:
    row: Any
    entries: list[dict[str, Any]] = field(default_factory=list)


def _like(text: str) -> str:
    escaped = text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(org_id: str, query: CallQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [calls.c.organization_id == org_id]
    if query.agent_ids:
        where.append(calls.c.agent_id.in_(query.agent_ids))
    if query.status:
        where.append(calls.c.status == query.status)
    if query.source:
        where.append(calls.c.source == query.source)
    if query.date_from:
        where.append(calls.c.created_at >= query.date_from)
    if query.date_to:
        where.append(calls.c.created_at <= query.date_to)
    if query.outbound is not None:
        where.append(calls.c.outbound == query.outbound)
    if query.search:
        where.append(calls.c.party_number.like(_like(query.search), escape=LIKE_ESCAPE))
    if query.tag:
        # tags is a JSON list of strings: match the tag's JSON text, quotes included.
        needle = orjson.dumps(query.tag).decode()
        where.append(cast(calls.c.tags, String).like(_like(needle), escape=LIKE_ESCAPE))
    if query.outcome:
        where.append(calls.c.outcome == query.outcome)
    return where


async def list_calls(
    conn: AsyncConnection, org_id: str, query: CallQuery, page: int, page_size: int
) -> tuple[list[Any], int]:
    """One page of calls, newest first, and the total that match."""
    where = and_(*_conditions(org_id, query))
    total = int(await conn.scalar(select(func.count()).select_from(calls).where(where)) or 0)
    rows = await conn.execute(
        select(calls)
        .where(where)
        .order_by(calls.c.created_at.desc(), calls.c.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return list(rows), total


async def get_call(conn: AsyncConnection, org_id: str, call_id: str) -> CallRecord:
    row = (
        await conn.execute(select(calls).where(calls.c.id == call_id, calls.c.organization_id == org_id))
    ).first()
    if row is None:
        raise NotFound("call not found")
    entries = await conn.execute(
        select(transcript_entries.c.entry)
        .where(transcript_entries.c.call_id == call_id)
        .order_by(transcript_entries.c.index)
    )
    return CallRecord(row, [dict(entry) for (entry,) in entries])


async def insert_call(conn: AsyncConnection, **values: Any) -> None:
    """A new call row (the live session writes these; tests use it to fill the log)."""
    values.setdefault("tags", [])
    values.setdefault("extracted_variables", [])
    await conn.execute(insert(calls).values(**values))


async def update_call(conn: AsyncConnection, call_id: str, **values: Any) -> None:
    await conn.execute(update(calls).where(calls.c.id == call_id).values(**values))


async def add_transcript_entry(conn: AsyncConnection, call_id: str, entry: dict[str, Any]) -> int:
    """Append an entry; its ``index`` is the next free one."""
    index = int(
        await conn.scalar(
            select(func.coalesce(func.max(transcript_entries.c.index) + 1, 0)).where(
                transcript_entries.c.call_id == call_id
            )
        )
        or 0
    )
    await conn.execute(
        insert(transcript_entries).values(call_id=call_id, index=index, entry={**entry, "index": index})
    )
    return index


async def unfinished_calls(conn: AsyncConnection) -> list[Any]:
    """Calls that never reached ``ended`` (their server stopped mid-call)."""
    return list(await conn.execute(select(calls).where(calls.c.status != "ended")))


def duration_seconds(started_at: str | None, ended_at: str | None) -> int | None:
    if not started_at or not ended_at:
        return None
    return max(0, round((parse(ended_at) - parse(started_at)).total_seconds()))
