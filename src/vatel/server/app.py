"""The ASGI app: REST routes, JSON errors for every failure, and the start-up that prepares the store.

``create_app(settings)`` prepares the data dir in its lifespan (migrations, first organization).
Starlette's own 404/405 answers are turned into ``{"error": ...}`` JSON like every other error.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vatel.protocol import VoiceCatalogEntry
from vatel.server.api import agents, calls, catalog, session_token, telephony
from vatel.server.api.problems import problem
from vatel.server.api.routing import ServerState
from vatel.server.bootstrap import prepare
from vatel.server.settings import ServerSettings

logger = logging.getLogger("vatel.server")

SCRIPTED_BRAIN = "vatel/scripted"


async def connection_without_upgrade(request: Request) -> Response:
    return problem(
        400,
        "GET /v1/connection is the session WebSocket: open it with a WebSocket client and ?token=<token>",
    )


def api_routes() -> list[BaseRoute]:
    return [
        *catalog.routes,
        *agents.routes,
        *calls.routes,
        *telephony.routes,
        *session_token.routes,
        Route("/v1/connection", connection_without_upgrade, methods=["GET"]),
    ]


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {
        404: f"no such endpoint: {request.url.path}",
        405: f"method {request.method} not allowed here",
    }
    return problem(exc.status_code, messages.get(exc.status_code, exc.detail), dict(exc.headers or {}))


async def server_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "internal server error (logged on the server)")


def create_app(
    settings: ServerSettings,
    *,
    llms: Sequence[str] = (SCRIPTED_BRAIN,),
    voices: Sequence[VoiceCatalogEntry] = (),
    on_first_key: Callable[[str], None] | None = None,
) -> Starlette:
    """The server app; its lifespan prepares the store (in the server's own event loop).

    ``on_first_key`` is called with the new API key when this start created the organization
    (the CLI prints it once)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ready = await prepare(settings)
        if ready.new_key is not None and on_first_key is not None:
            on_first_key(ready.new_key)
        app.state.vatel = ServerState(
            settings=settings,
            engine=ready.engine,
            token_secret=ready.token_secret,
            llms=tuple(llms),
            voices=tuple(voices),
        )
        try:
            yield
        finally:
            await ready.engine.dispose()

    return Starlette(
        routes=api_routes(),
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
