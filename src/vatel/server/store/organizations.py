"""The organization and its API keys, and the install's own secrets.

The first start creates one organization and one key. On PostgreSQL several replicas may start at
once: the organization row is created under the migrations' advisory lock order (insert, then
re-read), so only one key is ever printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vatel.server.auth.api_keys import display_prefix, generate_key, hash_key
from vatel.server.auth.session_tokens import generate_secret
from vatel.server.store.errors import NotFound
from vatel.server.store.ids import new_id
from vatel.server.store.schema import api_keys, organizations, server_settings
from vatel.server.store.timestamps import now_text

JWT_SECRET = "session_token_secret"
FIRST_ORGANIZATION_ID = "first_organization_id"


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    created_at: str


@dataclass(frozen=True)
class ApiKeyInfo:
    id: str
    organization_id: str
    name: str
    prefix: str
    created_at: str
    revoked_at: str | None


async def _setting(conn: AsyncConnection, key: str) -> str | None:
    value = await conn.scalar(select(server_settings.c.value).where(server_settings.c.key == key))
    return str(value) if value is not None else None


async def _setting_once(engine: AsyncEngine, key: str, make: str) -> tuple[str, bool]:
    """The value stored under ``key``, storing ``make`` first if none is; (value, created)."""
    async with engine.begin() as conn:
        existing = await _setting(conn, key)
        if existing is not None:
            return existing, False
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(server_settings).values(key=key, value=make))
        return make, True
    except IntegrityError:  # another replica stored it first
        async with engine.begin() as conn:
            value = await _setting(conn, key)
        assert value is not None
        return value, False


async def session_token_secret(engine: AsyncEngine) -> str:
    secret, _ = await _setting_once(engine, JWT_SECRET, generate_secret())
    return secret


async def first_start(
    engine: AsyncEngine, name: str = "Local organization"
) -> tuple[Organization, str | None]:
    """The install's organization, created with a first API key if there is none yet.

    Returns the organization and the new key (``None`` when the organization already existed).
    The setting, the organization and the key are written in one transaction; a replica that
    loses the race reads the winner's organization.
    """
    async with engine.connect() as conn:
        org_id = await _setting(conn, FIRST_ORGANIZATION_ID)
    key: str | None = None
    if org_id is None:
        candidate = new_id()
        try:
            async with engine.begin() as conn:
                await conn.execute(insert(server_settings).values(key=FIRST_ORGANIZATION_ID, value=candidate))
                await conn.execute(
                    insert(organizations).values(id=candidate, name=name, created_at=now_text())
                )
                _, key = await _insert_key(conn, candidate, "first key")
            org_id = candidate
        except IntegrityError:
            async with engine.connect() as conn:
                org_id = await _setting(conn, FIRST_ORGANIZATION_ID)
            if org_id is None:
                raise
    return await get_organization(engine, org_id), key


async def get_organization(engine: AsyncEngine, org_id: str) -> Organization:
    async with engine.connect() as conn:
        row = (await conn.execute(select(organizations).where(organizations.c.id == org_id))).first()
    if row is None:
        raise NotFound("organization not found")
    return Organization(row.id, row.name, row.created_at)


async def _insert_key(conn: AsyncConnection, org_id: str, name: str) -> tuple[str, str]:
    key_id, key = new_id(), generate_key()
    await conn.execute(
        insert(api_keys).values(
            id=key_id,
            organization_id=org_id,
            name=name,
            prefix=display_prefix(key),
            key_hash=hash_key(key),
            created_at=now_text(),
        )
    )
    return key_id, key


def _key_info(row: Any) -> ApiKeyInfo:
    return ApiKeyInfo(row.id, row.organization_id, row.name, row.prefix, row.created_at, row.revoked_at)


async def create_key(engine: AsyncEngine, name: str) -> tuple[ApiKeyInfo, str]:
    """A new key for the install's organization; the key itself is returned once, never stored."""
    org, _ = await first_start(engine)
    async with engine.begin() as conn:
        key_id, key = await _insert_key(conn, org.id, name)
    return await get_key(engine, key_id), key


async def get_key(engine: AsyncEngine, key_id: str) -> ApiKeyInfo:
    async with engine.connect() as conn:
        row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
    if row is None:
        raise NotFound(f"no API key with id {key_id}")
    return _key_info(row)


async def list_keys(engine: AsyncEngine) -> list[ApiKeyInfo]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(api_keys).order_by(api_keys.c.created_at))).all()
    return [_key_info(row) for row in rows]


async def revoke_key(engine: AsyncEngine, key_id: str) -> ApiKeyInfo:
    """Revoke a key (revoking it again changes nothing); :class:`NotFound` for an unknown id."""
    async with engine.begin() as conn:
        await conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now_text())
        )
    return await get_key(engine, key_id)


async def organization_for_key(conn: AsyncConnection, key: str) -> str | None:
    """The organization a key belongs to, or ``None`` for an unknown or revoked key."""
    row = (
        await conn.execute(
            select(api_keys.c.organization_id, api_keys.c.revoked_at).where(
                api_keys.c.key_hash == hash_key(key)
            )
        )
    ).first()
    if row is None or row.revoked_at is not None:
        return None
    return str(row.organization_id)
