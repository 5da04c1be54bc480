"""``/v1/organization``, ``/v1/llms`` and ``/v1/voices``: what this server really has."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from vatel.server.api.problems import JSONResponse
from vatel.server.api.routing import Caller, endpoint, resource
from vatel.server.store.organizations import get_organization


@endpoint
async def organization(request: Request, caller: Caller) -> Response:
    org = await get_organization(caller.state.engine, caller.organization_id)
    return JSONResponse({"id": org.id, "name": org.name, "created_at": org.created_at})


@endpoint
async def llms(request: Request, caller: Caller) -> Response:
    return JSONResponse({"llms": sorted(caller.state.llms)})


@endpoint
async def voices(request: Request, caller: Caller) -> Response:
    return JSONResponse({"voices": [voice.to_wire() for voice in caller.state.voices]})


routes = [
    resource("/v1/organization", GET=organization),
    resource("/v1/llms", GET=llms),
    resource("/v1/voices", GET=voices),
]
