"""A scriptable WebSocket *server* peer for loopback tests of the session client.

A test describes what the server does as a list of actions (send a text or binary frame, sleep,
wait for the client's frames, close with a code, drop the TCP link with no close frame) and runs
a :class:`WsPeer` on ``127.0.0.1`` port 0 in the test's own event loop::

    async with WsPeer([send("session_started", {"id": "c1"}), Close(1000)]) as peer:
        conn = await vatel.connect("tok", url=peer.url)
        ...

Everything the client does is recorded: the request path and query of each handshake
(:attr:`WsPeer.requests`, also for rejected handshakes), and per accepted connection the frames
the client sent (``str`` for text frames, ``bytes`` for binary ones) and the close code it sent.

:class:`WsPeer` can also refuse the handshake with any HTTP status, body and headers
(:class:`Reject`); :class:`SilentPeer` accepts TCP connections and never answers, for handshake
timeouts; :func:`unused_port` gives a port where nothing listens (connection refused).

Leaving the ``async with`` (or :meth:`WsPeer.stop`) cancels unfinished scripts, closes every
connection and the listening socket, and waits for every task it started, so nothing outlives
the test. An exception inside a script is re-raised there, so a broken script fails the test.
"""

from __future__ import annotations

import asyncio
import http
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, cast
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

__all__ = [
    "Abort",
    "Action",
    "Close",
    "ExpectFrames",
    "PeerConnection",
    "Reject",
    "RequestRecord",
    "SendBinary",
    "SendText",
    "SilentPeer",
    "Sleep",
    "WaitFor",
    "WsPeer",
    "frame",
    "send",
    "unused_port",
]

HOST = "127.0.0.1"

# --- the script ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendText:
    """Send one text frame; a dict or list is JSON-encoded first, a str goes as is."""

    payload: str | Mapping[str, Any] | list[Any]


@dataclass(frozen=True)
class SendBinary:
    """Send one binary frame."""

    payload: bytes


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Close:
    """Close with a code and reason (the closing handshake; the script ends here)."""

    code: int = 1000
    reason: str = ""


@dataclass(frozen=True)
class Abort:
    """Drop the TCP connection with no close frame (the script ends here).

    What was already sent is flushed to the socket first, so the client can still read it.
    """


@dataclass(frozen=True)
class ExpectFrames:
    """Wait until the client has sent ``count`` frames in all on this connection."""

    count: int
    timeout: float = 5.0


@dataclass(frozen=True)
class WaitFor:
    """Wait until the test sets ``event``."""

    event: asyncio.Event
    timeout: float = 5.0


Action = SendText | SendBinary | Sleep | Close | Abort | ExpectFrames | WaitFor


def frame(type: str, data: Any = None, **extra: Any) -> dict[str, Any]:
    """A message object ``{"type": type, "data": data, **extra}``; ``data=None`` gives ``{}``.

    Pass ``data=...`` (the Ellipsis) to leave ``data`` out entirely.
    """
    message: dict[str, Any] = {"type": type}
    if data is not Ellipsis:
        message["data"] = {} if data is None else data
    message.update(extra)
    return message


def send(type: str, data: Any = None, **extra: Any) -> SendText:
    """The action that sends :func:`frame` ``(type, data, **extra)`` as a text frame."""
    return SendText(frame(type, data, **extra))


