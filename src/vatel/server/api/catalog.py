"""``/v1/organization``, ``/v1/llms`` and ``/v1/voices``: what this server really has."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vatel.server.api.problems import JSONResponse
from vatel.server.api.routing import Caller, endpoint
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
    Route("/v1/organization", organization, methods=["GET"]),
    Route("/v1/llms", llms, methods=["GET"]),
    Route("/v1/voices", voices, methods=["GET"]),
]
