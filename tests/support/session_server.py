"""A scripted loopback Vatel server for end-to-end tests of ``vatel session`` (and the seed example).

Starlette under uvicorn in a background thread, on 127.0.0.1:

* ``POST /v1/session-token``: ``Authorization: Bearer <api_key>`` or 401; the configured
  ``agent_id`` or 404; answers ``{"token": ...}`` (one token per request, single use).
* ``/v1/connection?token=``: accepts a token it issued (else 403 before the upgrade), records
  every frame the client sends (``input_audio`` PCM with arrival times, ``tool_call_output``,
  anything else) and runs the test's script, an ``async def script(live: LiveSession)``::

      async def script(live: LiveSession) -> None:
          await live.send("session_started", {"id": "call-1"})
          await live.wait_flag("spoken")                 # the test sets it from its own thread
          await live.send_audio("t1", pcm, final=True)   # paced as real time
          await live.end()                               # session_ended, then close 1000

The test reads what happened from :attr:`SessionServer.sessions` after
:meth:`SessionServer.wait_done`, which re-raises an error raised inside the script. Every time
recorded is ``time.monotonic()`` (one clock for the whole machine on Linux, so other processes'
timestamps compare).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from vatel.protocol import InputAudio, ToolCallOutput, decode_client_message, encode_pcm
from vatel.server.runner import ServerThread

__all__ = ["LiveSession", "Script", "SessionServer", "SentMark"]

FRAME_SECONDS = 0.02
WIRE_RATE = 24_000


@dataclass(frozen=True)
class SentMark:
    """When the server sent something worth timing (``interruption``, a turn's first chunk ...)."""

    what: str
    at: float


@dataclass
class LiveSession:
    """The server side of one session socket, handed to the script."""

    ws: WebSocket
    server: SessionServer
    input_pcm: bytearray = field(default_factory=bytearray)
    input_frames: list[tuple[float, int]] = field(default_factory=list)
    """(arrival time, bytes) of each ``input_audio`` frame."""
    tool_outputs: dict[str, str] = field(default_factory=dict)
    other_frames: list[Any] = field(default_factory=list)
    marks: list[SentMark] = field(default_factory=list)
    client_close_code: int | None = None
    closed: bool = False
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    # --- sending ----------------------------------------------------------------------------------

    async def send(self, type: str, data: Any = None) -> None:
        await self.ws.send_text(orjson.dumps({"type": type, "data": {} if data is None else data}).decode())

    def mark(self, what: str) -> None:
        self.marks.append(SentMark(what, time.monotonic()))

    def mark_at(self, what: str) -> float:
        return next(m.at for m in self.marks if m.what == what)

    async def send_audio(
        self, turn_id: str, pcm: bytes, *, final: bool = True, pace: float = 1.0, chunk: float = FRAME_SECONDS
    ) -> None:
        """Send ``pcm`` (PCM16 24 kHz mono) as ``response_audio`` chunks of ``chunk`` seconds.

        ``pace`` 1.0 is real time; 4.0 sends four times faster (the client buffers the rest);
        0 sends everything at once. The last chunk carries ``is_final=final``.
        """
        step = round(chunk * WIRE_RATE) * 2
        pieces = [pcm[i : i + step] for i in range(0, len(pcm), step)] or [b""]
        start = time.monotonic()
        self.mark(f"{turn_id}:first")
        for index, piece in enumerate(pieces):
            if pace > 0:
                delay = start + index * chunk / pace - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            last = index == len(pieces) - 1
            data = {"turn_id": turn_id, "audio": encode_pcm(piece), "is_final": final and last}
            await self.send("response_audio", data)
        self.mark(f"{turn_id}:last")

    async def end(self) -> None:
        """``session_ended``, then close with 1000."""
        await self.send("session_ended")
        await self.ws.close(1000)
        self.closed = True

    # --- waiting ----------------------------------------------------------------------------------

    async def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:  # noqa: ASYNC109
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    self._changed.clear()
                    if predicate():
                        break
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}") from None

    async def wait_input_seconds(self, seconds: float, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        await self.wait_until(
            lambda: len(self.input_pcm) >= seconds * WIRE_RATE * 2, timeout, f"{seconds} s of input_audio"
        )

    async def wait_tool_output(self, call_id: str, timeout: float = 10.0) -> str:  # noqa: ASYNC109
        await self.wait_until(lambda: call_id in self.tool_outputs, timeout, f"tool_call_output {call_id}")
        return self.tool_outputs[call_id]

    async def wait_flag(self, name: str, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        await self.wait_until(lambda: name in self.server.flags, timeout, f"flag {name!r}")

    # --- receiving (a task beside the script) -----------------------------------------------------

    async def read_client(self) -> None:
        try:
            while True:
                text = await self.ws.receive_text()
                message = decode_client_message(text)
                if isinstance(message, InputAudio):
                    pcm = message.data.pcm
                    self.input_pcm += pcm
                    self.input_frames.append((time.monotonic(), len(pcm)))
                elif isinstance(message, ToolCallOutput):
                    self.tool_outputs[message.data.toolCallId] = message.data.output
                else:
                    self.other_frames.append(message)
                self._changed.set()
        except WebSocketDisconnect as exc:
            self.client_close_code = exc.code
        except RuntimeError:
            pass  # the script closed the socket
        finally:
            self.closed = True
            self._changed.set()


Script = Callable[[LiveSession], Awaitable[None]]


class SessionServer:
    """``with SessionServer(script) as server:``; clients use ``url``, ``api_key`` and ``agent_id``."""

    def __init__(self, script: Script, *, api_key: str = "test-key", agent_id: str = "agent-1") -> None:
        self.script = script
        self.api_key = api_key
        self.agent_id = agent_id
        self.sessions: list[LiveSession] = []
        self.token_requests = 0
        self.flags: set[str] = set()
        self.port = 0
        self._tokens: set[str] = set()
        self._errors: list[BaseException] = []
        self._done = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: ServerThread | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/session-token", self._token, methods=["POST"]),
                WebSocketRoute("/v1/connection", self._connection),
            ]
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- the two endpoints ------------------------------------------------------------------------

    async def _token(self, request: Request) -> JSONResponse:
        self.token_requests += 1
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse({"error": "Invalid API key"}, 401)
        body = orjson.loads(await request.body() or b"{}")
        if body.get("agent_id") != self.agent_id:
            return JSONResponse({"error": f"Agent {body.get('agent_id')} not found"}, 404)
        token = f"token-{self.token_requests}"
        self._tokens.add(token)
        return JSONResponse({"token": token})

    async def _connection(self, ws: WebSocket) -> None:
        token = ws.query_params.get("token", "")
        if token not in self._tokens:
            await ws.close(1008)  # before accept: uvicorn answers 403
            return
        self._tokens.discard(token)
        self._loop = asyncio.get_running_loop()
        await ws.accept()
        live = LiveSession(ws, self)
        self.sessions.append(live)
        reader = asyncio.ensure_future(live.read_client())
        try:
            await self.script(live)
            # Let the client close (or the close handshake finish) before the handler returns.
            await asyncio.wait_for(asyncio.shield(reader), timeout=10)
        except BaseException as exc:
            self._errors.append(exc)
            if not live.closed:
                await ws.close(1011)
        finally:
            reader.cancel()
            self._done.set()

    # --- the test's side --------------------------------------------------------------------------

    def set_flag(self, name: str) -> None:
        """Set a flag a script waits for (:meth:`LiveSession.wait_flag`), from any thread."""
        loop = self._loop
        if loop is None:
            self.flags.add(name)
            return

        def set_it() -> None:
            self.flags.add(name)
            for live in self.sessions:
                live._changed.set()

        loop.call_soon_threadsafe(set_it)

    def wait_done(self, timeout: float = 30.0) -> LiveSession:
        """Wait for the first session's script to finish; re-raise its error; return the session."""
        if not self._done.wait(timeout):
            raise AssertionError(f"the scripted session did not finish within {timeout} s")
        if self._errors:
            raise self._errors[0]
        return self.sessions[0]

    def start(self) -> SessionServer:
        self._runner = ServerThread(
            self.app, lifespan="off", loop="asyncio", ws="websockets-sansio", timeout_graceful_shutdown=1
        ).start()
        self.port = self._runner.port
        return self

    def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.stop()

    def __enter__(self) -> SessionServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
