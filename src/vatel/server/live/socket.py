"""A call's WebSocket as raw ASGI: frames in by ``await``, frames out without a task per frame.

A call sends 50 audio frames a second and receives as many, so the socket is the hot path of a
busy server. Starlette's ``WebSocket`` checks its state machine on every message and its
exception wrapper adds a coroutine per send; a send queue drained by its own task adds a task
wake-up per frame. Here the server's ``send`` is called directly and driven at once: uvicorn's
WebSocket send never suspends (it writes to the transport and returns), so a frame costs one call.
A server whose send does suspend still gets every frame, in order: the rest wait behind it in a
queue that a task drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator, MutableMapping
from typing import Any

logger = logging.getLogger("vatel.server.live")

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CLOSE_WAIT = 10.0
"""How long a closing call waits for frames queued behind a stalled send, and for its close."""


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

    :meth:`receive` gives the next client frame (``str`` or ``bytes``), or ``None`` once the client
    is gone. :meth:`send` queues a text frame and returns at once; :attr:`gone` turns true when the
    server could not deliver one (the client left). :meth:`close` waits for what is queued, then
    sends the close frame.
    """

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self._waiting: deque[bytes] = deque()
        self._sender: asyncio.Task[None] | None = None
        self.gone = False

    async def receive(self) -> str | bytes | None:
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            self.gone = True
            return None
        text = message.get("text")
        if text is not None:
            return str(text)
        return bytes(message.get("bytes") or b"")

    def send(self, frame: bytes) -> None:
        """Send one text frame (UTF-8 JSON) in order after the frames before it."""
        if self.gone:
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
        self.gone = True
        self._waiting.clear()

    @property
    def queued(self) -> int:
        """Frames waiting behind a send that suspended."""
        return len(self._waiting)

    async def close(self, code: int) -> None:
        """Let the queued frames go out (at most :data:`CLOSE_WAIT` seconds), then close with ``code``."""
        sender = self._sender
        if sender is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(sender), CLOSE_WAIT)
            sender.cancel()
        if self.gone:
            return
        self.gone = True
        # The client may have left meanwhile, or stopped reading (then the server's send never
        # returns): the call ends either way, and the server drops the connection after us.
        with contextlib.suppress(Exception, asyncio.TimeoutError):
            await asyncio.wait_for(self._send({"type": "websocket.close", "code": code}), CLOSE_WAIT)
