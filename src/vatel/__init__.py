"""vatel: real-time voice-agent sessions over the Vatel Session WebSocket protocol.

``from vatel import Client`` gives the SDK (REST + session WebSocket), name-compatible with the
official Python SDK. The wire models live in :mod:`vatel.protocol` (also importable from
``vatel.models.rest`` and ``vatel.models.ws``, the official paths).

The names below are imported on first use (PEP 562): ``import vatel`` alone costs nothing, so
the command line, the server and its child processes start without loading the HTTP client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vatel._version import __version__

if TYPE_CHECKING:
    from vatel.client import DEFAULT_BASE_URL, Client
    from vatel.connection import Connection, connect, connection_query, websocket_url
    from vatel.errors import (
        APIConnectionError,
        APIError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ClientClosedError,
        ConflictError,
        ConnectionClosed,
        ConnectionClosedError,
        ConnectionClosedOK,
        InternalServerError,
        MessageError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
        VatelError,
    )
    from vatel.protocol import (
        Agent,
        AgentCreateInput,
        AgentUpdateInput,
        Call,
        CallFeedback,
        CallOutcome,
        CallSource,
        CallStatus,
        ContextVariable,
        DialAgentResponse,
        GenerateSessionTokenRequest,
        GraphVersion,
        GraphVersionDetail,
        InputAudio,
        InputAudioTranscript,
        Interruption,
        LLMStringsResponse,
        Organization,
        PaginatedCallsResponse,
        PaginationInfo,
        ResponseAudio,
        ResponseText,
        ServerMessage,
        SessionEnded,
        SessionStarted,
        SessionTokenResponse,
        SipTrunk,
        SipTrunkAgentAssignment,
        SpeechStarted,
        SpeechStopped,
        ToolCall,
        ToolCallOutput,
        Transcript,
        TranscriptEntry,
        TranscriptToolCall,
        TwilioPhoneNumber,
        UnknownMessage,
        VoiceSessionEmptyData,
        VoicesListResponse,
        parse_server_message,
    )

_SOURCES = ("vatel.client", "vatel.connection", "vatel.errors", "vatel.protocol")
"""The modules the names of ``__all__`` come from (those imported above for type checkers)."""

__all__ = [
    "DEFAULT_BASE_URL",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "Agent",
    "AgentCreateInput",
    "AgentUpdateInput",
    "AuthenticationError",
    "BadRequestError",
    "Call",
    "CallFeedback",
    "CallOutcome",
    "CallSource",
    "CallStatus",
    "Client",
    "ClientClosedError",
    "ConflictError",
    "Connection",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "ContextVariable",
    "DialAgentResponse",
    "GenerateSessionTokenRequest",
    "GraphVersion",
    "GraphVersionDetail",
    "InputAudio",
    "InputAudioTranscript",
    "InternalServerError",
    "Interruption",
    "LLMStringsResponse",
    "MessageError",
    "NotFoundError",
    "Organization",
    "PaginatedCallsResponse",
    "PaginationInfo",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseAudio",
    "ResponseText",
    "ServerMessage",
    "SessionEnded",
    "SessionStarted",
    "SessionTokenResponse",
    "SipTrunk",
    "SipTrunkAgentAssignment",
    "SpeechStarted",
    "SpeechStopped",
    "ToolCall",
    "ToolCallOutput",
    "Transcript",
    "TranscriptEntry",
    "TranscriptToolCall",
    "TwilioPhoneNumber",
    "UnknownMessage",
    "VatelError",
    "VoiceSessionEmptyData",
    "VoicesListResponse",
    "__version__",
    "connect",
    "connection_query",
    "websocket_url",
    "parse_server_message",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        for source in _SOURCES:
            module = importlib.import_module(source)
            if hasattr(module, name):
                value = getattr(module, name)
                globals()[name] = value  # the next lookup finds it without coming here
                return value
    raise AttributeError(f"module 'vatel' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
