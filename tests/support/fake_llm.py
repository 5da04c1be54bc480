"""A fake OpenAI-compatible chat-completions server on loopback, scripted per request.

It speaks the real wire: HTTP/1.1 with keep-alive, ``POST /v1/chat/completions``, and answers
each request with the next :class:`Reply` a test queued: server-sent events in chunked transfer
encoding (``data: {chunk}`` lines, optionally ending with ``data: [DONE]``), with delays between
pieces, an error status with a JSON body, silence, or a connection dropped mid-stream. It records
every request (path, headers, parsed JSON body) and whether the client hung up before the reply
was complete (:attr:`FakeLLM.hangups`), which is how cancellation is seen from the server side.

It runs its own event loop in a thread, so the brain under test may live in the test's loop or
in a served app's loop alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Self

MODEL = "fake-model"


def chunk(
    content: str | None = None,
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    finish: str | None = None,
    role: str | None = None,
) -> str:
    """One ``chat.completion.chunk`` as a ``data:`` event (with its blank line)."""
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n"


DONE = "data: [DONE]\n\n"


def text_events(*pieces: str) -> list[str]:
    """A plain answer: a role chunk, one chunk per piece, a stop chunk and [DONE]."""
    return [chunk(role="assistant"), *(chunk(piece) for piece in pieces), chunk(finish="stop"), DONE]


def tool_events(call_id: str, name: str, argument_pieces: Sequence[str], *, say: str = "") -> list[str]:
    """A tool call split as OpenAI splits it: id and name first, then argument pieces."""
    events = [chunk(role="assistant")]
    if say:
        events.append(chunk(say))
    first = {"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
    events.append(chunk(tool_calls=[first]))
    events += [
        chunk(tool_calls=[{"index": 0, "function": {"arguments": piece}}]) for piece in argument_pieces
    ]
    return [*events, chunk(finish="tool_calls"), DONE]


@dataclass
class Reply:
    """How the fake answers one request."""

    events: list[str] = field(default_factory=list)
    """SSE text pieces, each written (and flushed) on its own."""
    status: int = 200
    body: str | None = None
    """A whole body instead of a stream (error statuses, or a non-streamed JSON answer)."""
    content_type: str = "text/event-stream"
    delay: float = 0.0
    """Seconds before each piece (and before the headers, with ``first_delay``)."""
    first_delay: float = 0.0
    """Seconds before the first piece: a slow first token."""
    die: bool = False
    """Drop the TCP connection after the events instead of ending the chunked body."""
    hang: float = 0.0
    """Seconds to stay silent after the events (the connection open, nothing sent)."""

    @classmethod
    def error(cls, status: int, message: str, kind: str = "server_error") -> Self:
        body = json.dumps({"error": {"message": message, "type": kind, "code": None}})
        return cls(status=status, body=body, content_type="application/json")


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeLLM:
    """``with FakeLLM() as llm:`` serves at ``llm.base_url`` (``http://127.0.0.1:PORT/v1``)."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[Request] = []
        self.hangups = 0
        """Replies the client abandoned (closed the connection) before they were complete."""
        self.connections = 0
        self.written: list[tuple[float, str]] = []
        """``(time.perf_counter(), event)`` as each streamed event went out (for benchmarks)."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-llm", daemon=True)
        self._server: asyncio.Server | None = None
        self._lock = threading.Lock()
        self._hung_up = threading.Event()
        self._requested = threading.Event()
        self._handlers: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def wait_request(self, timeout: float) -> bool:
        """Whether a request arrived within ``timeout`` seconds."""
        return self._requested.wait(timeout)

    def wait_hangup(self, timeout: float) -> bool:
        """Whether a client abandoned a reply within ``timeout`` seconds."""
        return self._hung_up.wait(timeout)

    def start(self) -> Self:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        )
        self._server = future.result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in self._handlers:
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- serving ----------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        carry = [b""]
        try:
            while await self._one(reader, writer, carry):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # stopping: end quietly (asyncio logs a cancelled connection handler as an error)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()
            self._handlers.discard(handler)

    async def _one(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, carry: list[bytes]
    ) -> bool:
        """Serve one request; whether the connection stays open for another. ``carry`` holds a
        byte the hang-up watch read from the next request."""
        head = carry[0] + await reader.readuntil(b"\r\n\r\n")
        carry[0] = b""
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        with self._lock:
            self.requests.append(Request(method, path, headers, body))
            self._requested.set()
            reply = self.replies.popleft() if self.replies else Reply(text_events("Nothing scripted."))
        if path != "/v1/chat/completions":
            reply = Reply.error(404, f"no route {path}")
        gone = asyncio.ensure_future(reader.read(1))  # b"" when the client hangs up
        try:
            return await self._reply(reply, writer, gone)
        except ConnectionError:
            self._abandoned()
            return False
        finally:
            gone.cancel()
            await asyncio.wait([gone])
            if not gone.cancelled() and gone.exception() is None:
                carry[0] = gone.result()

    async def _reply(self, reply: Reply, writer: asyncio.StreamWriter, gone: asyncio.Future[bytes]) -> bool:
        if reply.body is not None:
            if await self._pause(reply.first_delay, gone):
                return False
            data = reply.body.encode()
            writer.write(
                f"HTTP/1.1 {reply.status} X\r\ncontent-type: {reply.content_type}\r\n"
                f"content-length: {len(data)}\r\n\r\n".encode()
                + data
            )
            await writer.drain()
            return True
        writer.write(
            f"HTTP/1.1 {reply.status} X\r\ncontent-type: {reply.content_type}\r\n"
            "transfer-encoding: chunked\r\ncache-control: no-cache\r\n\r\n".encode()
        )
        await writer.drain()
        for index, piece in enumerate(reply.events):
            if await self._pause(reply.first_delay if index == 0 else reply.delay, gone):
                return False
            data = piece.encode()
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()
            self.written.append((time.perf_counter(), piece))
        if reply.hang and await self._pause(reply.hang, gone):
            return False
        if reply.die:
            writer.transport.abort()
            return False
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async def _pause(self, seconds: float, gone: asyncio.Future[bytes]) -> bool:
        """Wait; whether the client hung up meanwhile (then the reply is abandoned)."""
        if seconds > 0:
            await asyncio.wait([gone], timeout=seconds)
        if gone.done() and not gone.cancelled() and gone.result() == b"":
            self._abandoned()
            return True
        return False

    def _abandoned(self) -> None:
        self.hangups += 1
        self._hung_up.set()
