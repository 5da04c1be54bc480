"""Every enum of the wire spec (`vatel-openapi.json` components.schemas), as ``StrEnum``.

Members compare equal to their strings, so ``agent.status == "active"`` keeps working for code
written against the official SDK, whose fields are plain strings.
"""

from __future__ import annotations

from enum import StrEnum


class AgentStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class TTSStrategy(StrEnum):
    """The TTS provider of a voice (``VoiceSettings.provider``, ``VoiceCatalogEntry.provider``)."""

    ELEVENLABS = "elevenlabs"
    OPENAI = "openai"
    CARTESIA = "cartesia"
    HUME = "hume"
    MINIMAX = "minimax"
    FISH = "fish"


class TimeoutAction(StrEnum):
    END_CALL = "end_call"
    TRANSFER_CALL = "transfer_call"


class CallerTransformType(StrEnum):
    ADD_PREFIX = "add_prefix"
    ADD_SUFFIX = "add_suffix"
    REPLACE = "replace"
    STRIP_DIGITS_END = "strip_digits_end"
    STRIP_DIGITS_START = "strip_digits_start"


class SIPTrunkAuthType(StrEnum):
    DIGEST = "digest"
    ACL = "acl"
    NONE = "none"


class RegistrationStatus(StrEnum):
    NOT_REGISTERED = "not_registered"
    PENDING = "pending"
    REGISTERED = "registered"
    FAILED = "failed"
    AUTH_FAILED = "auth_failed"


class PbxType(StrEnum):
    THREE_CX = "3cx"
    YEASTAR = "yeastar"
    WEBEX = "webex"
    GENERIC = "generic"


class CallStatus(StrEnum):
    CONNECTED = "connected"
    STARTED = "started"
    IN_PROGRESS = "in_progress"
    AUTH_FAILED = "auth_failed"
    ENDED = "ended"


class CallSource(StrEnum):
    TWILIO = "twilio"
    SIP = "sip"
    SIMULATION = "simulation"
    API = "api"


class CallOutcome(StrEnum):
    """The ``outcome`` filter of ``GET /v1/calls``."""

    TRANSFERRED = "transferred"
    ENDED_BY_AGENT = "ended_by_agent"
    ENDED_BY_USER = "ended_by_user"


class TranscriptEntryType(StrEnum):
    MESSAGE = "message"
    TOOL_CALL = "tool_call"
    TOOL_CALL_OUTPUT = "tool_call_output"
    INTERRUPTION = "interruption"


class ContextVariableType(StrEnum):
    SYSTEM = "system"
    INPUT = "input"
    EXTRACTED = "extracted"


class ContextVariableDataType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    OBJECT = "object"
    ARRAY = "array"


class Transport(StrEnum):
    """``GenerateSessionTokenRequest.transport``."""

    WEBSOCKET = "websocket"
    WEBRTC = "webrtc"
