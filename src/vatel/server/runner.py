"""``vatel serve`` inside another program: an ASGI app under uvicorn on a loopback port, in a thread.

Calls take the direct path of :class:`~vatel.server.live.websocket_protocol.CallWebSocketProtocol`, as under
``vatel serve``.

The embedded default of ``vatel session`` runs on this (with no API key, a local server is started
for the session and stopped when it ends), and so do the tests' loopback servers.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any, Self

import uvicorn
from starlette.types import ASGIApp

from vatel.server.live.websocket_protocol import CallWebSocketProtocol

START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


class ServerThread:
    """``with ServerThread(app) as server:`` serves ``app`` at ``server.url`` until the block ends.

    ``options`` go to ``uvicorn.Config`` (e.g. ``http="h11"``, ``lifespan="off"``).
    """

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", **options: Any) -> None:
        # IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so (no 40 ms Nagle waits).
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, 0))
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        settings: dict[str, Any] = {
            "lifespan": "on",
            "log_config": None,
            "log_level": "warning",
            "access_log": False,
            "timeout_graceful_shutdown": 3,
            "ws": CallWebSocketProtocol,
            **options,
        }
        self._server = uvicorn.Server(uvicorn.Config(app, **settings))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="vatel-serve", daemon=True
        )

    def start(self) -> Self:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the local server stopped while starting (see the log above)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local server did not start within {START_TIMEOUT:g} s")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop gracefully and wait; ``RuntimeError`` when the server thread does not end in time."""
        if not self._thread.is_alive():
            self._socket.close()
            return
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT)
        self._socket.close()
        if self._thread.is_alive():
            raise RuntimeError(f"the local server did not stop within {STOP_TIMEOUT:g} s")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
