"""A call's WebSocket: frames in to a callback, frames out without a task per frame.

A call sends 50 audio frames a second and receives as many, so the socket is the hot path of a
busy server. Starlette's ``WebSocket`` checks its state machine on every message and its
exception wrapper adds a coroutine per send; a send queue drained by its own task adds a task
wake-up per frame. Here the server's ``send`` is called directly and driven at once: uvicorn's
WebSocket send never suspends (it writes to the transport and returns), so a frame costs one call.
A server whose send does suspend still gets every frame, in order: the rest wait behind it in a
queue that a task drains.

Under ``vatel serve`` the server's WebSocket protocol
(:class:`~vatel.server.live.websocket_protocol.CallWebSocketProtocol`) offers more: the
:data:`DIRECT_FRAMES` scope extension hands each message to the call as it is parsed (no queue, no
task wake-up) and sends a frame with one write. The call sees the same socket either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator, MutableMapping
from typing import Any, Protocol

logger = logging.getLogger("vatel.server.live")

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CLOSE_WAIT = 10.0
"""How long a closing call waits for frames queued behind a stalled send, and for its close."""
DIRECT_FRAMES = "vatel.direct_frames"
"""The scope extension (a :class:`DirectFrames`) of a server that hands a call its frames directly."""


class DirectFrames(Protocol):
    """A server's direct path for an accepted WebSocket's frames."""

    def attach(self, on_message: Callable[[bytes], None], on_gone: Callable[[], None]) -> None:
        """Give every message to ``on_message`` as it arrives; call ``on_gone`` once the client is gone."""

    def detach(self) -> None:
        """No more calls to the callbacks."""

    def send_text(self, payload: bytes) -> None:
        """Send a text frame now, or after the ones held while the client does not read."""

    @property
    def queued(self) -> int:
        """Frames held because the client does not read."""

    @property
    def gone(self) -> bool:
        """The connection is closed or closing: sends are dropped."""


class _Resume:
    """Yields what a manually driven coroutine yielded to the task awaiting this, and returns the
    task's answer, so the coroutine finishes under that task as if it had been awaited all along."""

    def __init__(self, item: Any) -> None:
        self.item = item

    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield self.item)


async def _finish(steps: Coroutine[Any, Any, None], yielded: Any) -> None:
    """Drive ``steps`` (already started, and suspended on ``yielded``) to its end."""
    while True:
        try:
            value = await _Resume(yielded)
        except BaseException as error:  # cancellation too: the coroutine decides what it means
            try:
                yielded = steps.throw(error)
            except StopIteration:
                return
            continue
        try:
            yielded = steps.send(value)
        except StopIteration:
            return


class CallSocket:
    """The accepted session WebSocket of one call.

    :meth:`open` hands each client frame (``str`` or ``bytes``) to a callback, and says once when
    the client is gone; :meth:`receive` is the same one frame at a time (``None``: gone). :meth:`send`
    queues a text frame and returns at once; :attr:`gone` turns true when the server could not
    deliver one (the client left). :meth:`close` waits for what is queued, then sends the close frame.
    """

    def __init__(self, receive: Receive, send: Send, direct: DirectFrames | None = None) -> None:
        self._receive = receive
        self._send = send
        self._direct = direct
        self._waiting: deque[bytes] = deque()
        self._sender: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._gone = False

    @property
    def gone(self) -> bool:
        return self._gone or (self._direct is not None and self._direct.gone)

    def open(self, on_frame: Callable[[str | bytes], None], on_gone: Callable[[], None]) -> None:
        """Start handing frames to ``on_frame`` (on the event loop, one at a time) until
        :meth:`stop_reading`; ``on_gone`` is called once if the client leaves first."""
        if self._direct is not None:
            self._direct.attach(on_frame, on_gone)
            return
        self._reader = asyncio.ensure_future(self._read(on_frame, on_gone))

    async def _read(self, on_frame: Callable[[str | bytes], None], on_gone: Callable[[], None]) -> None:
        while (frame := await self.receive()) is not None:
            on_frame(frame)
        on_gone()

    def stop_reading(self) -> None:
        if self._direct is not None:
            self._direct.detach()
        elif self._reader is not None:
            self._reader.cancel()

    async def receive(self) -> str | bytes | None:
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            self._gone = True
            return None
        text = message.get("text")
        if text is not None:
            return str(text)
        return bytes(message.get("bytes") or b"")

    def send(self, frame: bytes) -> None:
        """Send one text frame (UTF-8 JSON) in order after the frames before it."""
        if self._direct is not None:
            self._direct.send_text(frame)
            return
        if self._gone:
            return
        if self._sender is not None:
            self._waiting.append(frame)
            return
        steps = self._start(frame)
        if steps is not None:  # the server's send suspended: finish it, then the rest, in a task
            self._sender = asyncio.ensure_future(self._drain(*steps))

    def _start(self, frame: bytes) -> tuple[Coroutine[Any, Any, None], Any] | None:
        """Run the server's send for ``frame`` until it ends or suspends; the suspended coroutine
        and what it waits on, or ``None`` when it is done."""
        steps = self._send({"type": "websocket.send", "text": frame.decode()})
        assert isinstance(steps, Coroutine)
        try:
            yielded = steps.send(None)
        except StopIteration:
            return None
        except Exception as error:  # the server refuses: the client is gone (e.g. ClientDisconnected)
            self._lost(error)
            return None
        return steps, yielded

    async def _drain(self, steps: Coroutine[Any, Any, None], yielded: Any) -> None:
        try:
            await _finish(steps, yielded)
            while self._waiting and not self.gone:
                await self._send({"type": "websocket.send", "text": self._waiting.popleft().decode()})
        except Exception as error:
            self._lost(error)
        finally:
            self._sender = None

    def _lost(self, error: BaseException) -> None:
        if not self.gone:
            logger.debug("could not send to the client (%s): it is gone", type(error).__name__)
        self._gone = True
        self._waiting.clear()

    @property
    def queued(self) -> int:
        """Frames waiting behind a send that suspended (or held by the direct path)."""
        return self._direct.queued if self._direct is not None else len(self._waiting)

    async def close(self, code: int) -> None:
        """Let the queued frames go out (at most :data:`CLOSE_WAIT` seconds), then close with ``code``."""
        sender = self._sender
        if sender is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(sender), CLOSE_WAIT)
            sender.cancel()
        if self.gone:
            return
        self._gone = True
        # The client may have left meanwhile, or stopped reading (then the server's send never
        # returns): the call ends either way, and the server drops the connection after us.
        with contextlib.suppress(Exception, asyncio.TimeoutError):
            await asyncio.wait_for(self._send({"type": "websocket.close", "code": code}), CLOSE_WAIT)
