"""``GET /debug/usage``: where this server's CPU went, per component (``server/live/usage.py``).

Not part of the Vatel API (hence outside ``/v1``): a counter dump for benchmarks and operators,
behind the same API key as everything else. Every figure only grows; subtract two snapshots.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from vatel.server.api.problems import ApiProblem, JSONResponse
from vatel.server.api.routing import Caller, endpoint, resource
from vatel.server.live.services import LiveServices


@endpoint
async def usage(request: Request, caller: Caller) -> Response:
    live: LiveServices | None = request.app.state.live
    if live is None:
        raise ApiProblem(503, "live sessions are disabled on this server (started without speech engines)")
    # This handler runs on the event loop, so the thread clock read here is the loop's.
    return JSONResponse(live.usage.snapshot(time.thread_time(), live.engines))


routes = [resource("/debug/usage", GET=usage)]
