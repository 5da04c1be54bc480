"""Agents and their versions. An agent's settings are one JSON document (``config``).

Creating an agent creates one unpublished version (the hosted API does; the official full-stack
demo publishes ``versions[0]`` right after). Deleting an agent hides it but keeps its versions, so
past calls still name a real version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from vatel.server.store.errors import Conflict, Forbidden, NotFound
from vatel.server.store.ids import new_id
from vatel.server.store.schema import agent_versions, agents
from vatel.server.store.timestamps import now_text


@dataclass(frozen=True)
class AgentRow:
    id: str
    organization_id: str
    config: dict[str, Any]
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class VersionRow:
    id: str
    agent_id: str
    tag: str
    nodes: list[dict[str, Any]]
    created_at: str
    published_at: str | None


def _agent(row: Any) -> AgentRow:
    return AgentRow(row.id, row.organization_id, dict(row.config), row.created_at, row.updated_at)


def _version(row: Any) -> VersionRow:
    return VersionRow(row.id, row.agent_id, row.tag, list(row.nodes), row.created_at, row.published_at)


async def create_agent(conn: AsyncConnection, org_id: str, config: dict[str, Any]) -> AgentRow:
    agent_id, now = new_id(), now_text()
    await conn.execute(
        insert(agents).values(
            id=agent_id, organization_id=org_id, config=config, created_at=now, updated_at=now
        )
    )
    await conn.execute(
        insert(agent_versions).values(id=new_id(), agent_id=agent_id, tag="v1", nodes=[], created_at=now)
    )
    return AgentRow(agent_id, org_id, config, now, now)


async def list_agents(conn: AsyncConnection, org_id: str) -> list[AgentRow]:
    rows = await conn.execute(
        select(agents)
        .where(agents.c.organization_id == org_id, agents.c.deleted_at.is_(None))
        .order_by(agents.c.created_at, agents.c.id)
    )
    return [_agent(row) for row in rows]


async def get_agent(
    conn: AsyncConnection, org_id: str, agent_id: str, *, other_org: type[Exception] = NotFound
) -> AgentRow:
    """The live agent; another organization's agent raises ``other_org`` (404 unless told 403)."""
    row = (
        await conn.execute(select(agents).where(agents.c.id == agent_id, agents.c.deleted_at.is_(None)))
    ).first()
    if row is None:
        raise NotFound("agent not found")
    if row.organization_id != org_id:
        raise other_org(
            "agent belongs to another organization" if other_org is Forbidden else "agent not found"
        )
    return _agent(row)


async def update_agent(conn: AsyncConnection, agent: AgentRow, config: dict[str, Any]) -> AgentRow:
    now = now_text()
    await conn.execute(update(agents).where(agents.c.id == agent.id).values(config=config, updated_at=now))
    return AgentRow(agent.id, agent.organization_id, config, agent.created_at, now)


async def delete_agent(conn: AsyncConnection, agent: AgentRow) -> None:
    await conn.execute(update(agents).where(agents.c.id == agent.id).values(deleted_at=now_text()))


async def list_versions(conn: AsyncConnection, agent: AgentRow) -> list[VersionRow]:
    rows = await conn.execute(
        select(agent_versions)
        .where(agent_versions.c.agent_id == agent.id)
        .order_by(agent_versions.c.created_at, agent_versions.c.id)
    )
    return [_version(row) for row in rows]


async def get_version(conn: AsyncConnection, agent: AgentRow, version_id: str) -> VersionRow:
    row = (
        await conn.execute(
            select(agent_versions).where(
                agent_versions.c.id == version_id, agent_versions.c.agent_id == agent.id
            )
        )
    ).first()
    if row is None:
        raise NotFound("version not found for this agent")
    return _version(row)


async def publish_version(conn: AsyncConnection, agent: AgentRow, version_id: str) -> VersionRow:
    """Publish a version (it becomes the active one); :class:`Conflict` if it already is published."""
    version = await get_version(conn, agent, version_id)
    if version.published_at is not None:
        raise Conflict("version is already published")
    now = now_text()
    result = await conn.execute(
        update(agent_versions)
        .where(agent_versions.c.id == version_id, agent_versions.c.published_at.is_(None))
        .values(published_at=now)
    )
    if result.rowcount == 0:  # published by a concurrent request
        raise Conflict("version is already published")
    return VersionRow(version.id, version.agent_id, version.tag, version.nodes, version.created_at, now)


async def set_version_nodes(
    conn: AsyncConnection, agent: AgentRow, version_id: str, nodes: list[dict[str, Any]]
) -> None:
    """Replace a version's graph nodes (the API has no endpoint for it: ``vatel agents import``)."""
    await get_version(conn, agent, version_id)
    await conn.execute(update(agent_versions).where(agent_versions.c.id == version_id).values(nodes=nodes))


async def active_version(conn: AsyncConnection, agent: AgentRow) -> VersionRow:
    """The newest published version, else the newest version (a fresh agent is usable at once)."""
    row = (
        await conn.execute(
            select(agent_versions)
            .where(agent_versions.c.agent_id == agent.id)
            .order_by(
                agent_versions.c.published_at.is_(None),  # published first
                agent_versions.c.published_at.desc(),
                agent_versions.c.created_at.desc(),
                agent_versions.c.id.desc(),
            )
            .limit(1)
        )
    ).first()
    if row is None:
        raise NotFound("agent has no version")
    return _version(row)
