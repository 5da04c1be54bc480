"""uvicorn's WebSocket protocol with a direct path for calls: frames go straight to the call.

uvicorn (sans-I/O websockets) hands each received frame to the app through an asyncio queue, a
task wake-up and an ASGI dict; it stops reading after each message and starts again when the app
reads it (two event-loop changes a frame), and parses with websockets' generator parser. A send is
an ASGI dict, a ``str`` encoded again and a websockets ``Frame``. A call moves 100 frames a second,
so this was a large share of the transport's CPU (``benchmarks/density.py transport``).

:class:`CallWebSocketProtocol` keeps uvicorn's handshake, denial responses, keepalive pings and
shutdown, and after ``websocket.accept`` parses the client's frames itself (RFC 6455, section 5;
no extensions: the server declines permessage-deflate, which costs a call more CPU than the
bandwidth it saves on loopback). An app that finds :data:`~vatel.server.live.socket.DIRECT_FRAMES`
in the scope's extensions may take the direct path: each message goes to its callback as soon as
it is parsed, and a text frame goes out in one write. An app that does not is served plain ASGI.

Use it as ``uvicorn.Config(app, ws=CallWebSocketProtocol)``.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.exceptions import ProtocolError
from websockets.frames import Close, CloseCode, Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from vatel.server.live.socket import DIRECT_FRAMES

try:
    from websockets.speedups import apply_mask
except ImportError:  # websockets installed without its C part: the same unmasking, slower
    from websockets.utils import apply_mask

logger = logging.getLogger("vatel.server.live")

_FIN_TEXT = 0x81
_FIN_PONG = 0x8A
_FIN_CLOSE = 0x88
_HEAD_16 = struct.Struct("!BBH").pack
_HEAD_64 = struct.Struct("!BBQ").pack


def server_frame(first: int, payload: bytes) -> bytes:
    """One unmasked frame (a server's) with first byte ``first`` (FIN, opcode) around ``payload``."""
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 65536:
        return _HEAD_16(first, 126, size) + payload
    return _HEAD_64(first, 127, size) + payload


class _Fail(Exception):
    """The client broke the protocol: the connection closes with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class DirectPath:
    """The direct path of one accepted WebSocket (:class:`~vatel.server.live.socket.DirectFrames`)."""

    def __init__(self, protocol: CallWebSocketProtocol) -> None:
        self._protocol = protocol

    def attach(self, on_message: Callable[[bytes], None], on_gone: Callable[[], None]) -> None:
        self._protocol.attach(on_message, on_gone)

    def detach(self) -> None:
        self._protocol.attach(None, None)

    def send_text(self, payload: bytes) -> None:
        self._protocol.send_text(payload)

    @property
    def queued(self) -> int:
        return len(self._protocol.held)

    @property
    def gone(self) -> bool:
        protocol = self._protocol
        return protocol.disconnected or protocol.close_sent or protocol.told_gone


class CallWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        # No extensions: after the handshake the frames are parsed here, and none is compressed.
        self.conn = ServerProtocol(extensions=[], max_size=config.ws_max_size, logger=self.logger)
        self.max_size = config.ws_max_size
        self.framing = False
        """True from ``websocket.accept`` on: frames are parsed here, not by websockets."""
        self.pending = bytearray()
        self.discarding = False
        """The connection failed: what the client still sends is dropped."""
        self.fragments: list[bytes] = []
        self.fragments_size = 0
        self.fragments_text = False
        self.on_message: Callable[[bytes], None] | None = None
        self.on_gone: Callable[[], None] | None = None
        self.told_gone = False
        self.held: deque[bytes] = deque()
        """Frames sent while the transport's buffer is full, in order (see :meth:`resume_writing`)."""

    # --- the handshake (uvicorn's), then the switch to our framing ---------------------------------

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None and not self.close_sent:
            scope["extensions"][DIRECT_FRAMES] = DirectPath(self)

    async def send(self, message: Any) -> None:
        accepting = not self.handshake_complete and message["type"] == "websocket.accept"
        await super().send(message)
        if accepting and self.handshake_complete and not self.close_sent and not self.framing:
            self.framing = True
            # Bytes that came after the request (a client must wait for the 101, but may not) are
            # still in websockets' reader, unparsed: they are ours now.
            leftover = bytes(self.conn.reader.buffer)
            self.conn.reader.buffer.clear()
            if leftover:
                self.data_received(leftover)

    def data_received(self, data: bytes) -> None:
        if not self.framing:
            super().data_received(data)
            return
        if self.discarding:
            return
        if self.pending:
            self.pending += data
            buffer: bytes | bytearray = self.pending
        else:
            buffer = data
        try:
            used = self._parse(buffer)
        except _Fail as failure:
            self._fail(failure.code, failure.reason)
            return
        if buffer is self.pending:
            del self.pending[:used]
        elif used < len(buffer):
            self.pending = bytearray(buffer[used:])

    def _parse(self, buffer: bytes | bytearray) -> int:
        """Handle the whole frames at the start of ``buffer``; how many bytes they took."""
        position, end = 0, len(buffer)
        # After our close the client's frames are still read, up to its answering close.
        while end - position >= 2 and not self.disconnected and not self.transport.is_closing():
            first, second = buffer[position], buffer[position + 1]
            if not second & 0x80:
                raise _Fail(CloseCode.PROTOCOL_ERROR, "a client's frames must be masked")
            size = second & 0x7F
            at = position + 2
            if size == 126:
                if end - at < 2:
                    break
                size = int.from_bytes(buffer[at : at + 2], "big")
                at += 2
            elif size == 127:
                if end - at < 8:
                    break
                size = int.from_bytes(buffer[at : at + 8], "big")
                at += 8
            if self.max_size is not None and size + self.fragments_size > self.max_size:
                raise _Fail(CloseCode.MESSAGE_TOO_BIG, f"message over {self.max_size} bytes")
            start = at + 4
            if end - start < size:
                break
            payload = apply_mask(buffer[start : start + size], buffer[at:start])
            position = start + size
            self._frame(first, payload)
        return position

    def _frame(self, first: int, payload: bytes) -> None:
        if first & 0x70:
            raise _Fail(CloseCode.PROTOCOL_ERROR, "reserved bits set (no extension was agreed)")
        final = first & 0x80
        opcode = first & 0x0F
        if opcode in {0x1, 0x2}:
            if self.fragments:
                raise _Fail(CloseCode.PROTOCOL_ERROR, "a new message before the last one ended")
            if final:
                self._deliver(payload, opcode == 0x1)
            else:
                self.fragments, self.fragments_size = [payload], len(payload)
                self.fragments_text = opcode == 0x1
        elif opcode == 0x0:
            if not self.fragments:
                raise _Fail(CloseCode.PROTOCOL_ERROR, "a continuation frame with no message to continue")
            self.fragments.append(payload)
            self.fragments_size += len(payload)
            if final:
                message, self.fragments, self.fragments_size = b"".join(self.fragments), [], 0
                self._deliver(message, self.fragments_text)
        elif opcode >= 0x8:
            if not final or len(payload) > 125:
                raise _Fail(CloseCode.PROTOCOL_ERROR, "a control frame must be whole and at most 125 bytes")
            if opcode == 0x8:
                self._closed_by_client(payload)
            elif opcode == 0x9:
                self.transport.write(server_frame(_FIN_PONG, payload))
            elif opcode == 0xA:
                self.handle_pong(Frame(Opcode.PONG, payload))
            else:
                raise _Fail(CloseCode.PROTOCOL_ERROR, f"unknown control opcode {opcode}")
        else:
            raise _Fail(CloseCode.PROTOCOL_ERROR, f"unknown opcode {opcode}")

    def _deliver(self, message: bytes, text: bool) -> None:
        if self.close_sent:  # the app has closed: what the client still sends is dropped
            return
        on_message = self.on_message
        if on_message is not None:
            try:
                on_message(message)
            except Exception:
                logger.exception("the call failed on a client frame")
                raise _Fail(CloseCode.INTERNAL_ERROR, "internal error") from None
            return
        # The plain ASGI path, as uvicorn's: queue the message, read no more until it is taken.
        if text:
            try:
                self.queue.put_nowait({"type": "websocket.receive", "text": message.decode()})
            except UnicodeDecodeError:
                raise _Fail(CloseCode.INVALID_DATA, "a text frame that is not UTF-8") from None
        else:
            self.queue.put_nowait({"type": "websocket.receive", "bytes": message})
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def _closed_by_client(self, payload: bytes) -> None:
        if self.close_sent:  # the client answered our close: the closing handshake is complete
            if self.close_timer is not None:
                self.close_timer.cancel()
                self.close_timer = None
            self.transport.close()
            return
        try:
            close = Close.parse(payload) if payload else Close(CloseCode.NO_STATUS_RCVD, "")
        except (ProtocolError, UnicodeDecodeError) as error:
            raise _Fail(CloseCode.PROTOCOL_ERROR, f"bad close frame ({error})") from None
        self.queue.put_nowait({"type": "websocket.disconnect", "code": close.code, "reason": close.reason})
        # Echo the client's code (none for none), then close: the client closes the TCP connection.
        echo = b"" if close.code == CloseCode.NO_STATUS_RCVD else Close(close.code, "").serialize()
        self.transport.write(server_frame(_FIN_CLOSE, echo))
        self.close_sent = True
        self.transport.close()
        self._tell_gone()

    def _fail(self, code: int, reason: str) -> None:
        """Close with ``code``, then read and drop what the client still sends until it closes (at
        most uvicorn's close timeout): closing at once with its bytes unread would reset the
        connection, and the client might never read our close frame."""
        logger.debug("closing a WebSocket with %d: %s", code, reason)
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        if not self.close_sent:
            self.transport.write(server_frame(_FIN_CLOSE, Close(code, reason[:120]).serialize()))
            self.close_sent = True
        self.discarding = True
        self.pending.clear()
        self.fragments = []
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        if self.close_timer is None:
            self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)
        self._tell_gone()

    # --- the direct path ----------------------------------------------------------------------------

    def attach(self, on_message: Callable[[bytes], None] | None, on_gone: Callable[[], None] | None) -> None:
        """Hand messages to ``on_message`` from now on (the ones the app has not read first), and
        tell ``on_gone`` once when the client is gone; ``None``: back to the ASGI queue."""
        self.on_message, self.on_gone = on_message, on_gone
        if on_message is None:
            return
        gone = False
        while not self.queue.empty():
            event = self.queue.get_nowait()
            if event["type"] == "websocket.receive":
                text = event.get("text")
                on_message(text.encode() if text is not None else event.get("bytes") or b"")
            elif event["type"] == "websocket.disconnect":
                gone = True
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        if gone or self.disconnected or self.close_sent:
            self._tell_gone()

    def send_text(self, payload: bytes) -> None:
        """One text frame (UTF-8 ``payload``), in order; dropped once the connection is closing."""
        if self.close_sent or self.disconnected:
            return
        frame = server_frame(_FIN_TEXT, payload)
        if self.held or not self.writable.is_set():
            self.held.append(frame)
            return
        self.transport.write(frame)

    def resume_writing(self) -> None:
        super().resume_writing()
        held = self.held
        while held and self.writable.is_set() and not self.disconnected:
            self.transport.write(held.popleft())  # may pause writing again: the rest waits

    def _tell_gone(self) -> None:
        self.held.clear()
        if self.told_gone:
            return
        on_gone = self.on_gone
        if on_gone is not None:
            self.told_gone = True
            on_gone()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._tell_gone()

    def shutdown(self) -> None:
        super().shutdown()
        self._tell_gone()
