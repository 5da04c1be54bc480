"""Sending REST requests: one request description, a sync and an async path, retries, typed errors.

Every resource method builds an :class:`ApiRequest` (the one request builder), then hands it to
:meth:`HttpTransport.send` or :meth:`HttpTransport.send_async`. The two paths differ only in
``await``; everything that decides (URL, headers, which error, whether to retry) is shared.

Custom ``httpx`` clients are used as they are: the full URL and the auth header go on each
request, so a client made without ``base_url`` or auth still talks to the right server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlsplit

import httpx
import orjson
import pydantic

from vatel._version import __version__
from vatel.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ClientClosedError,
    error_from_response,
)
from vatel.retry import RetryPolicy

T = TypeVar("T")

USER_AGENT = f"vatel-python/{__version__}"


@dataclass(frozen=True)
class ApiRequest(Generic[T]):
    """One REST call: what to send and how to read a successful answer.

    ``parse`` turns the decoded JSON body into the result (``None`` for an empty or 204 answer);
    with ``binary=True`` it gets the raw bytes instead.
    """

    method: str
    path: str
    parse: Callable[[Any], T]
    params: Mapping[str, str | int] | None = None
    json: Any = None
    accept: str = "application/json"
    binary: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def path_segment(value: str, what: str = "id") -> str:
    """A path parameter, escaped so that no id can change the path (``../`` stays one segment)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    if value in (".", ".."):
        # quote() leaves dots alone, and httpx removes "." and ".." segments from the path
        # (".." would hit the parent resource); escaped, they stay one segment.
        return value.replace(".", "%2E")
    return quote(value, safe="")