@dataclass(frozen=True)
class Reject:
    """Refuse the WebSocket handshake with this HTTP answer."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    def response(self) -> Response:
        headers = Headers()
        for name, value in self.headers.items():
            headers[name] = value
        headers["Content-Length"] = str(len(self.body))
        headers["Connection"] = "close"
        try:
            phrase = http.HTTPStatus(self.status).phrase
        except ValueError:
            phrase = "Unknown"
        return Response(self.status, phrase, headers, self.body)


# --- records -------------------------------------------------------------------------------------


@dataclass
class RequestRecord:
    """One handshake request as the server saw it."""

    target: str
    """The request target: path and query (``/v1/connection?token=...``)."""
    headers: dict[str, str]
    """Header names lower-cased."""

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> str:
        return urlsplit(self.target).query

    @property
    def params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)


@dataclass
class PeerConnection:
    """One accepted WebSocket connection: what the client sent and how it ended."""

    request: RequestRecord
    received: list[str | bytes] = field(default_factory=list)
    """Frames from the client in order: ``str`` for text frames, ``bytes`` for binary ones."""
    close_code: int | None = None
    """The close code the server received from the client (1006: none); set once closed."""
    close_reason: str | None = None
    script_finished: bool = False
    """Whether every action of the script ran (False when the client went away first)."""
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    _frame_arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def wait_frames(self, count: int, timeout: float = 5.0) -> list[str | bytes]:  # noqa: ASYNC109
        """Wait until the client has sent ``count`` frames; returns all frames so far."""
        async with asyncio.timeout(timeout), self._frame_arrived:
            await self._frame_arrived.wait_for(lambda: len(self.received) >= count)
        return list(self.received)

    async def wait_closed(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            await self.closed.wait()

    async def _record(self, message: str | bytes) -> None:
        async with self._frame_arrived:
            self.received.append(message)
            self._frame_arrived.notify_all()


# --- the peers -----------------------------------------------------------------------------------


class WsPeer:
    """A WebSocket server on 127.0.0.1 that plays ``script`` on every connection it accepts.

    With ``reject`` it refuses every handshake with that HTTP answer instead. After the script the
    connection stays open until the client closes it (or the peer stops).
    """

    def __init__(self, script: Sequence[Action] = (), *, reject: Reject | None = None) -> None:
        self.script = list(script)
        self.reject = reject
        self.requests: list[RequestRecord] = []
        self.connections: list[PeerConnection] = []
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._errors: list[BaseException] = []
        self._connected = asyncio.Event()

    # --- lifecycle ---

    async def start(self) -> Self:
        self._server = await serve(
            self._handler,
            HOST,
            0,
            process_request=self._process_request,
            compression=None,
            max_size=None,
            ping_interval=None,
            close_timeout=1,
        )
        return self

    async def stop(self) -> None:
        """Cancel unfinished scripts, close every connection and the server, then re-raise the
        first error a script hit (if any)."""
        if self._server is None:
            return
        server, self._server = self._server, None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        server.close()
        async with asyncio.timeout(5):
            await server.wait_closed()
        if self._errors:
            raise AssertionError(f"the peer's script failed: {self._errors[0]!r}") from self._errors[0]

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self.stop()
        except AssertionError:
            if exc is None:  # do not hide the test's own failure behind the peer's
                raise

    @property
    def port(self) -> int:
        assert self._server is not None, "the peer is not running"
        sockets = list(self._server.sockets)
        port: int = sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, as a REST base URL."""
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    async def connection(self, index: int = 0, timeout: float = 5.0) -> PeerConnection:  # noqa: ASYNC109
        """The ``index``-th accepted connection, waiting for it to arrive."""
        async with asyncio.timeout(timeout):
            while len(self.connections) <= index:
                self._connected.clear()
                await self._connected.wait()
        return self.connections[index]

    # --- serving ---

    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        headers = {name.lower(): value for name, value in request.headers.raw_items()}
        self.requests.append(RequestRecord(request.path, headers))
        return self.reject.response() if self.reject is not None else None

    async def _handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        headers = {name.lower(): value for name, value in ws.request.headers.raw_items()}
        record = PeerConnection(RequestRecord(ws.request.path, headers))
        self.connections.append(record)
        self._connected.set()
        reader = asyncio.create_task(self._read(ws, record))
        script = asyncio.create_task(self._play(ws, record))
        self._tasks.update((reader, script))
        try:
            await asyncio.wait([script])
            if not script.cancelled() and (exc := script.exception()) is not None:
                self._errors.append(exc)
            await asyncio.wait([reader])
        finally:
            self._tasks.difference_update((reader, script))
            record.close_code = ws.close_code
            record.close_reason = ws.close_reason
            record.closed.set()

    async def _read(self, ws: ServerConnection, record: PeerConnection) -> None:
        try:
            async for message in ws:
                await record._record(message)
        except ConnectionClosed:
            pass

    async def _play(self, ws: ServerConnection, record: PeerConnection) -> None:
        try:
            for action in self.script:
                if await self._act(ws, record, action):
                    break
            record.script_finished = True
        except ConnectionClosed:
            return  # the client went away: the script simply stops
        await ws.wait_closed()

    async def _act(self, ws: ServerConnection, record: PeerConnection, action: Action) -> bool:
        """Run one action; True when it ended the connection."""
        match action:
            case SendText(payload=str() as text):
                await ws.send(text)
            case SendText(payload=payload):
                await ws.send(orjson.dumps(payload).decode())
            case SendBinary(payload=data):
                await ws.send(data)
            case Sleep(seconds=seconds):
                await asyncio.sleep(seconds)
            case Close(code=code, reason=reason):
                await ws.close(code, reason)
                return True
            case Abort():
                # Let the kernel have every byte already sent; abort() would discard the rest.
                async with asyncio.timeout(5):
                    while ws.transport.get_write_buffer_size():  # noqa: ASYNC110 (no event for this)
                        await asyncio.sleep(0.001)
                ws.transport.abort()
                return True
            case ExpectFrames(count=count, timeout=timeout):
                await record.wait_frames(count, timeout)
            case WaitFor(event=event, timeout=timeout):
                async with asyncio.timeout(timeout):
                    await event.wait()
        return False


class _SilentProtocol(asyncio.Protocol):
    def __init__(self, peer: SilentPeer) -> None:
        self._peer = peer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._peer.transports.append(cast(asyncio.Transport, transport))

    def data_received(self, data: bytes) -> None:
        self._peer.received.extend(data)


class SilentPeer:
    """A TCP server that accepts connections, reads what comes and never answers (so the
    WebSocket handshake never completes)."""

    def __init__(self) -> None:
        self.transports: list[asyncio.Transport] = []
        self.received = bytearray()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _SilentProtocol(self), HOST, 0)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        for transport in self.transports:
            transport.abort()
        async with asyncio.timeout(5):
            await server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None, "the peer is not running"
        port: int = self._server.sockets[0].getsockname()[1]
        return f"http://{HOST}:{port}"


def unused_port() -> int:
    """A local port where nothing listens (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port
