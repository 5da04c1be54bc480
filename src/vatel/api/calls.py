"""``/v1/calls``: the call log, one call, its recording, and a page iterator.

Filters are typed (enums, datetimes, a list of agent ids, a bool for ``outbound``) and sent as the
strings the API expects; plain strings still work, as in the official SDK.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypedDict, Unpack, overload

from vatel.api.resource import Resource, one
from vatel.protocol import Call, CallOutcome, CallSource, CallStatus, PaginatedCallsResponse
from vatel.transport import ApiRequest, path_segment

MAX_PAGE_SIZE = 100


class CallFilters(TypedDict, total=False):
    """The filters of ``GET /v1/calls`` (all optional)."""

    organization_id: str
    agent_ids: str | Iterable[str]
    status: CallStatus | str
    source: CallSource | str
    date_from: datetime | str
    date_to: datetime | str
    outbound: bool | Literal["true", "false"]
    search: str
    tag: str
    outcome: CallOutcome | str


def _query_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        # RFC 3339 needs an offset: a naive datetime is taken as UTC.
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, str):
        return value
    if name == "agent_ids" and isinstance(value, Iterable):
        ids = [str(item) for item in value]
        if any("," in item for item in ids):
            raise ValueError("an agent id cannot contain a comma")
        return ",".join(ids)
    raise TypeError(f"unsupported value for {name}: {value!r}")


def list_params(page: int | None, page_size: int | None, filters: CallFilters) -> dict[str, str | int]:
    """The query string of ``GET /v1/calls``; checks the page bounds before anything is sent."""
    params: dict[str, str | int] = {}
    if page is not None:
        if page < 1:
            raise ValueError(f"page is 1-based, got {page}")
        params["page"] = page
    if page_size is not None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        params["page_size"] = page_size
    for name, value in filters.items():
        if value is not None:
            params[name] = _query_value(name, value)
    return params


class CallsAPI(Resource):
    def list(
        self, *, page: int | None = None, page_size: int | None = None, **filters: Unpack[CallFilters]
    ) -> PaginatedCallsResponse:
        return self._transport.send(self._list(page, page_size, filters))

    async def list_async(
        self, *, page: int | None = None, page_size: int | None = None, **filters: Unpack[CallFilters]
    ) -> PaginatedCallsResponse:
        return await self._transport.send_async(self._list(page, page_size, filters))

    def iter(self, *, page_size: int = MAX_PAGE_SIZE, **filters: Unpack[CallFilters]) -> Iterator[Call]:
        """Every call that matches, page after page, until the last page."""
        page = 1
        while True:
            result = self._transport.send(self._list(page, page_size, filters))
            yield from result.calls
            if not result.pagination.has_next or not result.calls:
                return
            page += 1

    async def iter_async(
        self, *, page_size: int = MAX_PAGE_SIZE, **filters: Unpack[CallFilters]
    ) -> AsyncIterator[Call]:
        """Every call that matches, page after page, until the last page."""
        page = 1
        while True:
            result = await self._transport.send_async(self._list(page, page_size, filters))
            for call in result.calls:
                yield call
            if not result.pagination.has_next or not result.calls:
                return
            page += 1

    def get(self, call_id: str) -> Call:
        return self._transport.send(self._get(call_id))

    async def get_async(self, call_id: str) -> Call:
        return await self._transport.send_async(self._get(call_id))

    @overload
    def download_recording(self, call_id: str) -> bytes: ...
    @overload
    def download_recording(self, call_id: str, to: str | Path) -> Path: ...
    def download_recording(self, call_id: str, to: str | Path | None = None) -> bytes | Path:
        """The call's WAV. With ``to`` (a file, or a folder for ``{call_id}.wav``) it is streamed
        to disk and the path is returned; without, the bytes are returned (as the official SDK)."""
        if to is None:
            return self._transport.send(self._recording(call_id))
        return self._transport.download(self._recording(call_id), _destination(call_id, to))

    @overload
    async def download_recording_async(self, call_id: str) -> bytes: ...
    @overload
    async def download_recording_async(self, call_id: str, to: str | Path) -> Path: ...
    async def download_recording_async(self, call_id: str, to: str | Path | None = None) -> bytes | Path:
        """As :meth:`download_recording`."""
        if to is None:
            return await self._transport.send_async(self._recording(call_id))
        return await self._transport.download_async(self._recording(call_id), _destination(call_id, to))

    # --- request builders ----------------------------------------------------------------------

    @staticmethod
    def _list(
        page: int | None, page_size: int | None, filters: CallFilters
    ) -> ApiRequest[PaginatedCallsResponse]:
        return ApiRequest(
            "GET", "/v1/calls", one(PaginatedCallsResponse), params=list_params(page, page_size, filters)
        )

    @staticmethod
    def _get(call_id: str) -> ApiRequest[Call]:
        return ApiRequest("GET", f"/v1/calls/{path_segment(call_id, 'call_id')}", one(Call))

    @staticmethod
    def _recording(call_id: str) -> ApiRequest[bytes]:
        return ApiRequest(
            "GET",
            f"/v1/calls/{path_segment(call_id, 'call_id')}/recording",
            _raw_bytes,
            accept="audio/wav",
            binary=True,
        )


def _raw_bytes(body: Any) -> bytes:
    if not isinstance(body, bytes):
        raise TypeError("expected a binary body")
    return body


def _destination(call_id: str, to: str | Path) -> Path:
    dest = Path(to)
    if dest.is_dir():
        dest = dest / f"{path_segment(call_id, 'call_id')}.wav"
    if not dest.parent.is_dir():
        raise FileNotFoundError(f"no such folder for the recording: {dest.parent}")
    return dest
