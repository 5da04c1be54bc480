"""The floor under ``vatel serve``'s transport: the same uvicorn (uvloop, httptools, websockets-sansio)
serving an ASGI app that does nothing per call but what every call must: take each client frame,
and send a 20 ms ``response_audio`` frame 50 times a second (after a 0.2 s lead, as vatel serve)
from one timer per call on a 5 ms grid.

``benchmarks/density.py transport`` measures it in the same run as the server, with the same load
generator, so "CPU per session-second" has a baseline: what is left above it is our call's work.

    python -m uvicorn transport_floor:app --app-dir benchmarks --port 8765
"""

from __future__ import annotations

import asyncio
import base64
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
FRAME_SECONDS = 0.02
LEAD_FRAMES = 10
"""vatel serve sends 0.2 s of a turn at once, then paces it; so does the floor (the benchmark's
lateness is measured against that schedule)."""
GRID = 0.005
STARTED = '{"type":"session_started","data":{"session_id":"floor"}}'
AUDIO = (
    '{"type":"response_audio","data":{"turn_id":"floor","audio":"'
    + base64.b64encode(bytes(960)).decode()
    + '"}}'
)


def _send_now(send: Callable[[Message], Awaitable[None]], text: str) -> bool:
    """uvicorn's WebSocket send does not suspend: run it to its end here (as vatel serve does).
    ``False`` when the client is gone."""
    steps: Any = send({"type": "websocket.send", "text": text})
    try:
        steps.send(None)
    except StopIteration:
        return True
    except Exception:
        return False
    raise RuntimeError("the server's send suspended; the floor assumes uvicorn's, which does not")


async def app(
    scope: Message, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": STARTED})
    loop = asyncio.get_running_loop()
    due = loop.time()
    timer: asyncio.TimerHandle | None = None

    def ring() -> None:
        nonlocal due, timer
        if not _send_now(send, AUDIO):
            return
        due += FRAME_SECONDS
        timer = loop.call_at(math.ceil(due / GRID) * GRID, ring)

    for _ in range(LEAD_FRAMES):  # chunks 0-9; ring() sends chunk 10, due at once too
        _send_now(send, AUDIO)
    ring()
    try:
        while (await receive())["type"] != "websocket.disconnect":
            pass
    finally:
        if timer is not None:
            timer.cancel()
