"""Reading what a client sent: the body (size-capped JSON), path ids and query values.

Each reader raises :class:`ApiProblem` with a 4xx and a message that names the field, so no
garbage reaches a handler and none of it can become a 5xx.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request

from vatel.server.api.problems import ApiProblem

M = TypeVar("M", bound=BaseModel)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiProblem(413, f"request body too large: {declared} bytes, the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiProblem(413, f"request body too large: the limit is {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiProblem(400, "the client disconnected while sending its body") from None
    return b"".join(chunks)


async def read_json(request: Request, limit: int, *, required: bool = True) -> Any:
    """The decoded JSON body; ``None`` for an empty body when it is not ``required``."""
    body = await read_body(request, limit)
    if not body.strip():
        if required:
            raise ApiProblem(400, "a JSON request body is required")
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiProblem(400, f"invalid JSON body: {exc}") from None
    if b"\\u0000" in body and _has_nul(data):
        raise ApiProblem(400, "text in the body must not contain NUL characters (\\u0000)")
    return data


def _has_nul(value: Any) -> bool:
    """PostgreSQL text cannot hold NUL, and no field of the API needs it: refuse it everywhere."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def describe(exc: ValidationError) -> str:
    """pydantic's errors as one line: ``name: Field required; vad_settings.stop_secs: ...``."""
    parts = []
    for error in exc.errors()[:10]:
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def parse_model(model: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        raise ApiProblem(400, f"the request body must be a JSON object, got {type(data).__name__}")
    try:
        # Strict, in JSON mode: "0.5" is not a number and "yes" is not a boolean, but enum values
        # arrive as the strings JSON has.
        return model.model_validate_json(orjson.dumps(data), strict=True)
    except ValidationError as exc:
        raise ApiProblem(400, f"invalid request body: {describe(exc)}") from None


def check_uuid(value: str, name: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise ApiProblem(400, f"{name} is not a valid UUID: {value[:64]!r}") from None


def path_id(request: Request, name: str = "id") -> str:
    return check_uuid(str(request.path_params[name]), name)
