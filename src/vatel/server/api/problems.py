"""Every non-2xx answer is ``{"error": "..."}`` JSON with a message that names the problem."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class ApiProblem(Exception):
    """Raise anywhere in a handler to answer ``status`` with ``{"error": message}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def problem(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)
