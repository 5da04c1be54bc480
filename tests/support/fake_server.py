"""A small scriptable HTTP server on 127.0.0.1 that tests talk to over real loopback sockets.

Starlette + uvicorn in a background thread. Each test scripts the answers it wants and then
inspects every request that arrived::

    fake_server.reply("GET", "/v1/agents", 503)
    fake_server.reply("GET", "/v1/agents", 200, json=[])   # 503 first, then 200 (which repeats)
    ...
    assert [r.method for r in fake_server.requests] == ["GET", "GET"]

* Routes are matched on the method and the *raw* path, still percent-encoded as sent
  (``/v1/agents/..%2Fx``), without the query string.
* Several replies queued for one route are used in order; the last one then repeats.
* ``hang=True`` never answers (until the client gives up or the server stops), for timeouts.
* ``cut_after=n`` declares the full ``Content-Length`` but sends only the first ``n`` bytes of the
  body, then drops the connection, for broken downloads.
* The same handler also answers under :data:`PREFIX` (``server.prefixed_url``), so a test can
  check that a base URL path prefix is kept; ``RecordedRequest.prefix`` says which one was hit.
* Anything not scripted gets ``501 {"error": "fake server: nothing scripted for ..."}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from vatel.server.runner import ServerThread

__all__ = ["PREFIX", "FakeServer", "RecordedRequest", "Reply", "closed_port"]

PREFIX = "/prefix"
"""The path prefix under which the handler is mounted a second time."""

_HANG_POLL = 0.01


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    """The raw path, percent-encoding kept, without :data:`PREFIX` and without the query."""
    prefix: str
    """``""`` for the root mount, :data:`PREFIX` for the prefixed one."""
    query_string: str
    """The raw query string (``page=1&outbound=true``), still encoded."""
    params: dict[str, list[str]]
    """The query string parsed (every value of every name, blank values kept)."""
    headers: dict[str, str]
    """Header names lower-cased; repeated headers joined with ``", "``."""
    body: bytes

    @property
    def full_path(self) -> str:
        return self.prefix + self.path

    def param(self, name: str) -> str:
        """The single value of query parameter ``name`` (``KeyError`` if absent, error if repeated)."""
        values = self.params[name]
        assert len(values) == 1, f"{name} was sent {len(values)} times: {values}"
        return values[0]

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    hang: bool = False
    cut_after: int | None = None


_NO_JSON: Any = object()


@dataclass
class _Script:
    replies: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)


class FakeServer:
    """Start with :meth:`start` (or use the ``fake_server`` fixture), stop with :meth:`stop`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script = _Script()
        self._stopping = threading.Event()
        self._runner: ServerThread | None = None
        self.port = 0
        self.app = Starlette(
            routes=[
                Mount(PREFIX, routes=[Route("/{rest:path}", _Handler(self, PREFIX))]),
                Route("/{rest:path}", _Handler(self, "")),
            ]
        )

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, no trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def prefixed_url(self) -> str:
        """``http://127.0.0.1:PORT/prefix``: the same handler, mounted under :data:`PREFIX`."""
        return self.url + PREFIX

    def start(self) -> FakeServer:
        if self._runner is not None:
            raise RuntimeError("the fake server is already started")
        self._stopping.clear()
        self._runner = ServerThread(
            self.app, lifespan="off", http="h11", loop="asyncio", timeout_graceful_shutdown=1
        ).start()
        self.port = self._runner.port
        return self

    def stop(self) -> None:
        """Stop and join the server thread; hanging replies are released first."""
        if self._runner is None:
            return
        self._stopping.set()
        runner, self._runner = self._runner, None
        runner.stop()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- scripting ------------------------------------------------------------------------------

    def reply(
        self,
        method: str,
        path: str,
        status: int = 200,
        *,
        json: Any = _NO_JSON,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        hang: bool = False,
        cut_after: int | None = None,
    ) -> None:
        """Queue one answer for ``method path`` (raw path, without the prefix).

        ``json`` is serialised (and sets ``Content-Type: application/json`` unless ``headers``
        says otherwise); ``body`` is sent as is. Give at most one of the two.
        """
        if json is not _NO_JSON and body is not None:
            raise ValueError("give json= or body=, not both")
        all_headers = dict(headers or {})
        if json is not _NO_JSON:
            body = orjson.dumps(json)
            if not any(name.lower() == "content-type" for name in all_headers):
                all_headers["content-type"] = "application/json"
        content = body or b""
        if cut_after is not None and not 0 <= cut_after < len(content):
            raise ValueError("cut_after must be shorter than the body")
        answer = Reply(status, content, tuple(all_headers.items()), hang, cut_after)
        with self._lock:
            self._script.replies.setdefault((method.upper(), path), []).append(answer)

    def reset(self) -> None:
        """Forget every scripted reply and every recorded request."""
        with self._lock:
            self._script = _Script()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received since the last :meth:`reset`, in order (a copy)."""
        with self._lock:
            return list(self._script.requests)

    @property
    def last(self) -> RecordedRequest:
        requests = self.requests
        assert requests, "the fake server received no request"
        return requests[-1]

    # --- serving (on the server thread) ---------------------------------------------------------

    def _next_reply(self, request: RecordedRequest) -> Reply | None:
        with self._lock:
            self._script.requests.append(request)
            queue = self._script.replies.get((request.method, request.path))
            if not queue:
                return None
            return queue.pop(0) if len(queue) > 1 else queue[0]

    async def _hang(self, request: Request) -> bool:
        """Wait until the client goes away (True) or the server stops (False)."""
        while not self._stopping.is_set():
            if await request.is_disconnected():
                return True
            await asyncio.sleep(_HANG_POLL)
        return False


class _Handler:
    """The ASGI endpoint, once per mount (``prefix`` says which)."""

    def __init__(self, server: FakeServer, prefix: str) -> None:
        self._server = server
        self._prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1")
        if self._prefix:
            path = path.removeprefix(self._prefix) or "/"
        query = scope["query_string"].decode("latin-1")
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        recorded = RecordedRequest(
            method=request.method.upper(),
            path=path,
            prefix=self._prefix,
            query_string=query,
            params=parse_qs(query, keep_blank_values=True),
            headers=headers,
            body=await request.body(),
        )
        reply = self._server._next_reply(recorded)
        if reply is None:
            message = f"fake server: nothing scripted for {recorded.method} {recorded.path}"
            await Response(orjson.dumps({"error": message}), 501, media_type="application/json")(
                scope, receive, send
            )
            return
        if reply.hang:
            if await self._server._hang(request):
                return  # the client gave up: nobody is left to answer
            reply = Reply(503, b"fake server stopping")
        if reply.cut_after is not None:
            await _send_cut_short(reply, send)
            return
        response = Response(reply.body, reply.status, headers=dict(reply.headers))
        await response(scope, receive, send)


async def _send_cut_short(reply: Reply, send: Send) -> None:
    """Declare the whole body, send part of it, return: uvicorn then drops the connection."""
    assert reply.cut_after is not None
    headers = [(name.lower().encode(), value.encode()) for name, value in reply.headers]
    headers.append((b"content-length", str(len(reply.body)).encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body[: reply.cut_after], "more_body": True})


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released at once)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
