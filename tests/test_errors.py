"""``error_from_response``: every kind of error body gives the right class and one clear line."""

from __future__ import annotations

import pytest

import vatel
from vatel.errors import error_from_response

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, vatel.BadRequestError),
        (401, vatel.AuthenticationError),
        (403, vatel.PermissionDeniedError),
        (404, vatel.NotFoundError),
        (409, vatel.ConflictError),
        (429, vatel.RateLimitError),
        (500, vatel.InternalServerError),
        (502, vatel.InternalServerError),
        (599, vatel.InternalServerError),
        (405, vatel.APIError),
        (413, vatel.APIError),
        (418, vatel.APIError),
    ],
)
def test_status_classes(status: int, cls: type[vatel.APIError]) -> None:
    error = error_from_response(
        status, b'{"error":"nope"}', {"content-type": "application/json"}, request="GET /x"
    )
    assert type(error) is cls
    assert error.status_code == status
    assert error.body == {"error": "nope"}
    assert error.message.endswith(": nope")
    assert str(error).startswith("GET /x: HTTP ")


@pytest.mark.parametrize(
    ("content", "ctype", "expected_body", "summary"),
    [
        (b"", "", None, "empty body"),
        (b"   \n", "text/plain", None, "empty body"),
        (
            b"<html><head><title>502 Bad Gateway</title></head><body><h1>nginx</h1></body></html>",
            "text/html",
            None,
            "HTML page: 502 Bad Gateway",
        ),
        (b"<p>Service <b>down</b></p>", "text/html", None, "HTML page: Service down"),
        (b"upstream connect error", "text/plain", "upstream connect error", "upstream connect error"),
        (b'{"detail":"x"}', "application/json", {"detail": "x"}, '{"detail":"x"}'),
        (b'{"error":{"message":"deep"}}', "application/json", {"error": {"message": "deep"}}, "deep"),
        (b'{"message":"flat"}', "application/json", {"message": "flat"}, "flat"),
        (b"[1,2]", "application/json", [1, 2], "[1,2]"),
        (b"\xff\xfe garbage", "application/octet-stream", "\ufffd\ufffd garbage", "\ufffd\ufffd garbage"),
    ],
)
def test_any_body_gives_a_clear_message(
    content: bytes, ctype: str, expected_body: object, summary: str
) -> None:
    error = error_from_response(503, content, {"content-type": ctype})
    assert error.message == f"HTTP 503 Service Unavailable: {summary}"
    if expected_body is not None:
        assert error.body == expected_body


def test_long_bodies_are_shortened() -> None:
    error = error_from_response(500, b"x" * 10_000, {})
    assert len(error.message) < 260
    assert error.message.endswith("…")


def test_rate_limit_carries_retry_after() -> None:
    error = error_from_response(429, b"", {"retry-after": "7"})
    assert isinstance(error, vatel.RateLimitError)
    assert error.retry_after == 7.0
    assert isinstance(error_from_response(429, b"", {"retry-after": "soon"}), vatel.RateLimitError)
    assert error_from_response(429, b"", {"retry-after": "soon"}).retry_after is None  # type: ignore[attr-defined]


def test_the_tree() -> None:
    assert issubclass(vatel.APITimeoutError, vatel.APIConnectionError)
    assert issubclass(vatel.APIConnectionError, vatel.APIError)
    assert issubclass(vatel.APIError, vatel.VatelError)
    assert issubclass(vatel.ConnectionClosedError, vatel.ConnectionClosed)
    assert issubclass(vatel.ConnectionClosedOK, vatel.ConnectionClosed)
    assert issubclass(vatel.MessageError, vatel.VatelError) and issubclass(vatel.MessageError, ValueError)
    assert issubclass(vatel.ClientClosedError, RuntimeError)
    closed = vatel.ConnectionClosedError(1011, "boom", session_ended=False)
    assert (closed.code, closed.reason) == (1011, "boom")
    assert "1011" in str(closed) and "boom" in str(closed)
    timeout = vatel.APITimeoutError("slow", request="GET /v1/agents")
    assert timeout.status_code is None and str(timeout) == "GET /v1/agents: slow"
