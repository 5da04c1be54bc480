"""Run any ASGI app under a real uvicorn on 127.0.0.1 in a background thread (for sync tests too)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Literal

import uvicorn

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


class ThreadedServer:
    """``with ThreadedServer(app) as server:`` serves ``app`` at ``server.url`` until the block ends."""

    def __init__(self, app: Any, *, lifespan: Literal["auto", "on", "off"] = "on") -> None:
        self.app = app
        self.lifespan = lifespan
        self.port = 0
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadedServer:
        # IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so (no 40 ms Nagle waits).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._socket, self.port = sock, sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            lifespan=self.lifespan,
            loop="asyncio",
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the server thread died while starting (see the log)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start within {START_TIMEOUT} s")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._thread is None or self._server is None:
            return
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT)
        alive = self._thread.is_alive()
        self._thread = self._server = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if alive:
            raise RuntimeError(f"the server did not stop within {STOP_TIMEOUT} s")

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
