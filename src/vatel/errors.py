"""The errors the SDK raises, as one tree::

    VatelError
    ├── APIError(status_code, body, message)      any failed REST call or WebSocket handshake
    │   ├── BadRequestError          400
    │   ├── AuthenticationError      401
    │   ├── PermissionDeniedError    403
    │   ├── NotFoundError            404
    │   ├── ConflictError            409
    │   ├── RateLimitError           429
    │   ├── InternalServerError      5xx
    │   └── APIConnectionError       no HTTP answer at all (status_code is None)
    │       └── APITimeoutError      no answer in time
    ├── ConnectionClosed(code, reason)             the session WebSocket is closed
    │   ├── ConnectionClosedOK       closed normally (1000 or 1001)
    │   └── ConnectionClosedError    closed abnormally (any other code, or no close frame: 1006)
    └── MessageError                 a frame that is not a message (only with ``strict=True``)

Any other status (405, 413, 422 ...) raises a plain :class:`APIError`. Misuse of a closed client
raises :class:`ClientClosedError`, which is also a ``RuntimeError``.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from vatel.protocol import MessageError, VatelError

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConflictError",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "InternalServerError",
    "MessageError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "VatelError",
    "error_from_response",
]

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class APIError(VatelError):
    """A REST call (or the WebSocket handshake) that did not succeed.

    ``status_code`` is the HTTP status (``None`` when no answer came); ``body`` is the parsed JSON
    body when there was one, else the text (or ``None`` when empty); ``message`` is one line that
    says what went wrong, taken from ``{"error": ...}`` when the server sent it. ``request`` says
    which call it was (``"POST /v1/session-token"``).
    """

    def __init__(
        self,
        status_code: int | None,
        body: Any,
        message: str,
        *,
        request: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status_code = status_code
        self.body = body
        self.message = message
        self.request = request
        self.headers = headers or {}
        super().__init__(message)

    def __str__(self) -> str:
        where = f"{self.request}: " if self.request else ""
        return f"{where}{self.message}"


class BadRequestError(APIError):
    """400: the request was malformed or failed validation."""


class AuthenticationError(APIError):
    """401: the API key (or session token) is missing, wrong, expired or already used."""


class PermissionDeniedError(APIError):
    """403: the key is valid but the resource belongs to another organization."""


class NotFoundError(APIError):
    """404: no such resource (or path)."""


class ConflictError(APIError):
    """409: the change conflicts with the current state (e.g. a version already published)."""


class RateLimitError(APIError):
    """429: too many requests; ``retry_after`` is the server's hint in seconds, if it sent one."""

    @property
    def retry_after(self) -> float | None:
        value = self.headers.get("retry-after")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None


class InternalServerError(APIError):
    """5xx: the server failed."""


class APIConnectionError(APIError):
    """The server could not be reached, or the connection broke before an answer."""

    def __init__(self, message: str, *, request: str | None = None) -> None:
        super().__init__(None, None, message, request=request)


class APITimeoutError(APIConnectionError):
    """No answer within the configured timeout."""


class ConnectionClosed(VatelError):
    """The session WebSocket is closed: ``code`` and ``reason`` say why (``Connection.close_code``:
    the peer's close frame, else the one we sent when websockets failed the link, else 1006)."""

    def __init__(self, code: int, reason: str = "", *, session_ended: bool = False) -> None:
        self.code = code
        self.reason = reason
        self.session_ended = session_ended
        detail = f" ({reason})" if reason else ""
        after = ", after session_ended" if session_ended else ""
        super().__init__(f"session connection closed with code {code}{detail}{after}")


class ConnectionClosedOK(ConnectionClosed):
    """Closed normally (1000 or 1001)."""


class ConnectionClosedError(ConnectionClosed):
    """Closed abnormally: an error code, or the link dropped with no close frame (1006)."""


class ClientClosedError(VatelError, RuntimeError):
    """The client was closed; make a new one (a closed client cannot be reopened)."""


_STATUS_CLASSES: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def _describe_body(content: bytes, content_type: str) -> tuple[Any, str]:
    """(parsed body, one-line summary) for any error body: JSON, HTML, text or nothing."""
    if not content.strip():
        return None, "empty body"
    try:
        parsed = orjson.loads(content)
    except orjson.JSONDecodeError:
        parsed = None
    else:
        if isinstance(parsed, dict):
            error = parsed.get("error")
            if isinstance(error, str) and error:
                return parsed, error
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                return parsed, error["message"]
            if isinstance(parsed.get("message"), str):
                return parsed, parsed["message"]
        return parsed, _shorten(orjson.dumps(parsed).decode())
    text = content.decode("utf-8", "replace")
    if "html" in content_type or text.lstrip().startswith("<"):
        title = _TITLE.search(content)
        summary = title.group(1).decode("utf-8", "replace") if title else _TAG.sub(" ", text)
        return text, f"HTML page: {_shorten(summary)}"
    return text, _shorten(text)


def _shorten(text: str, limit: int = 200) -> str:
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_from_response(
    status_code: int,
    content: bytes,
    headers: dict[str, str],
    *,
    request: str | None = None,
) -> APIError:
    """The typed error for a non-2xx answer; never fails, whatever the body holds."""
    body, summary = _describe_body(content, headers.get("content-type", ""))
    reason = _REASONS.get(status_code, "")
    message = f"HTTP {status_code}{' ' + reason if reason else ''}: {summary}"
    cls = _STATUS_CLASSES.get(status_code)
    if cls is None:
        cls = InternalServerError if status_code >= 500 else APIError
    return cls(status_code, body, message, request=request, headers=headers)