def normalise_base_url(base_url: str) -> str:
    """``http(s)://host[:port][/prefix]`` without a trailing slash; anything else is a ``ValueError``."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url must look like https://host or http://host:port, got {base_url!r}")
    return base_url.strip().rstrip("/")


class _State(Enum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass
class _Attempt:
    """What one attempt gave: a result, or how long to wait before the next one."""

    result: Any = None
    wait: float | None = None


class HttpTransport:
    """Holds the HTTP clients, the auth and the retry policy; sends :class:`ApiRequest` s."""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str,
        timeout: float,
        max_retries: int,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.api_key = api_key
        self.base_url = normalise_base_url(base_url)
        self.timeout = timeout
        self.retry = RetryPolicy(max_retries=max_retries)
        self._client = http_client
        self._async_client = async_http_client
        self._owns_client = http_client is None
        self._owns_async_client = async_http_client is None
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._state = _State.OPEN
        self._pending_close: asyncio.Task[None] | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None

    # --- shared decisions -----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._state is _State.CLOSED:
            raise ClientClosedError("this Client is closed; create a new Client to make more calls")

    def _build(self, client: httpx.Client | httpx.AsyncClient, req: ApiRequest[Any]) -> httpx.Request:
        headers = {"Accept": req.accept, "User-Agent": USER_AGENT, **req.headers}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        content = None
        if req.json is not None:
            headers["Content-Type"] = "application/json"
            content = orjson.dumps(req.json)
        return client.build_request(
            req.method,
            self.base_url + req.path,
            params=dict(req.params) if req.params else None,
            content=content,
            headers=headers,
            timeout=self.timeout,
        )

    def _on_transport_error(self, req: ApiRequest[Any], exc: httpx.TransportError, attempt: int) -> float:
        """The wait before retrying after a network failure, or raise the typed error."""
        reached = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        if self.retry.should_retry_transport(req.method, reached_server=reached, attempt=attempt):
            return self.retry.delay(attempt)
        if isinstance(exc, httpx.TimeoutException):
            raise APITimeoutError(
                f"no answer from {self.base_url} within {self.timeout} s ({type(exc).__name__})",
                request=req.label,
            ) from exc
        raise APIConnectionError(
            f"{'the connection to' if reached else 'cannot reach'} {self.base_url}"
            f"{' broke' if reached else ''}: {exc or type(exc).__name__}",
            request=req.label,
        ) from exc

    def _on_response(self, req: ApiRequest[Any], status: int, headers: httpx.Headers, attempt: int) -> float:
        """For a non-2xx status: the wait before a retry, or ``-1`` to raise the error now."""
        if self.retry.should_retry_status(req.method, status, attempt):
            return self.retry.delay(attempt, headers.get("retry-after"), now=datetime.now(UTC))
        return -1.0

    def _error(self, req: ApiRequest[Any], response: httpx.Response) -> APIError:
        error = error_from_response(
            response.status_code, response.content, dict(response.headers), request=req.label
        )
        if isinstance(error, AuthenticationError) and not self.api_key:
            error.message += " (no API key was set: pass api_key= or set VATEL_API_KEY)"
        return error

    def _result(self, req: ApiRequest[T], response: httpx.Response) -> T:
        if req.binary:
            return req.parse(response.content)
        body: Any = None
        if response.status_code != 204 and response.content:
            try:
                body = orjson.loads(response.content)
            except orjson.JSONDecodeError:
                raise APIError(
                    response.status_code,
                    response.text[:500],
                    f"HTTP {response.status_code} with a body that is not JSON "
                    f"({response.headers.get('content-type', 'no content type')})",
                    request=req.label,
                ) from None
        # An empty body is read too: only answers with nothing to read (204, DELETE) accept it.
        try:
            return req.parse(body)
        except (pydantic.ValidationError, TypeError, ValueError) as exc:
            raise APIError(
                response.status_code, body, f"unexpected response body: {exc}", request=req.label
            ) from None

    # --- sync -----------------------------------------------------------------------------------

    def _sync_client(self) -> httpx.Client:
        self._check_open()
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout)
        return self._client

    def send(self, req: ApiRequest[T]) -> T:
        """Send with retries; the parsed result, or a typed :class:`~vatel.errors.APIError`."""
        client = self._sync_client()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = client.send(self._build(client, req))
            except httpx.TransportError as exc:
                self._sleep(self._on_transport_error(req, exc, attempt))
                continue
            if response.is_success:
                return self._result(req, response)
            wait = self._on_response(req, response.status_code, response.headers, attempt)
            if wait < 0:
                raise self._error(req, response)
            response.close()
            self._sleep(wait)

    def download(self, req: ApiRequest[Any], dest: Path) -> Path:
        """Stream a binary answer to ``dest`` (written to a ``.part`` file, renamed when complete)."""
        client = self._sync_client()
        attempt = 0
        while True:
            attempt += 1
            part = _part_path(dest)
            try:
                response = client.send(self._build(client, req), stream=True)
                try:
                    if not response.is_success:
                        response.read()
                        wait = self._on_response(req, response.status_code, response.headers, attempt)
                        if wait < 0:
                            raise self._error(req, response)
                        self._sleep(wait)
                        continue
                    with part.open("wb") as out:
                        for chunk in response.iter_bytes():
                            out.write(chunk)
                    _finish_download(req, response, part, dest)
                    return dest
                finally:
                    response.close()
            except httpx.TransportError as exc:
                part.unlink(missing_ok=True)
                self._sleep(self._on_transport_error(req, exc, attempt))

    def close(self) -> None:
        """Close the clients this transport made (not ones passed in); later calls raise."""
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED
        if self._owns_client and self._client is not None:
            self._client.close()
        if self._owns_async_client and self._async_client is not None:
            client, self._async_client = self._async_client, None
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                _close_outside_loop(client)
            else:
                self._pending_close = loop.create_task(client.aclose())

    # --- async ----------------------------------------------------------------------------------

    def _async_client_(self) -> httpx.AsyncClient:
        self._check_open()
        loop = asyncio.get_running_loop()
        if self._owns_async_client and self._async_client is not None and self._async_loop is not loop:
            # Made in another event loop (a second asyncio.run()): its connections belong to
            # that loop and cannot be used or closed from this one, so start a fresh client.
            self._async_client = None
        if self._async_client is None:
            self._async_client = httpx.AsyncClient(timeout=self.timeout)
            self._async_loop = loop
        return self._async_client

    async def send_async(self, req: ApiRequest[T]) -> T:
        """Send with retries; the parsed result, or a typed :class:`~vatel.errors.APIError`."""
        client = self._async_client_()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await client.send(self._build(client, req))
            except httpx.TransportError as exc:
                await self._async_sleep(self._on_transport_error(req, exc, attempt))
                continue
            if response.is_success:
                return self._result(req, response)
            wait = self._on_response(req, response.status_code, response.headers, attempt)
            if wait < 0:
                raise self._error(req, response)
            await response.aclose()
            await self._async_sleep(wait)

    async def download_async(self, req: ApiRequest[Any], dest: Path) -> Path:
        """Stream a binary answer to ``dest`` (written to a ``.part`` file, renamed when complete)."""
        client = self._async_client_()
        attempt = 0
        while True:
            attempt += 1
            part = _part_path(dest)
            try:
                request = self._build(client, req)
                response = await client.send(request, stream=True)
                try:
                    if not response.is_success:
                        await response.aread()
                        wait = self._on_response(req, response.status_code, response.headers, attempt)
                        if wait < 0:
                            raise self._error(req, response)
                        await self._async_sleep(wait)
                        continue
                    with part.open("wb") as out:
                        async for chunk in response.aiter_bytes():
                            out.write(chunk)
                    _finish_download(req, response, part, dest)
                    return dest
                finally:
                    await response.aclose()
            except httpx.TransportError as exc:
                part.unlink(missing_ok=True)
                await self._async_sleep(self._on_transport_error(req, exc, attempt))

    async def aclose(self) -> None:
        """Close every client this transport made; later calls raise."""
        if self._state is _State.CLOSED:
            if self._pending_close is not None:
                await self._pending_close
            return
        self._state = _State.CLOSED
        if self._owns_async_client and self._async_client is not None:
            await self._async_client.aclose()
        if self._owns_client and self._client is not None:
            self._client.close()


def _part_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")


def _close_outside_loop(client: httpx.AsyncClient) -> None:
    """Close an async client from sync code, with no event loop running.

    Its pooled connections belong to the loop it was used in. When that loop is already closed
    (``asyncio.run`` has returned) they cannot be closed gracefully any more and ``aclose`` raises
    ``RuntimeError: Event loop is closed``; they are then left to the garbage collector.
    """
    with contextlib.suppress(RuntimeError):
        asyncio.run(client.aclose())


def _finish_download(req: ApiRequest[Any], response: httpx.Response, part: Path, dest: Path) -> None:
    # Content-Length counts the bytes on the wire: with a Content-Encoding (a proxy's gzip) the
    # decoded file is larger, so compare it with what was downloaded, not with the file size.
    expected = response.headers.get("content-length")
    received = response.num_bytes_downloaded
    if expected is not None and expected.isdigit() and int(expected) != received:
        part.unlink(missing_ok=True)
        raise APIConnectionError(
            f"download cut short: {received} of {expected} bytes arrived", request=req.label
        )
    part.replace(dest)
