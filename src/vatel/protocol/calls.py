"""Call records, transcripts and the paginated list (protocol.md §4.1 "Call").

Call fields are snake_case while transcript fields are camelCase: that is the wire, kept as is.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from vatel.protocol.base import Lenient, ResponseModel
from vatel.protocol.enums import (
    CallSource,
    CallStatus,
    ContextVariableDataType,
    ContextVariableType,
    TranscriptEntryType,
)


class ContextVariable(ResponseModel):
    name: str | None = None
    type: Lenient[ContextVariableType] | None = None
    description: str | None = None
    value: Any = None
    dataType: Lenient[ContextVariableDataType] | None = None
    rationale: str | None = None


class TranscriptToolCall(ResponseModel):
    itemId: str | None = None
    callId: str | None = None
    toolName: str | None = None
    arguments: str | None = Field(default=None, description="The arguments as a JSON string.")
    output: str | None = None
    startedAt: str | None = None
    endedAt: str | None = None


class TranscriptEntry(ResponseModel):
    index: int | None = None
    role: str | None = None
    message: str | None = None
    type: Lenient[TranscriptEntryType] | None = None
    toolCall: TranscriptToolCall | None = None
    toolCallOutput: str | None = None
    createdAt: str | None = None
    durationMs: int | None = None
    turnId: str | None = None


class Transcript(ResponseModel):
    entries: list[TranscriptEntry] = Field(default_factory=list)


class CallFeedback(ResponseModel):
    stars: int
    notes: str


class Call(ResponseModel):
    id: str | None = None
    agent_id: str | None = None
    graph_version_id: str | None = None
    organization_id: str | None = None
    party_number: str | None = None
    status: Lenient[CallStatus] | None = None
    source: Lenient[CallSource] | None = None
    termination_reason: str | None = None
    extracted_variables: list[ContextVariable] | None = None
    outbound: bool | None = None
    outbound_contact_id: str | None = None
    outbound_list_run_id: str | None = None
    created_at: str | None = None
    connected_at: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    summary: str | None = None
    transcript: Transcript | None = None
    cost: float | None = None
    tags: list[str] | None = None
    duration_seconds: int | None = None
    feedback: CallFeedback | None = None


class PaginationInfo(ResponseModel):
    """1-based page numbers (not cursors)."""

    page: int
    page_size: int
    total: int
    total_pages: int
    has_next: bool
    has_prev: bool


class PaginatedCallsResponse(ResponseModel):
    calls: list[Call]
    pagination: PaginationInfo
