"""The session WebSocket (``GET /v1/connection?token=``): a thin shell over ``websockets``.

What it adds to the official SDK's ``Connection`` (protocol.md §5, weaknesses 1, 2, 8, 9, 10):

* an unknown message type yields :class:`~vatel.protocol.UnknownMessage` and the loop goes on;
  a frame that is not a message is logged, counted (``malformed_frames``) and skipped, or raised
  as :class:`~vatel.errors.MessageError` with ``strict=True``;
* the close code and reason are kept, with whether ``session_ended`` was seen; an abnormal close
  raises :class:`~vatel.errors.ConnectionClosedError` carrying the code;
* a failed handshake raises the same typed :class:`~vatel.errors.APIError` as REST (401, 404 ...);
* incoming frames up to 16 MiB, keepalive pings, sends that are safe to call concurrently,
  ``async with``, and handlers (``conn.on("response_text", fn)``) beside the iterator.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from enum import Enum
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode, urlsplit

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import (
    ConnectionClosed as WsConnectionClosed,
)
from websockets.exceptions import (
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)
from websockets.frames import Close

from vatel._version import __version__
from vatel.errors import (
    APIConnectionError,
    APITimeoutError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    MessageError,
    error_from_response,
)
from vatel.protocol import (
    ClientMessage,
    InputAudio,
    InputAudioData,
    ServerMessage,
    SessionEnded,
    SessionStarted,
    ToolCallOutput,
    ToolCallOutputData,
    UnknownMessage,
    decode_pcm,
    decode_server_message,
    encode_input_audio,
)

__all__ = [
    "CONNECTION_PATH",
    "DEFAULT_WS_BASE",
    "MAX_FRAME_SIZE",
    "ConnectCall",
    "Connection",
    "ConnectionState",
    "connect",
    "connection_query",
    "websocket_url",
]

logger = logging.getLogger("vatel.connection")

DEFAULT_WS_BASE = "wss://api.vatel.ai"
CONNECTION_PATH = "/v1/connection"
MAX_FRAME_SIZE = 16 * 1024 * 1024
"""Incoming frame limit: well above the 1 MiB default that can cut long agent audio chunks."""
NORMAL_CLOSE_CODES = frozenset({1000, 1001})

Received = ServerMessage | UnknownMessage
Handler = Callable[[Any], Awaitable[None] | None]


def connection_query(token: str) -> str:
    """The query string of the session URL (the token is the only parameter)."""
    return urlencode({"token": token})


def websocket_url(base_url: str, token: str, path: str = CONNECTION_PATH) -> str:
    """The session URL for a REST base URL (or a ws/wss one).

    ``http`` becomes ``ws`` and ``https`` becomes ``wss``; a path prefix in the base is kept
    (``https://host/api`` → ``wss://host/api/v1/connection?token=...``).
    """
    if not isinstance(token, str) or not token:
        raise ValueError("token must be a non-empty string (from session.generate_token)")
    base = base_url.strip().rstrip("/")
    scheme, sep, rest = base.partition("://")
    scheme = {"https": "wss", "http": "ws"}.get(scheme.lower(), scheme.lower())
    parts = urlsplit(f"{scheme}://{rest}")
    if not sep or scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError(f"url must look like https://host, http://host:port or wss://host, got {base_url!r}")
    if parts.query or parts.fragment or base.endswith(("?", "#")):
        raise ValueError(
            f"url must not carry a query or fragment (the token is the only parameter): {base_url!r}"
        )
    if not path.startswith("/"):
        path = "/" + path
    return f"{scheme}://{rest}{path}?{connection_query(token)}"


def _close_cause(received: Close | None, sent: Close | None) -> tuple[int, str]:
    """(code, reason) of a closed socket: the peer's close frame when one came; else ours, when we
    closed and the peer did not answer (a normal ``close()`` stays normal, and a connection that
    websockets failed keeps its cause: 1009 for a frame over ``max_size``, 1011 for a keepalive
    timeout, 1002/1007 for protocol errors); else 1006, the link dropped."""
    if received is not None:
        return received.code, received.reason
    if sent is not None:
        return sent.code, sent.reason
    return 1006, ""


class ConnectionState(Enum):
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class Connection:
    """One voice session. Read with :meth:`stream_messages` (or ``async for``), or with handlers
    and :meth:`run`; send the microphone with :meth:`send_input_audio_bytes`.

    With ``strict=True`` a frame that is not a message raises :class:`~vatel.errors.MessageError`
    from ``receive()``; the socket stays open and the next ``receive()`` goes on.
    """

    def __init__(self, ws: ClientConnection, *, strict: bool = False) -> None:
        self._ws = ws
        self._strict = strict
        self._send_lock = asyncio.Lock()
        self._handlers: dict[str, list[Handler]] = {}
        self._closing = False
        self.session_id: str | None = None
        """The call id from ``session_started`` (the id of the call in ``/v1/calls``)."""
        self.session_ended = False
        """Whether ``session_ended`` was received."""
        self.malformed_frames = 0
        """Frames that could not be read as messages (skipped unless ``strict``)."""
        self.unknown_types: Counter[str] = Counter()
        """How many messages of each unknown type were received."""

    # --- state ----------------------------------------------------------------------------------

    @property
    def websocket(self) -> ClientConnection:
        """The underlying ``websockets`` connection, for what this class does not cover."""
        return self._ws

    @property
    def state(self) -> ConnectionState:
        if self._ws.close_code is not None:
            return ConnectionState.CLOSED
        return ConnectionState.CLOSING if self._closing else ConnectionState.OPEN

    @property
    def close_code(self) -> int | None:
        """Why the socket closed (see :func:`_close_cause`), ``None`` while it is open."""
        if self._ws.close_code is None:
            return None
        return _close_cause(self._ws.protocol.close_rcvd, self._ws.protocol.close_sent)[0]

    @property
    def close_reason(self) -> str | None:
        if self._ws.close_code is None:
            return None
        return _close_cause(self._ws.protocol.close_rcvd, self._ws.protocol.close_sent)[1]

    def _closed_error(self, exc: WsConnectionClosed) -> ConnectionClosed:
        code, reason = _close_cause(exc.rcvd, exc.sent)
        cls = ConnectionClosedOK if code in NORMAL_CLOSE_CODES else ConnectionClosedError
        return cls(code, reason, session_ended=self.session_ended)

    # --- receiving ------------------------------------------------------------------------------

    async def receive(self, timeout: float | None = None) -> Received:  # noqa: ASYNC109
        """The next message. Raises :class:`~vatel.errors.ConnectionClosedOK` /
        :class:`~vatel.errors.ConnectionClosedError` when the socket closes, ``TimeoutError`` when
        ``timeout`` seconds pass with no message."""
        while True:
            try:
                async with asyncio.timeout(timeout):
                    frame = await self._ws.recv(decode=False)
            except WsConnectionClosed as exc:
                raise self._closed_error(exc) from None
            message = self._read(frame)
            if message is not None:
                await self._dispatch(message)
                return message

    async def stream_messages(self, *, idle_timeout: float | None = None) -> AsyncIterator[Received]:
        """Every message until the socket closes. Ends quietly on a normal close (or any close
        after ``session_ended``); raises :class:`~vatel.errors.ConnectionClosedError` otherwise."""
        while True:
            try:
                message = await self.receive(timeout=idle_timeout)
            except ConnectionClosedOK:
                return
            except ConnectionClosedError:
                if self.session_ended:
                    return
                raise
            yield message

    def __aiter__(self) -> AsyncIterator[Received]:
        return self.stream_messages()

    def _read(self, frame: bytes | str) -> Received | None:
        try:
            message = decode_server_message(frame)
        except MessageError as exc:
            self.malformed_frames += 1
            if self._strict:
                raise
            if self.malformed_frames <= 5 or self.malformed_frames % 100 == 0:
                logger.warning("skipped frame #%d: %s; frame: %r", self.malformed_frames, exc, exc.frame)
            return None
        if isinstance(message, UnknownMessage):
            self.unknown_types[message.type] += 1
        elif isinstance(message, SessionStarted):
            self.session_id = message.data.id
        elif isinstance(message, SessionEnded):
            self.session_ended = True
        return message

    # --- handlers -------------------------------------------------------------------------------

    def on(self, type: str, handler: Handler) -> Callable[[], None]:
        """Call ``handler(message)`` for each message of ``type`` (``"*"``: every message) as it is
        received; returns a function that removes the handler. Handlers may be coroutines; an
        exception in a handler comes out of ``receive()`` / ``stream_messages()`` (a bug in a
        handler should be seen, not swallowed as the JS SDK does)."""
        self._handlers.setdefault(type, []).append(handler)

        def unsubscribe() -> None:
            handlers = self._handlers.get(type, [])
            if handler in handlers:
                handlers.remove(handler)

        return unsubscribe

    def on_message(self, handler: Handler) -> Callable[[], None]:
        """Call ``handler`` for every message; returns the unsubscribe function."""
        return self.on("*", handler)

    async def _dispatch(self, message: Received) -> None:
        if not self._handlers:
            return
        for handler in [*self._handlers.get(message.type, ()), *self._handlers.get("*", ())]:
            result = handler(message)
            if inspect.isawaitable(result):
                await result

    async def run(self) -> None:
        """Receive until the session ends, calling the handlers (for the handler style)."""
        async for _ in self.stream_messages():
            pass

    # --- sending --------------------------------------------------------------------------------

    async def _send(self, frame: bytes) -> None:
        async with self._send_lock:
            try:
                await self._ws.send(frame, text=True)
            except WsConnectionClosed as exc:
                raise self._closed_error(exc) from None

    async def send(self, message: ClientMessage) -> None:
        """Send a client message model."""
        await self._send(message.to_json())

    async def send_input_audio(self, audio_base64: str) -> None:
        """Send a chunk of base64 PCM16 24 kHz mono (``ValueError`` for bad base64 or odd bytes)."""
        try:
            decode_pcm(audio_base64)
        except MessageError as exc:
            raise ValueError(f"send_input_audio: {exc.reason}") from None
        await self._send(InputAudio(data=InputAudioData(audio=audio_base64)).to_json())

    async def send_input_audio_bytes(self, pcm: bytes | bytearray | memoryview) -> None:
        """Send raw PCM16 24 kHz mono bytes (``ValueError`` when the length is odd)."""
        await self._send(encode_input_audio(pcm))

    async def send_tool_call_output(self, tool_call_id: str, output: Any) -> None:
        """Answer a ``tool_call``. ``output`` is sent as is when a string, else as JSON text."""
        if not isinstance(output, str):
            try:
                output = orjson.dumps(output).decode()
            except TypeError as exc:
                raise TypeError(f"tool output must be a string or JSON-serialisable: {exc}") from None
        await self.send(ToolCallOutput(data=ToolCallOutputData(toolCallId=tool_call_id, output=output)))

    async def send_json(self, payload: dict[str, Any]) -> None:
        """Send any JSON object as a text frame (for message types this version does not know)."""
        await self._send(orjson.dumps(payload))

    # --- closing --------------------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the session (1000 by default) and wait for the close handshake."""
        self._closing = True
        await self._ws.close(code, reason)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close(1000 if exc_type is None or exc_type is asyncio.CancelledError else 1011)


class ConnectCall:
    """What :func:`connect` returns: ``await`` it for a :class:`Connection`, or use it in
    ``async with`` to close the session on the way out."""

    def __init__(self, url: str, *, strict: bool, options: dict[str, Any]) -> None:
        self.url = url
        self._strict = strict
        self._options = options
        self._connection: Connection | None = None

    async def _open(self) -> Connection:
        label = "GET " + urlsplit(self.url).path
        try:
            ws = await ws_connect(self.url, **self._options)
        except InvalidStatus as exc:
            response = exc.response
            headers = {key.lower(): value for key, value in response.headers.raw_items()}
            raise error_from_response(
                response.status_code, bytes(response.body or b""), headers, request=label
            ) from None
        except InvalidURI as exc:
            raise ValueError(f"invalid session URL: {exc}") from None
        except TimeoutError:
            timeout = self._options.get("open_timeout")
            raise APITimeoutError(f"no WebSocket handshake within {timeout} s", request=label) from None
        except (OSError, InvalidHandshake) as exc:
            raise APIConnectionError(f"cannot open the session WebSocket: {exc}", request=label) from None
        return Connection(ws, strict=self._strict)

    def __await__(self) -> Generator[Any, None, Connection]:
        return self._open().__await__()

    async def __aenter__(self) -> Connection:
        self._connection = await self._open()
        return self._connection

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._connection is not None:
            await self._connection.__aexit__(exc_type, exc, tb)


def connect(
    token: str,
    *,
    url: str | None = None,
    path: str = CONNECTION_PATH,
    open_timeout: float | None = 10,
    ping_interval: float | None = 20,
    ping_timeout: float | None = 20,
    close_timeout: float | None = 5,
    max_size: int | None = MAX_FRAME_SIZE,
    strict: bool = False,
    additional_headers: dict[str, str] | None = None,
) -> ConnectCall:
    """Open a session with a token from ``session.generate_token``.

    ``url`` is the server (``https://``, ``http://``, ``wss://`` or ``ws://``); without it this
    module-level function dials production, as the official one does; ``Client.connect`` uses the
    client's own ``base_url`` instead.
    """
    options: dict[str, Any] = {
        "open_timeout": open_timeout,
        "ping_interval": ping_interval,
        "ping_timeout": ping_timeout,
        "close_timeout": close_timeout,
        "max_size": max_size,
        # Base64 audio barely compresses; deflate would only cost CPU on every frame.
        "compression": None,
        "user_agent_header": f"vatel-python/{__version__}",
        "additional_headers": additional_headers,
        "proxy": None,
    }
    return ConnectCall(websocket_url(url or DEFAULT_WS_BASE, token, path), strict=strict, options=options)
