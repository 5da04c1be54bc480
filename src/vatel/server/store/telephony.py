"""Twilio numbers, SIP trunks and trunk assignments: stored with their uniqueness rules.

Secrets (Twilio auth tokens, SIP passwords) live in their own columns and never leave this module
in a row the API could return. Unique columns make duplicates a :class:`Conflict`, even between
replicas racing on one PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from vatel.server.store.errors import Conflict, NotFound
from vatel.server.store.ids import new_id
from vatel.server.store.schema import sip_trunk_assignments, sip_trunks, twilio_numbers
from vatel.server.store.timestamps import now_text

NUMBER_PUBLIC = ("id", "phone_number", "phone_sid", "label", "account_sid", "created_at", "updated_at")
ASSIGNMENT_PUBLIC = ("id", "agent_id", "sip_trunk_id", "number", "alternate_number", "created_at")


def _public(row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


async def _write(conn: AsyncConnection, statement: Any, conflict: str) -> Any:
    """Run a write in a savepoint so a unique violation becomes a clean :class:`Conflict`."""
    try:
        async with conn.begin_nested():
            return await conn.execute(statement)
    except IntegrityError:
        raise Conflict(conflict) from None


# --- Twilio numbers --------------------------------------------------------------------------------


async def list_numbers(conn: AsyncConnection, org_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(twilio_numbers)
        .where(twilio_numbers.c.organization_id == org_id)
        .order_by(twilio_numbers.c.created_at)
    )
    return [_public(row, NUMBER_PUBLIC) for row in rows]


async def import_number(conn: AsyncConnection, org_id: str, values: dict[str, Any]) -> dict[str, Any]:
    now = now_text()
    row = {"id": new_id(), "organization_id": org_id, "created_at": now, "updated_at": now, **values}
    await _write(conn, insert(twilio_numbers).values(**row), f"{values['phone_number']} is already imported")
    return {name: row[name] for name in NUMBER_PUBLIC}


async def relabel_number(conn: AsyncConnection, org_id: str, number_id: str, label: str) -> dict[str, Any]:
    result = await conn.execute(
        update(twilio_numbers)
        .where(twilio_numbers.c.id == number_id, twilio_numbers.c.organization_id == org_id)
        .values(label=label, updated_at=now_text())
    )
    if result.rowcount == 0:
        raise NotFound("Twilio number not found")
    row = (await conn.execute(select(twilio_numbers).where(twilio_numbers.c.id == number_id))).one()
    return _public(row, NUMBER_PUBLIC)


# --- SIP trunks ------------------------------------------------------------------------------------


def _trunk(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "created_at": row.created_at,
        **row.config,
        "inbound_sip_username": row.inbound_sip_username,
    }


async def list_trunks(conn: AsyncConnection, org_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(sip_trunks).where(sip_trunks.c.organization_id == org_id).order_by(sip_trunks.c.created_at)
    )
    return [_trunk(row) for row in rows]


async def trunk_row(conn: AsyncConnection, org_id: str, trunk_id: str) -> Any:
    row = (
        await conn.execute(
            select(sip_trunks).where(sip_trunks.c.id == trunk_id, sip_trunks.c.organization_id == org_id)
        )
    ).first()
    if row is None:
        raise NotFound("SIP trunk not found")
    return row


async def get_trunk(conn: AsyncConnection, org_id: str, trunk_id: str) -> dict[str, Any]:
    return _trunk(await trunk_row(conn, org_id, trunk_id))


async def create_trunk(
    conn: AsyncConnection,
    org_id: str,
    config: dict[str, Any],
    username: str | None,
    secrets: dict[str, str | None],
) -> dict[str, Any]:
    trunk_id = new_id()
    await _write(
        conn,
        insert(sip_trunks).values(
            id=trunk_id,
            organization_id=org_id,
            config=config,
            inbound_sip_username=username,
            created_at=now_text(),
            **secrets,
        ),
        f"inbound SIP username {username!r} is already taken",
    )
    return await get_trunk(conn, org_id, trunk_id)


async def update_trunk(
    conn: AsyncConnection,
    org_id: str,
    trunk_id: str,
    config: dict[str, Any],
    username: str | None,
    secrets: dict[str, str | None],
) -> dict[str, Any]:
    await trunk_row(conn, org_id, trunk_id)
    await _write(
        conn,
        update(sip_trunks)
        .where(sip_trunks.c.id == trunk_id)
        .values(config=config, inbound_sip_username=username, **secrets),
        f"inbound SIP username {username!r} is already taken",
    )
    return await get_trunk(conn, org_id, trunk_id)


async def delete_trunk(conn: AsyncConnection, org_id: str, trunk_id: str) -> None:
    await trunk_row(conn, org_id, trunk_id)
    await conn.execute(delete(sip_trunk_assignments).where(sip_trunk_assignments.c.sip_trunk_id == trunk_id))
    await conn.execute(delete(sip_trunks).where(sip_trunks.c.id == trunk_id))


# --- assignments -----------------------------------------------------------------------------------


async def list_assignments(conn: AsyncConnection, org_id: str, trunk_id: str) -> list[dict[str, Any]]:
    await trunk_row(conn, org_id, trunk_id)
    rows = await conn.execute(
        select(sip_trunk_assignments)
        .where(sip_trunk_assignments.c.sip_trunk_id == trunk_id)
        .order_by(sip_trunk_assignments.c.created_at)
    )
    return [_public(row, ASSIGNMENT_PUBLIC) for row in rows]


async def get_assignment(conn: AsyncConnection, org_id: str, assignment_id: str) -> dict[str, Any]:
    row = (
        await conn.execute(
            select(sip_trunk_assignments).where(
                sip_trunk_assignments.c.id == assignment_id, sip_trunk_assignments.c.organization_id == org_id
            )
        )
    ).first()
    if row is None:
        raise NotFound("assignment not found")
    return _public(row, ASSIGNMENT_PUBLIC)


_DUPLICATE_NUMBER = "that number (or alternate number) is already assigned"


async def create_assignment(
    conn: AsyncConnection, org_id: str, trunk_id: str, values: dict[str, Any]
) -> dict[str, Any]:
    row = {
        "id": new_id(),
        "organization_id": org_id,
        "sip_trunk_id": trunk_id,
        "created_at": now_text(),
        **values,
    }
    await _write(conn, insert(sip_trunk_assignments).values(**row), _DUPLICATE_NUMBER)
    return {name: row.get(name) for name in ASSIGNMENT_PUBLIC}


async def update_assignment(
    conn: AsyncConnection, org_id: str, assignment_id: str, values: dict[str, Any]
) -> dict[str, Any]:
    await get_assignment(conn, org_id, assignment_id)
    if values:
        await _write(
            conn,
            update(sip_trunk_assignments).where(sip_trunk_assignments.c.id == assignment_id).values(**values),
            _DUPLICATE_NUMBER,
        )
    return await get_assignment(conn, org_id, assignment_id)


async def delete_assignment(conn: AsyncConnection, org_id: str, assignment_id: str) -> None:
    await get_assignment(conn, org_id, assignment_id)
    await conn.execute(delete(sip_trunk_assignments).where(sip_trunk_assignments.c.id == assignment_id))
