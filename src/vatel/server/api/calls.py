"""``/v1/calls``: the paginated, filtered call log, one call, and its recording."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from vatel.protocol import Call, CallOutcome, CallSource, CallStatus
from vatel.server.api.problems import ApiProblem, JSONResponse
from vatel.server.api.request import check_uuid, path_id
from vatel.server.api.routing import Caller, endpoint, resource
from vatel.server.store import calls as store
from vatel.server.store.recordings import recording_pieces, recording_size
from vatel.server.store.timestamps import parse, to_text

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


def _int(params: Any, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiProblem(400, f"{name} must be a whole number, got {raw[:32]!r}") from None
    if not low <= value <= high:
        raise ApiProblem(400, f"{name} must be between {low} and {high}, got {value}")
    return value


def _choice(params: Any, name: str, allowed: type[Any]) -> str | None:
    raw = params.get(name)
    if not raw:
        return None
    values = {member.value for member in allowed}
    if raw not in values:
        raise ApiProblem(400, f"{name} must be one of {sorted(values)}, got {raw[:32]!r}")
    return str(raw)


def _date(params: Any, name: str) -> str | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return to_text(parse(raw))
    except (ValueError, OverflowError):
        raise ApiProblem(400, f"{name} must be an RFC 3339 date-time, got {raw[:40]!r}") from None


def _text(params: Any, name: str, limit: int) -> str | None:
    raw = params.get(name)
    if not raw:
        return None
    if "\x00" in raw:
        raise ApiProblem(400, f"{name} must not contain NUL characters")
    if len(raw) > limit:
        raise ApiProblem(400, f"{name} is too long: at most {limit} characters")
    return str(raw)


def call_query(params: Any) -> store.CallQuery:
    raw_ids = params.get("agent_ids") or ""
    agent_ids = tuple(check_uuid(part.strip(), "agent_ids") for part in raw_ids.split(",") if part.strip())
    outbound_raw = params.get("outbound")
    if outbound_raw not in (None, "", "true", "false"):
        raise ApiProblem(400, f"outbound must be 'true' or 'false', got {outbound_raw[:16]!r}")
    return store.CallQuery(
        agent_ids=agent_ids,
        status=_choice(params, "status", CallStatus),
        source=_choice(params, "source", CallSource),
        date_from=_date(params, "date_from"),
        date_to=_date(params, "date_to"),
        outbound=None if not outbound_raw else outbound_raw == "true",
        search=_text(params, "search", 256),
        tag=_text(params, "tag", 128),
        outcome=_choice(params, "outcome", CallOutcome),
    )


def call_body(row: Any, entries: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        key: getattr(row, key)
        for key in (
            "id", "agent_id", "graph_version_id", "organization_id", "party_number", "status", "source",
            "termination_reason", "outbound", "created_at", "connected_at", "started_at", "ended_at",
            "summary", "cost", "tags", "extracted_variables", "feedback",
        )
    }  # fmt: skip
    body["duration_seconds"] = store.duration_seconds(row.started_at, row.ended_at)
    if entries:
        body["transcript"] = {"entries": entries}
    return Call.model_validate(body).to_wire()


@endpoint
async def list_calls(request: Request, caller: Caller) -> Response:
    params = request.query_params
    page = _int(params, "page", 1, 1, 1_000_000)
    page_size = _int(params, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    query = call_query(params)
    async with caller.state.engine.connect() as conn:
        rows, total = await store.list_calls(conn, caller.organization_id, query, page, page_size)
    total_pages = math.ceil(total / page_size) if total else 0
    return JSONResponse(
        {
            "calls": [call_body(row) for row in rows],
            "pagination": {
                "page": page,
                "page_size": page_size,
                "total": total,
                "total_pages": total_pages,
                "has_next": page < total_pages,
                "has_prev": page > 1,
            },
        }
    )


@endpoint
async def get_call(request: Request, caller: Caller) -> Response:
    call_id = path_id(request)
    async with caller.state.engine.connect() as conn:
        record = await store.get_call(conn, caller.organization_id, call_id)
    return JSONResponse(call_body(record.row, record.entries))


@endpoint
async def get_recording(request: Request, caller: Caller) -> Response:
    call_id = path_id(request)
    async with caller.state.engine.connect() as conn:
        record = await store.get_call(conn, caller.organization_id, call_id)
    stored = record.row.recording_path
    path = Path(stored) if stored else None
    if path is not None and not path.is_absolute():
        path = caller.state.settings.data_dir / path
    if path is not None and path.is_file():
        return FileResponse(path, media_type="audio/wav", filename=f"{call_id}.wav")
    size = await recording_size(caller.state.engine, call_id)  # recorded by another replica
    if size is None:
        raise ApiProblem(404, "this call has no recording")
    return StreamingResponse(
        recording_pieces(caller.state.engine, call_id),
        media_type="audio/wav",
        headers={
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="{call_id}.wav"',
        },
    )


routes = [
    resource("/v1/calls", GET=list_calls),
    resource("/v1/calls/{id}", GET=get_call),
    resource("/v1/calls/{id}/recording", GET=get_recording),
]
