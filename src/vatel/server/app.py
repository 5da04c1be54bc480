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
from starlette.routing import BaseRoute, Route, WebSocketRoute

from vatel.protocol import VoiceCatalogEntry
from vatel.server.api import agents, calls, catalog, session_token, telephony, usage
from vatel.server.api.problems import problem
from vatel.server.api.routing import ServerState
from vatel.server.bootstrap import prepare
from vatel.server.engines.tts import Voice
from vatel.server.live.endpoint import SessionEndpoint
from vatel.server.live.services import LiveServices
from vatel.server.settings import ServerSettings

logger = logging.getLogger("vatel.server")


class _DenialIsNotAnError(logging.Filter):
    """uvicorn logs "returned without completing handshake" after a deliberate denial response
    (a 400/401/404 before the upgrade), which is how /v1/connection refuses tokens."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing handshake" not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(_DenialIsNotAnError())

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
        *usage.routes,
        Route("/v1/connection", connection_without_upgrade, methods=["GET"]),
        WebSocketRoute("/v1/connection", SessionEndpoint()),
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


def catalog_entry(voice: Voice, engine: str) -> VoiceCatalogEntry:
    """A local voice as the spec's ``VoiceCatalogEntry``.

    The spec's ``provider`` is an enum of hosted vendors with no value for a local engine; the
    entry says ``openai`` only because the field is required and must be one of those values, and
    names the real engine in ``description`` (docs/architecture.md, "Local voices").
    """
    return VoiceCatalogEntry(
        id=voice.id,
        name=voice.name,
        description=f"local {engine} voice: {voice.description}",
        provider="openai",
        languages=list(voice.languages),
        featured=None,
    )


def create_app(
    settings: ServerSettings,
    *,
    live: LiveServices | None = None,
    llms: Sequence[str] = (SCRIPTED_BRAIN,),
    on_first_key: Callable[[str], None] | None = None,
) -> Starlette:
    """The server app; its lifespan prepares the store (in the server's own event loop).

    ``live`` holds the loaded speech engines and brains; without it the REST API works and the
    session WebSocket answers 503. ``on_first_key`` is called with the new API key when this
    start created the organization (the CLI prints it once)."""
    if live is not None:
        llms = tuple(live.brains)
        voices = tuple(
            catalog_entry(voice, synthesizer.name)
            for synthesizer in live.engines.synthesizers
            for voice in synthesizer.voices
        )
    else:
        voices = ()

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
        app.state.live = live
        try:
            yield
        finally:
            await ready.engine.dispose()

    return Starlette(
        routes=api_routes(),
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
