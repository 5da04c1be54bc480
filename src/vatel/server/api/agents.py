"""``/v1/agents``: create, list, read, change, delete; versions and publishing; dial (503 here)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from vatel.protocol import AgentCreateInput, AgentUpdateInput
from vatel.server.api.agent_settings import agent_body, merged_config, new_config, strip_legacy
from vatel.server.api.problems import JSONResponse, problem
from vatel.server.api.request import check_uuid, parse_model, path_id, read_json
from vatel.server.api.routing import Caller, endpoint, resource
from vatel.server.store import agents as store
from vatel.server.store.errors import Invalid
from vatel.server.store.schema import twilio_numbers


def version_body(version: store.VersionRow) -> dict[str, Any]:
    return {
        "id": version.id,
        "agent_id": version.agent_id,
        "created_at": version.created_at,
        "published_at": version.published_at,
        "tag": version.tag,
    }


def _body(agent: store.AgentRow) -> dict[str, Any]:
    return agent_body(agent.id, agent.config, agent.created_at, agent.updated_at)


async def _check_number(conn: AsyncConnection, org_id: str, config: dict[str, Any]) -> None:
    number_id = config.get("phone_number_id")
    if not number_id:
        return
    found = await conn.scalar(
        select(twilio_numbers.c.id).where(
            twilio_numbers.c.id == number_id, twilio_numbers.c.organization_id == org_id
        )
    )
    if found is None:
        raise Invalid(f"phone_number_id {number_id} is not a Twilio number of this organization")


@endpoint
async def list_agents(request: Request, caller: Caller) -> Response:
    async with caller.state.engine.connect() as conn:
        agents = await store.list_agents(conn, caller.organization_id)
    return JSONResponse([_body(agent) for agent in agents])


@endpoint
async def create_agent(request: Request, caller: Caller) -> Response:
    data = strip_legacy(await read_json(request, caller.state.settings.max_body_bytes))
    config = new_config(parse_model(AgentCreateInput, data), caller.state.llms)
    async with caller.state.engine.begin() as conn:
        await _check_number(conn, caller.organization_id, config)
        agent = await store.create_agent(conn, caller.organization_id, config)
    return JSONResponse(_body(agent), status_code=201)


@endpoint
async def get_agent(request: Request, caller: Caller) -> Response:
    agent_id = path_id(request)
    async with caller.state.engine.connect() as conn:
        agent = await store.get_agent(conn, caller.organization_id, agent_id)
    return JSONResponse(_body(agent))


@endpoint
async def patch_agent(request: Request, caller: Caller) -> Response:
    agent_id = path_id(request)
    data = strip_legacy(await read_json(request, caller.state.settings.max_body_bytes))
    patch = parse_model(AgentUpdateInput, data)
    async with caller.state.engine.begin() as conn:
        agent = await store.get_agent(conn, caller.organization_id, agent_id)
        config = merged_config(agent.config, patch, caller.state.llms)
        await _check_number(conn, caller.organization_id, config)
        agent = await store.update_agent(conn, agent, config)
    return JSONResponse(_body(agent))


@endpoint
async def delete_agent(request: Request, caller: Caller) -> Response:
    agent_id = path_id(request)
    async with caller.state.engine.begin() as conn:
        agent = await store.get_agent(conn, caller.organization_id, agent_id)
        await store.delete_agent(conn, agent)
    return Response(status_code=204)


@endpoint
async def list_versions(request: Request, caller: Caller) -> Response:
    agent_id = path_id(request)
    async with caller.state.engine.connect() as conn:
        agent = await store.get_agent(conn, caller.organization_id, agent_id)
        versions = await store.list_versions(conn, agent)
    return JSONResponse([version_body(v) for v in versions])


@endpoint
async def get_version(request: Request, caller: Caller) -> Response:
    agent_id, version_id = path_id(request), path_id(request, "versionId")
    async with caller.state.engine.connect() as conn:
        agent = await store.get_agent(conn, caller.organization_id, agent_id)
        version = await store.get_version(conn, agent, version_id)
    return JSONResponse({"version": version_body(version), "nodes": version.nodes})


@endpoint
async def publish_version(request: Request, caller: Caller) -> Response:
    agent_id, version_id = path_id(request), path_id(request, "versionId")
    async with caller.state.engine.begin() as conn:
        agent = await store.get_agent(conn, caller.organization_id, agent_id)
        version = await store.publish_version(conn, agent, version_id)
    return JSONResponse(version_body(version))


@endpoint
async def dial_agent(request: Request, caller: Caller) -> Response:
    agent_id = path_id(request)
    number, destination = request.query_params.get("number"), request.query_params.get("destination")
    if number and destination and number != destination:
        return problem(400, "number and destination are aliases and must match when both are sent")
    trunk = request.query_params.get("sipTrunkId")
    if trunk:
        check_uuid(trunk, "sipTrunkId")
    async with caller.state.engine.connect() as conn:
        await store.get_agent(conn, caller.organization_id, agent_id)
    return problem(503, "telephony is not configured on this server: outbound dialling is unavailable")


routes = [
    resource("/v1/agents", GET=list_agents, POST=create_agent),
    resource("/v1/agents/{id}", GET=get_agent, PATCH=patch_agent, DELETE=delete_agent),
    resource("/v1/agents/{id}/versions", GET=list_versions),
    resource("/v1/agents/{id}/versions/{versionId}", GET=get_version),
    resource("/v1/agents/{id}/versions/{versionId}/publish", POST=publish_version),
    resource("/v1/agents/{id}/dial", POST=dial_agent),
]
