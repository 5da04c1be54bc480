"""The one wrapper every REST handler goes through: the API key, the caller, and the errors.

A handler is ``async def handler(request, caller) -> Response``. The wrapper answers 401 for a
missing or unknown key, maps repository errors to 400/403/404/409, and turns any unexpected
exception into a logged 500 with a JSON body (a bug of ours, never a client's garbage).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vatel.protocol import VoiceCatalogEntry
from vatel.server.api.problems import ApiProblem, problem
from vatel.server.auth.api_keys import bearer_key
from vatel.server.settings import ServerSettings
from vatel.server.store.errors import Conflict, Forbidden, Invalid, NotFound
from vatel.server.store.organizations import organization_for_key

logger = logging.getLogger("vatel.server.api")


KEY_CACHE_SECONDS = 1.0
"""How long a checked API key is trusted without asking the database again: a revoked key stops
working within this time on every replica, and a busy client costs one lookup a second, not one a
request (benchmarks/rest.py)."""
KEY_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class ServerState:
    """What every request may use; built once at start-up."""

    settings: ServerSettings
    engine: AsyncEngine
    token_secret: str
    llms: tuple[str, ...]
    voices: tuple[VoiceCatalogEntry, ...] = field(default=())
    known_keys: dict[str, tuple[str, float]] = field(default_factory=dict)
    """API key → (organization id, when to check it again)."""

    async def organization_of(self, key: str) -> str | None:
        now = time.monotonic()
        cached = self.known_keys.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        async with self.engine.connect() as conn:
            org_id = await organization_for_key(conn, key)
        if org_id is None:
            self.known_keys.pop(key, None)
            return None
        if len(self.known_keys) >= KEY_CACHE_SIZE:
            self.known_keys.clear()
        self.known_keys[key] = (org_id, now + KEY_CACHE_SECONDS)
        return org_id


@dataclass(frozen=True)
class Caller:
    organization_id: str
    state: ServerState


Handler = Callable[[Request, Caller], Awaitable[Response]]

_STORE_STATUS = {NotFound: 404, Forbidden: 403, Conflict: 409, Invalid: 400}


def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.vatel
    return state


def resource(path: str, **handlers: Callable[[Request], Awaitable[Response]]) -> Route:
    """One route per path with every method it serves (``resource(p, GET=a, POST=b)``), so a 405
    answer's ``Allow`` header names all of them, not only those of the first route that matched."""

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return Route(path, dispatch, methods=list(handlers))


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        state = server_state(request)
        key = bearer_key(request.headers.get("authorization"))
        if key is None:
            return problem(401, "missing API key: send the header Authorization: Bearer <API key>")
        org_id = await state.organization_of(key)
        if org_id is None:
            return problem(401, "invalid or revoked API key")
        try:
            return await handler(request, Caller(org_id, state))
        except ApiProblem as exc:
            return problem(exc.status, exc.message, exc.headers)
        except (NotFound, Forbidden, Conflict, Invalid) as exc:
            return problem(_STORE_STATUS[type(exc)], str(exc))
        except Exception:
            logger.exception("unexpected error in %s %s", request.method, request.url.path)
            return problem(500, "internal server error (logged on the server)")

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run
