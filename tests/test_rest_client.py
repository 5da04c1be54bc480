"""The REST side of the SDK against a real HTTP server on 127.0.0.1 (``tests/support/fake_server.py``).

Every resource method, sync and ``*_async``, is checked for what goes on the wire (method, raw
path, query, JSON body, headers) and for how the answer is read into the models. Then: auth,
custom httpx clients, closing, typed errors, retries, timeouts, answers that cannot be read, path
escaping, the calls filters and iterator, recording downloads, and input that is refused before
anything is sent.

Retry waits never sleep: :func:`fast_client` swaps the transport's sleep functions for a recorder.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import io
import json
import threading
import time
import warnings
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pydantic
import pytest
from openapi_schema_validator import OAS30Validator, validate
from pydantic import BaseModel

import vatel
from support.fake_server import PREFIX, FakeServer, closed_port
from vatel import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    VatelError,
)
from vatel.client import Client
from vatel.protocol import (
    Agent,
    AgentCreateInput,
    AgentStatus,
    AgentUpdateInput,
    Call,
    CallerTransformType,
    CallOutcome,
    CallSource,
    CallStatus,
    ContextVariableDataType,
    ContextVariableType,
    DialAgentResponse,
    GraphNode,
    GraphVersion,
    GraphVersionDetail,
    LLMStringsResponse,
    Organization,
    PaginatedCallsResponse,
    PbxType,
    RegistrationStatus,
    SessionTokenResponse,
    SessionVariable,
    SipTrunk,
    SipTrunkAgentAssignment,
    SipTrunkAgentAssignmentPatchInput,
    SIPTrunkAuthType,
    SipTrunkCreateInput,
    TimeoutAction,
    TranscriptEntryType,
    Transport,
    TTSStrategy,
    TwilioPhoneNumber,
    TwilioPhoneNumberImportInput,
    VoicesListResponse,
)

pytestmark = pytest.mark.loopback

SPEC_PATH = Path(__file__).resolve().parents[2] / "shared" / "vatel-openapi.json"

API_KEY = "vk_live_4f1d2c3b5a6e7f80"
ORG_ID = "0b6f3c1e-2d4a-4f8b-9c7e-1a2b3c4d5e6f"
AGENT_ID = "7d9e2f4a-1b3c-4d5e-8f6a-0b1c2d3e4f5a"
AGENT_ID_2 = "8e0f3a5b-2c4d-4e6f-9a7b-1c2d3e4f5a6b"
VERSION_ID = "c4e8a2b6-3d5f-4a7c-9e1b-2f4d6a8c0e1b"
CHAT_ID = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
CALL_ID = "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b"
NUMBER_ID = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"
TRUNK_ID = "9f8e7d6c-5b4a-4c3d-8e2f-1a0b9c8d7e6f"
ASSIGNMENT_ID = "3c2b1a0f-9e8d-4c7b-a6f5-e4d3c2b1a0f9"

# --- realistic answers, shaped as the OpenAPI schemas (checked by test_sample_bodies_match_spec) ---

ORGANIZATION = {"id": ORG_ID, "name": "Acme Dental", "created_at": "2026-01-12T09:30:00Z"}

LLMS = {"llms": ["anthropic/claude-3-5-haiku", "openai/gpt-4.1", "openai/gpt-4.1-mini"]}

VOICES = {
    "voices": [
        {
            "id": "21m00Tcm4TlvDq8ikWAM",
            "name": "Rachel",
            "description": "Calm, young American female",
            "provider": "elevenlabs",
            "languages": ["en"],
            "preview_url": "https://cdn.example.com/voices/rachel.mp3",
            "featured": True,
        },
        {
            "id": "alloy",
            "name": "Alloy",
            "description": None,
            "provider": "openai",
            "languages": ["en", "es", "fr"],
            "preview_url": None,
        },
    ]
}

AGENT: dict[str, Any] = {
    "id": AGENT_ID,
    "phone_number_id": NUMBER_ID,
    "name": "Front desk",
    "llm": "openai/gpt-4.1-mini",
    "fallback_llm": "anthropic/claude-3-5-haiku",
    "status": "active",
    "prompt": "You are the front desk of Acme Dental. Book, move and cancel appointments.",
    "first_message": "Hi, this is Acme Dental. How can I help?",
    "first_message_interruption_time": 1.5,
    "default_language": "en",
    "summarize_calls": True,
    "created_at": "2026-04-02T10:15:00Z",
    "updated_at": "2026-05-10T08:00:00Z",
    "noise_cancel_settings": {"enabled": True, "level": 60},
    "vad_settings": {"start_secs": 0.2, "stop_secs": 0.8, "silence_timeout_secs": 12.5},
    "enable_first_message_outbound": False,
    "voice_settings": {
        "id": "21m00Tcm4TlvDq8ikWAM",
        "provider": "elevenlabs",
        "speed": 1.05,
        "stability": 0.5,
        "similarity_boost": 0.75,
        "volume": 1.0,
    },
    "timeout_settings": {
        "default_timeout": 30,
        "timeout_action": "transfer_call",
        "transfer_number": "+14155550123",
        "transfer_message": "Let me connect you to a colleague.",
        "silence_counter": 2,
        "silence_timeout_action": "end_call",
        "silence_transfer_number": "+14155550124",
    },
    "keyterms": ["Invisalign", "Dr. Okafor"],
}

AGENT_2 = {
    "id": AGENT_ID_2,
    "phone_number_id": "",
    "name": "After hours",
    "llm": "openai/gpt-4.1",
    "status": "inactive",
    "created_at": "2026-04-03T10:15:00Z",
    "updated_at": "2026-04-03T10:15:00Z",
}

VERSION = {
    "id": VERSION_ID,
    "agent_id": AGENT_ID,
    "created_at": "2026-04-02T10:15:00Z",
    "published_at": None,
    "tag": "v1",
}

PUBLISHED_VERSION = {**VERSION, "published_at": "2026-05-12T16:00:00Z"}

VERSION_DETAIL = {
    "version": PUBLISHED_VERSION,
    "nodes": [
        {"id": "start", "type": "conversation", "prompt": "Greet the caller.", "edges": [{"to": "book"}]},
        {"id": "book", "type": "tool", "tool": "book_slot", "position": {"x": 320, "y": 80}},
    ],
}

CALL: dict[str, Any] = {
    "id": CALL_ID,
    "agent_id": AGENT_ID,
    "graph_version_id": VERSION_ID,
    "organization_id": ORG_ID,
    "party_number": "+14155550199",
    "status": "ended",
    "source": "twilio",
    "termination_reason": "user_hangup",
    "extracted_variables": [
        {
            "name": "appointment_date",
            "type": "extracted",
            "description": "The day the caller wants to come in",
            "value": "2026-05-20",
            "dataType": "string",
            "rationale": "The caller said 'next Wednesday'.",
        },
        {"name": "caller", "type": "system", "value": {"first": "Ada", "visits": 3}, "dataType": "object"},
    ],
    "outbound": False,
    "created_at": "2026-05-12T14:03:11Z",
    "connected_at": "2026-05-12T14:03:12Z",
    "started_at": "2026-05-12T14:03:13Z",
    "ended_at": "2026-05-12T14:04:47Z",
    "summary": "The caller moved her cleaning to Wednesday 10:00.",
    "transcript": {
        "entries": [
            {
                "index": 0,
                "role": "assistant",
                "message": "Hi, this is Acme Dental. How can I help?",
                "type": "message",
                "createdAt": "2026-05-12T14:03:13Z",
                "durationMs": 2300,
                "turnId": "turn-1",
            },
            {
                "index": 1,
                "role": "user",
                "message": "I'd like to move my appointment to next Wednesday.",
                "type": "message",
                "createdAt": "2026-05-12T14:03:16Z",
                "durationMs": 2900,
                "turnId": "turn-2",
            },
            {
                "index": 2,
                "role": "",
                "type": "tool_call",
                "toolCall": {
                    "itemId": "item_01",
                    "callId": "call_9f2",
                    "toolName": "find_slot",
                    "arguments": '{"date": "2026-05-20"}',
                    "output": '{"slots": ["10:00", "14:30"]}',
                    "startedAt": "2026-05-12T14:03:20Z",
                    "endedAt": "2026-05-12T14:03:21Z",
                },
                "createdAt": "2026-05-12T14:03:20Z",
                "turnId": "turn-3",
            },
            {
                "index": 3,
                "role": "",
                "type": "tool_call_output",
                "toolCallOutput": '{"slots": ["10:00", "14:30"]}',
                "createdAt": "2026-05-12T14:03:21Z",
                "turnId": "turn-3",
            },
            {"index": 4, "role": "", "type": "interruption", "createdAt": "2026-05-12T14:03:30Z"},
        ]
    },
    "cost": 0.137,
    "tags": ["reschedule", "existing-patient"],
    "duration_seconds": 94,
    "feedback": {"stars": 5, "notes": "Quick and polite."},
}


def calls_page(ids: list[str], page: int, *, has_next: bool, page_size: int = 2, total: int = 5) -> Any:
    calls = [{"id": call_id, "agent_id": AGENT_ID, "status": "ended", "source": "api"} for call_id in ids]
    return {
        "calls": calls,
        "pagination": {
            "page": page,
            "page_size": page_size,
            "total": total,
            "total_pages": -(-total // page_size),
            "has_next": has_next,
            "has_prev": page > 1,
        },
    }


CALLS_PAGE = {
    "calls": [CALL],
    "pagination": {
        "page": 2,
        "page_size": 1,
        "total": 3,
        "total_pages": 3,
        "has_next": True,
        "has_prev": True,
    },
}

TWILIO_NUMBER = {
    "id": NUMBER_ID,
    "phone_number": "+14155550100",
    "phone_sid": "PN0123456789abcdef0123456789abcdef",
    "label": "Front desk line",
    "account_sid": "AC0123456789abcdef0123456789abcdef",
    "created_at": "2026-03-01T12:00:00Z",
    "updated_at": "2026-03-02T12:00:00Z",
}

SIP_TRUNK = {
    "id": TRUNK_ID,
    "created_at": "2026-03-05T09:00:00Z",
    "pbx": "3cx",
    "caller_id_transforms": [
        {"type": "strip_digits_start", "number": 1},
        {"type": "add_prefix", "value": "+1"},
    ],
    "inbound_host": "pbx.acme-dental.example",
    "inbound_auth_type": "digest",
    "inbound_sip_username": "acme-in",
    "inbound_registration_status": "registered",
    "outbound_host": "sip.carrier.example",
    "outbound_sip_username": "acme-out",
    "register": True,
    "outbound_registration_status": "pending",
    "remain_in_dialog": False,
}

ASSIGNMENT = {
    "id": ASSIGNMENT_ID,
    "agent_id": AGENT_ID,
    "sip_trunk_id": TRUNK_ID,
    "number": "1001",
    "alternate_number": "+14155550111",
    "created_at": "2026-03-05T09:10:00Z",
}

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzY29wZXMiOlsidm9pY2UiXX0.c2lnbmF0dXJl"
TOKEN = {"token": JWT}
WEBRTC_TOKEN = {
    "token": JWT,
    "webrtc_token": "eyJhbGciOiJIUzI1NiJ9.eyJ2aWRlbyI6eyJyb29tIjoicm0tMSJ9fQ.c2ln",
    "room": "rm-7d9e2f4a",
    "identity": "caller-3f2a",
    "url": "wss://sip.vatel.ai",
}


def _make_wav(seconds: float = 1.0) -> bytes:
    """A real WAV: PCM16 24 kHz mono, a ramp (so that no two chunks look alike)."""
    frames = int(24_000 * seconds)
    pcm = b"".join(((i * 37) % 65_536 - 32_768).to_bytes(2, "little", signed=True) for i in range(frames))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(24_000)
        wav.writeframes(pcm)
    return out.getvalue()


WAV = _make_wav()
RECORDING_PATH = f"/v1/calls/{CALL_ID}/recording"

# --- helpers -------------------------------------------------------------------------------------


class SleepRecorder:
    """Stands in for ``time.sleep`` and ``asyncio.sleep``: records the waits, never waits."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


def fast_client(
    base_url: str, *, api_key: str | None = API_KEY, sleeps: SleepRecorder | None = None, **kwargs: Any
) -> Client:
    """A Client whose retry waits are recorded instead of slept."""
    client = Client(api_key, base_url, **kwargs)
    recorder = sleeps if sleeps is not None else SleepRecorder()
    client._transport._sleep = recorder
    client._transport._async_sleep = recorder.async_sleep
    return client


def without_nulls(value: Any) -> Any:
    """The JSON value with every ``null`` member of every object left out (what ``to_wire`` gives)."""
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def assert_no_unknown_fields(model: BaseModel) -> None:
    """Every key of the answer landed in a declared field (nothing fell into ``model_extra``)."""
    if not isinstance(model, GraphNode):
        assert not model.model_extra, f"{type(model).__name__} kept unknown fields {model.model_extra}"
    for name in type(model).model_fields:
        value = getattr(model, name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, BaseModel):
                assert_no_unknown_fields(item)


def assert_model(result: Any, cls: type[BaseModel], body: Any) -> None:
    """``result`` is a ``cls`` that holds exactly ``body``."""
    assert type(result) is cls
    assert_no_unknown_fields(result)
    assert result.model_dump(mode="json", by_alias=True, exclude_none=True) == without_nulls(body)


def assert_models(result: Any, cls: type[BaseModel], bodies: list[Any]) -> None:
    assert isinstance(result, list)
    assert len(result) == len(bodies)
    for item, body in zip(result, bodies, strict=True):
        assert_model(item, cls, body)


def resolve(client: Client, name: str) -> Any:
    """``resolve(client, "agents.get")`` is ``client.agents.get``."""
    resource, method = name.split(".")
    return getattr(getattr(client, resource), method)


async def call_twin(client: Client, name: str, use_async: bool, *args: Any, **kwargs: Any) -> Any:
    """Call ``name`` (sync) or its ``name_async`` twin (awaited), with the same arguments."""
    if use_async:
        return await resolve(client, f"{name}_async")(*args, **kwargs)
    return resolve(client, name)(*args, **kwargs)


def files_in(folder: Path) -> list[str]:
    """The names in ``folder``, sorted (hidden ``.part`` files included)."""
    return sorted(path.name for path in folder.iterdir())


@pytest.fixture(scope="module")
def shared_http() -> Iterator[httpx.Client]:
    """One custom httpx client for the big error matrix (making one costs ~20 ms of TLS setup)."""
    with httpx.Client() as http:
        yield http


# --- one case per resource method ----------------------------------------------------------------


def check_organization(result: Any) -> None:
    assert_model(result, Organization, ORGANIZATION)


def check_llms(result: Any) -> None:
    assert_model(result, LLMStringsResponse, LLMS)
    assert result.llms == LLMS["llms"]


def check_voices(result: Any) -> None:
    assert_model(result, VoicesListResponse, VOICES)
    rachel, alloy = result.voices
    assert rachel.provider is TTSStrategy.ELEVENLABS
    assert rachel.featured is True
    assert alloy.provider is TTSStrategy.OPENAI
    assert alloy.description is None
    assert alloy.featured is None


def check_agent(result: Any) -> None:
    assert_model(result, Agent, AGENT)
    assert result.status is AgentStatus.ACTIVE
    assert result.voice_settings.provider is TTSStrategy.ELEVENLABS
    assert result.timeout_settings.timeout_action is TimeoutAction.TRANSFER_CALL
    assert result.timeout_settings.silence_timeout_action is TimeoutAction.END_CALL
    assert result.timeout_settings.silence_counter == 2
    assert result.vad_settings.silence_timeout_secs == 12.5
    assert result.noise_cancel_settings.level == 60
    assert result.keyterms == ["Invisalign", "Dr. Okafor"]


def check_agents(result: Any) -> None:
    assert_models(result, Agent, [AGENT, AGENT_2])
    assert result[1].status is AgentStatus.INACTIVE
    assert result[1].phone_number_id == ""


def check_versions(result: Any) -> None:
    assert_models(result, GraphVersion, [VERSION, PUBLISHED_VERSION])
    assert result[0].published_at is None


def check_version_detail(result: Any) -> None:
    assert_model(result, GraphVersionDetail, VERSION_DETAIL)
    assert result.version.published_at == "2026-05-12T16:00:00Z"
    assert [node.model_extra["id"] for node in result.nodes] == ["start", "book"]
    assert result.nodes[1].model_extra["position"] == {"x": 320, "y": 80}


def check_published(result: Any) -> None:
    assert_model(result, GraphVersion, PUBLISHED_VERSION)


def check_dial(result: Any) -> None:
    assert_model(result, DialAgentResponse, {"success": True})
    assert result.success is True


def check_call(result: Any) -> None:
    assert_model(result, Call, CALL)
    assert result.status is CallStatus.ENDED
    assert result.source is CallSource.TWILIO
    assert result.outbound is False
    first, second = result.extracted_variables
    assert first.type is ContextVariableType.EXTRACTED
    assert second.dataType is ContextVariableDataType.OBJECT
    assert second.value == {"first": "Ada", "visits": 3}
    entries = result.transcript.entries
    assert [entry.type for entry in entries] == [
        TranscriptEntryType.MESSAGE,
        TranscriptEntryType.MESSAGE,
        TranscriptEntryType.TOOL_CALL,
        TranscriptEntryType.TOOL_CALL_OUTPUT,
        TranscriptEntryType.INTERRUPTION,
    ]
    assert entries[2].toolCall.toolName == "find_slot"
    assert json.loads(entries[2].toolCall.arguments) == {"date": "2026-05-20"}
    assert entries[0].durationMs == 2300
    assert result.feedback.stars == 5
    assert result.cost == 0.137


def check_calls_page(result: Any) -> None:
    assert_model(result, PaginatedCallsResponse, CALLS_PAGE)
    check_call(result.calls[0])
    assert result.pagination.page == 2
    assert result.pagination.has_next is True


def check_recording(result: Any) -> None:
    assert type(result) is bytes
    assert result == WAV


def check_twilio_number(result: Any) -> None:
    assert_model(result, TwilioPhoneNumber, TWILIO_NUMBER)


def check_twilio_numbers(result: Any) -> None:
    assert_models(result, TwilioPhoneNumber, [TWILIO_NUMBER])


def check_trunk(result: Any) -> None:
    assert_model(result, SipTrunk, SIP_TRUNK)
    assert result.pbx is PbxType.THREE_CX
    assert result.register_trunk is True
    assert result.inbound_auth_type is SIPTrunkAuthType.DIGEST
    assert result.inbound_registration_status is RegistrationStatus.REGISTERED
    assert result.outbound_registration_status is RegistrationStatus.PENDING
    assert [t.type for t in result.caller_id_transforms] == [
        CallerTransformType.STRIP_DIGITS_START,
        CallerTransformType.ADD_PREFIX,
    ]
    assert result.caller_id_transforms[0].number == 1


def check_trunks(result: Any) -> None:
    assert_models(result, SipTrunk, [SIP_TRUNK])
    check_trunk(result[0])


def check_assignment(result: Any) -> None:
    assert_model(result, SipTrunkAgentAssignment, ASSIGNMENT)


def check_assignments(result: Any) -> None:
    assert_models(result, SipTrunkAgentAssignment, [ASSIGNMENT])


def check_webrtc_token(result: Any) -> None:
    assert_model(result, SessionTokenResponse, WEBRTC_TOKEN)


def check_none(result: Any) -> None:
    assert result is None


@dataclass(frozen=True)
class Case:
    """One resource method: the call, the scripted answer, what must be sent, how to check the result."""

    id: str
    name: str
    args: tuple[Any, ...]
    method: str
    path: str
    answer: Any
    check: Callable[[Any], None]
    kwargs: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    sent: Any = None
    """The JSON body that must be sent; ``None``: no body at all."""
    sent_schema: str | None = None
    """The OpenAPI schema ``sent`` must match (checked in test_sample_bodies_match_spec)."""
    query: dict[str, list[str]] = field(default_factory=dict)
    raw_answer: bytes | None = None
    accept: str = "application/json"


AGENT_PATH = f"/v1/agents/{AGENT_ID}"
TRUNK_PATH = f"/v1/sip-trunks/{TRUNK_ID}"
ASSIGNMENT_PATH = f"/v1/sip-trunks/assignments/{ASSIGNMENT_ID}"

NEW_AGENT = {
    "name": "Front desk",
    "llm": "openai/gpt-4.1-mini",
    "prompt": "You are the front desk of Acme Dental. Book, move and cancel appointments.",
    "voice_settings": {"id": "21m00Tcm4TlvDq8ikWAM", "provider": "elevenlabs"},
    "vad_settings": {"stop_secs": 0.8},
    "keyterms": ["Invisalign"],
}

CASES = [
    Case(
        "organization.get",
        "organization.get",
        (),
        "GET",
        "/v1/organization",
        ORGANIZATION,
        check_organization,
    ),
    Case("llms.list", "llms.list", (), "GET", "/v1/llms", LLMS, check_llms),
    Case("voices.list", "voices.list", (), "GET", "/v1/voices", VOICES, check_voices),
    Case("agents.list", "agents.list", (), "GET", "/v1/agents", [AGENT, AGENT_2], check_agents),
    Case(
        "agents.create-dict",
        "agents.create",
        (NEW_AGENT,),
        "POST",
        "/v1/agents",
        AGENT,
        check_agent,
        status=201,
        sent=NEW_AGENT,
        sent_schema="AgentCreateInput",
    ),
    Case(
        "agents.create-model",
        "agents.create",
        (AgentCreateInput(name="Front desk", status=AgentStatus.ACTIVE, summarize_calls=False),),
        "POST",
        "/v1/agents",
        AGENT,
        check_agent,
        status=201,
        sent={"name": "Front desk", "status": "active", "summarize_calls": False},
        sent_schema="AgentCreateInput",
    ),
    Case("agents.get", "agents.get", (AGENT_ID,), "GET", AGENT_PATH, AGENT, check_agent),
    Case(
        "agents.update",
        "agents.update",
        (AGENT_ID, AgentUpdateInput(phone_number_id=None, first_message="Hello!")),
        "PATCH",
        AGENT_PATH,
        AGENT,
        check_agent,
        # An explicit None clears the number: it must be sent as null, not dropped.
        sent={"phone_number_id": None, "first_message": "Hello!"},
        sent_schema="AgentUpdateInput",
    ),
    Case("agents.delete", "agents.delete", (AGENT_ID,), "DELETE", AGENT_PATH, None, check_none, status=204),
    Case(
        "agents.list_versions",
        "agents.list_versions",
        (AGENT_ID,),
        "GET",
        f"{AGENT_PATH}/versions",
        [VERSION, PUBLISHED_VERSION],
        check_versions,
    ),
    Case(
        "agents.get_version",
        "agents.get_version",
        (AGENT_ID, VERSION_ID),
        "GET",
        f"{AGENT_PATH}/versions/{VERSION_ID}",
        VERSION_DETAIL,
        check_version_detail,
    ),
    Case(
        "agents.publish_version",
        "agents.publish_version",
        (AGENT_ID, VERSION_ID),
        "POST",
        f"{AGENT_PATH}/versions/{VERSION_ID}/publish",
        PUBLISHED_VERSION,
        check_published,
    ),
    Case(
        "agents.dial-all",
        "agents.dial",
        (AGENT_ID, "+14155550100"),
        "POST",
        f"{AGENT_PATH}/dial",
        {"success": True},
        check_dial,
        kwargs={
            "sip_trunk_id": TRUNK_ID,
            "caller_id": "front-desk",
            "first_message": "Hi, this is Acme Dental calling about your appointment.",
            "prompt": "Confirm tomorrow's appointment.",
        },
        query={
            "number": ["+14155550100"],
            "sipTrunkId": [TRUNK_ID],
            "callerId": ["front-desk"],
            "firstMessage": ["Hi, this is Acme Dental calling about your appointment."],
            "prompt": ["Confirm tomorrow's appointment."],
        },
    ),
    Case(
        "agents.dial-destination",
        "agents.dial",
        (AGENT_ID,),
        "POST",
        f"{AGENT_PATH}/dial",
        {"success": True},
        check_dial,
        kwargs={"destination": "sip:1001@pbx.acme-dental.example"},
        query={"destination": ["sip:1001@pbx.acme-dental.example"]},
    ),
    Case(
        "calls.list",
        "calls.list",
        (),
        "GET",
        "/v1/calls",
        CALLS_PAGE,
        check_calls_page,
        kwargs={"page": 2, "page_size": 1, "status": CallStatus.ENDED},
        query={"page": ["2"], "page_size": ["1"], "status": ["ended"]},
    ),
    Case("calls.get", "calls.get", (CALL_ID,), "GET", f"/v1/calls/{CALL_ID}", CALL, check_call),
    Case(
        "calls.download_recording",
        "calls.download_recording",
        (CALL_ID,),
        "GET",
        RECORDING_PATH,
        None,
        check_recording,
        raw_answer=WAV,
        accept="audio/wav",
    ),
    Case(
        "twilio_numbers.list",
        "twilio_numbers.list",
        (),
        "GET",
        "/v1/twilio/numbers",
        [TWILIO_NUMBER],
        check_twilio_numbers,
    ),
    Case(
        "twilio_numbers.import_number",
        "twilio_numbers.import_number",
        (
            TwilioPhoneNumberImportInput(
                phone_number="+14155550100",
                account_sid="AC0123456789abcdef0123456789abcdef",
                auth_token="twilio-auth-token",
                label="Front desk line",
            ),
        ),
        "POST",
        "/v1/twilio/numbers",
        TWILIO_NUMBER,
        check_twilio_number,
        status=201,
        sent={
            "phone_number": "+14155550100",
            "account_sid": "AC0123456789abcdef0123456789abcdef",
            "auth_token": "twilio-auth-token",
            "label": "Front desk line",
        },
        sent_schema="TwilioPhoneNumberImportInput",
    ),
    Case(
        "twilio_numbers.update_label",
        "twilio_numbers.update_label",
        (NUMBER_ID, {"label": "Reception"}),
        "PATCH",
        f"/v1/twilio/numbers/{NUMBER_ID}",
        TWILIO_NUMBER,
        check_twilio_number,
        sent={"label": "Reception"},
        sent_schema="TwilioPhoneNumberLabelPatchInput",
    ),
    Case("sip_trunks.list", "sip_trunks.list", (), "GET", "/v1/sip-trunks", [SIP_TRUNK], check_trunks),
    Case(
        "sip_trunks.create",
        "sip_trunks.create",
        (
            SipTrunkCreateInput(
                pbx=PbxType.THREE_CX,
                inbound_host="pbx.acme-dental.example",
                inbound_auth_type=SIPTrunkAuthType.DIGEST,
                inbound_sip_username="acme-in",
                inbound_sip_password="in-secret",
                register_trunk=True,
            ),
        ),
        "POST",
        "/v1/sip-trunks",
        SIP_TRUNK,
        check_trunk,
        status=201,
        sent={
            "pbx": "3cx",
            "inbound_host": "pbx.acme-dental.example",
            "inbound_auth_type": "digest",
            "inbound_sip_username": "acme-in",
            "inbound_sip_password": "in-secret",
            "register": True,
        },
        sent_schema="SipTrunkCreateInput",
    ),
    Case("sip_trunks.get", "sip_trunks.get", (TRUNK_ID,), "GET", TRUNK_PATH, SIP_TRUNK, check_trunk),
    Case(
        "sip_trunks.update",
        "sip_trunks.update",
        (TRUNK_ID, {"caller_id_transforms": [], "register": False}),
        "PATCH",
        TRUNK_PATH,
        SIP_TRUNK,
        check_trunk,
        sent={"caller_id_transforms": [], "register": False},
        sent_schema="SipTrunkUpdateInput",
    ),
    Case(
        "sip_trunks.delete",
        "sip_trunks.delete",
        (TRUNK_ID,),
        "DELETE",
        TRUNK_PATH,
        None,
        check_none,
        status=204,
    ),
    Case(
        "sip_trunks.list_assignments",
        "sip_trunks.list_assignments",
        (TRUNK_ID,),
        "GET",
        f"{TRUNK_PATH}/assignments",
        [ASSIGNMENT],
        check_assignments,
    ),
    Case(
        "sip_trunks.create_assignment",
        "sip_trunks.create_assignment",
        (TRUNK_ID, {"agent_id": AGENT_ID, "number": "1001"}),
        "POST",
        f"{TRUNK_PATH}/assignments",
        ASSIGNMENT,
        check_assignment,
        status=201,
        sent={"agent_id": AGENT_ID, "number": "1001"},
        sent_schema="SipTrunkAgentAssignmentCreateInput",
    ),
    Case(
        "sip_trunks.get_assignment",
        "sip_trunks.get_assignment",
        (ASSIGNMENT_ID,),
        "GET",
        ASSIGNMENT_PATH,
        ASSIGNMENT,
        check_assignment,
    ),
    Case(
        "sip_trunks.update_assignment",
        "sip_trunks.update_assignment",
        (ASSIGNMENT_ID, SipTrunkAgentAssignmentPatchInput(number=None, alternate_number="+14155550112")),
        "PATCH",
        ASSIGNMENT_PATH,
        ASSIGNMENT,
        check_assignment,
        # null clears the number, an omitted key leaves it: the null must be on the wire.
        sent={"number": None, "alternate_number": "+14155550112"},
        sent_schema="SipTrunkAgentAssignmentPatchInput",
    ),
    Case(
        "sip_trunks.delete_assignment",
        "sip_trunks.delete_assignment",
        (ASSIGNMENT_ID,),
        "DELETE",
        ASSIGNMENT_PATH,
        None,
        check_none,
        status=204,
    ),
    Case(
        "session.generate_token",
        "session.generate_token",
        (AGENT_ID,),
        "POST",
        "/v1/session-token",
        WEBRTC_TOKEN,
        check_webrtc_token,
        kwargs={
            "version_id": VERSION_ID,
            "chat_id": CHAT_ID,
            "transport": Transport.WEBRTC,
            "first_message": "Hello from the web!",
            "prompt": "Be brief.",
            "chat": True,
        },
        sent={
            "agent_id": AGENT_ID,
            "version_id": VERSION_ID,
            "chat_id": CHAT_ID,
            "transport": "webrtc",
            "first_message": "Hello from the web!",
            "prompt": "Be brief.",
            "chat": True,
        },
        sent_schema="GenerateSessionTokenRequest",
    ),
]

# Methods tested by their own tests below rather than by a Case.
COVERED_ELSEWHERE = {"calls.iter"}


def script(server: FakeServer, case: Case) -> None:
    if case.raw_answer is not None:
        server.reply(
            case.method, case.path, case.status, body=case.raw_answer, headers={"content-type": case.accept}
        )
    elif case.answer is None:
        server.reply(case.method, case.path, case.status)
    else:
        server.reply(case.method, case.path, case.status, json=case.answer)


def assert_sent(server: FakeServer, case: Case) -> None:
    [request] = server.requests
    assert request.method == case.method
    assert request.path == case.path
    assert request.prefix == ""
    assert request.params == case.query
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["accept"] == case.accept
    assert request.headers["user-agent"] == f"vatel-python/{vatel.__version__}"
    if case.sent is None:
        assert request.body == b""
        assert "content-type" not in request.headers
    else:
        assert request.headers["content-type"] == "application/json"
        assert request.json() == case.sent


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_resource_method_sync(fake_server: FakeServer, case: Case) -> None:
    script(fake_server, case)
    with fast_client(fake_server.url) as client:
        result = resolve(client, case.name)(*case.args, **case.kwargs)
    case.check(result)
    assert_sent(fake_server, case)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_resource_method_async(fake_server: FakeServer, case: Case) -> None:
    script(fake_server, case)
    async with fast_client(fake_server.url) as client:
        result = await resolve(client, f"{case.name}_async")(*case.args, **case.kwargs)
    case.check(result)
    assert_sent(fake_server, case)


def test_every_resource_method_has_a_case_and_an_async_twin() -> None:
    client = Client(API_KEY, "http://127.0.0.1:9")
    covered = {case.name for case in CASES} | COVERED_ELSEWHERE
    found: set[str] = set()
    for resource in (
        "organization",
        "llms",
        "voices",
        "agents",
        "calls",
        "twilio_numbers",
        "sip_trunks",
        "session",
    ):
        api = getattr(client, resource)
        for attr in dir(api):
            if attr.startswith("_") or not callable(getattr(api, attr)):
                continue
            if attr.endswith("_async"):
                assert callable(getattr(api, attr.removesuffix("_async"), None)), f"{attr} has no sync twin"
                continue
            assert callable(getattr(api, f"{attr}_async", None)), f"{resource}.{attr} has no _async twin"
            found.add(f"{resource}.{attr}")
    assert found - covered == set(), "resource methods without a loopback test"
    assert covered - found == set(), "cases for methods that do not exist"
    client.close()


def _spec_schema(name: str) -> dict[str, Any]:
    spec = json.loads(SPEC_PATH.read_text())
    return {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}


SAMPLE_BODIES: list[tuple[str, Any]] = [
    ("Organization", ORGANIZATION),
    ("LLMStringsResponse", LLMS),
    ("VoicesListResponse", VOICES),
    ("Agent", AGENT),
    ("Agent", AGENT_2),
    ("GraphVersion", VERSION),
    ("GraphVersion", PUBLISHED_VERSION),
    ("GraphVersionDetail", VERSION_DETAIL),
    ("Call", CALL),
    ("PaginatedCallsResponse", CALLS_PAGE),
    ("PaginatedCallsResponse", calls_page(["a", "b"], 1, has_next=True)),
    ("TwilioPhoneNumber", TWILIO_NUMBER),
    ("SipTrunk", SIP_TRUNK),
    ("SipTrunkAgentAssignment", ASSIGNMENT),
    ("SessionTokenResponse", TOKEN),
    ("SessionTokenResponse", WEBRTC_TOKEN),
    ("DialAgentResponse", {"success": True}),
] + [(case.sent_schema, case.sent) for case in CASES if case.sent_schema is not None]


@pytest.mark.skipif(not SPEC_PATH.is_file(), reason="the OpenAPI document is not beside the project")
@pytest.mark.parametrize(
    ("schema", "body"), SAMPLE_BODIES, ids=[f"{s}-{i}" for i, (s, _) in enumerate(SAMPLE_BODIES)]
)
def test_sample_bodies_match_spec(schema: str, body: Any) -> None:
    """The answers scripted here and the bodies expected on the wire are valid per the OpenAPI."""
    validate(body, _spec_schema(schema), cls=OAS30Validator)


# --- session token body ---------------------------------------------------------------------------


def test_generate_token_sends_only_the_agent_id_when_nothing_else_is_set(fake_server: FakeServer) -> None:
    fake_server.reply("POST", "/v1/session-token", json=TOKEN)
    with fast_client(fake_server.url) as client:
        result = client.session.generate_token(AGENT_ID)
    assert fake_server.last.body == b'{"agent_id":"' + AGENT_ID.encode() + b'"}'
    assert result.token == JWT
    assert result.webrtc_token is None


def test_generate_token_sends_false_but_never_null(fake_server: FakeServer) -> None:
    fake_server.reply("POST", "/v1/session-token", json=TOKEN)
    with fast_client(fake_server.url) as client:
        client.session.generate_token(AGENT_ID, chat=False, transport="websocket", prompt="")
    body = fake_server.last.body
    assert b"null" not in body
    assert json.loads(body) == {"agent_id": AGENT_ID, "transport": "websocket", "prompt": "", "chat": False}


@pytest.mark.parametrize(
    "variables",
    [
        {"customer_name": "Ada Lovelace", "plan": "gold"},
        [{"key": "customer_name", "value": "Ada Lovelace"}, SessionVariable(key="plan", value="gold")],
    ],
    ids=["dict", "list"],
)
async def test_generate_token_sends_variables_as_key_value_list(
    fake_server: FakeServer, variables: Any
) -> None:
    fake_server.reply("POST", "/v1/session-token", json=TOKEN)
    async with fast_client(fake_server.url) as client:
        await client.session.generate_token_async(AGENT_ID, variables=variables)
    assert json.loads(fake_server.last.body) == {
        "agent_id": AGENT_ID,
        "variables": [{"key": "customer_name", "value": "Ada Lovelace"}, {"key": "plan", "value": "gold"}],
    }


# --- auth, base URL, custom httpx clients --------------------------------------------------------


def test_api_key_falls_back_to_env(fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VATEL_API_KEY", "vk_from_env")
    fake_server.reply("GET", "/v1/organization", json=ORGANIZATION)
    with Client(base_url=fake_server.url) as client:
        assert client.api_key == "vk_from_env"
        client.organization.get()
    assert fake_server.last.headers["authorization"] == "Bearer vk_from_env"


def test_explicit_api_key_beats_env(fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VATEL_API_KEY", "vk_from_env")
    fake_server.reply("GET", "/v1/organization", json=ORGANIZATION)
    with Client("vk_explicit", fake_server.url) as client:
        client.organization.get()
    assert fake_server.last.headers["authorization"] == "Bearer vk_explicit"


@pytest.mark.parametrize("env", [None, ""], ids=["unset", "empty"])
def test_no_api_key_sends_no_auth_and_says_so_on_401(
    fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch, env: str | None
) -> None:
    if env is None:
        monkeypatch.delenv("VATEL_API_KEY", raising=False)
    else:
        monkeypatch.setenv("VATEL_API_KEY", env)
    fake_server.reply("GET", "/v1/organization", 401, json={"error": "missing bearer token"})
    with Client(base_url=fake_server.url) as client:
        assert client.api_key is None
        with pytest.raises(AuthenticationError) as info:
            client.organization.get()
    assert "authorization" not in fake_server.last.headers
    assert info.value.message.startswith("HTTP 401 Unauthorized: missing bearer token")
    assert "VATEL_API_KEY" in info.value.message


def test_base_url_path_prefix_is_kept(fake_server: FakeServer) -> None:
    fake_server.reply("GET", "/v1/organization", json=ORGANIZATION)
    with fast_client(fake_server.prefixed_url + "/") as client:
        assert client.base_url == fake_server.prefixed_url
        client.organization.get()
    request = fake_server.last
    assert request.prefix == PREFIX
    assert request.full_path == f"{PREFIX}/v1/organization"


def test_custom_http_client_without_base_url_or_auth(fake_server: FakeServer) -> None:
    fake_server.reply("GET", "/v1/organization", json=ORGANIZATION)
    with httpx.Client() as http:
        client = Client(API_KEY, fake_server.url, http_client=http)
        check_organization(client.organization.get())
        client.close()
        assert not http.is_closed, "close() closed a client it did not make"
        # Still usable by its owner.
        assert http.get(f"{fake_server.url}/v1/organization").status_code == 200
    assert fake_server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert fake_server.requests[0].path == "/v1/organization"


def test_custom_http_client_with_other_base_url_and_auth(fake_server: FakeServer) -> None:
    """The Client's base URL and key win; the custom client's own extra headers are kept."""
    fake_server.reply("GET", "/v1/organization", json=ORGANIZATION)
    other = f"http://127.0.0.1:{closed_port()}"
    with httpx.Client(
        base_url=other, headers={"Authorization": "Bearer wrong", "X-Trace-Id": "t-42"}
    ) as http:
        with Client(API_KEY, fake_server.url, http_client=http, max_retries=0) as client:
            client.organization.get()
        assert not http.is_closed
    assert fake_server.last.headers["authorization"] == f"Bearer {API_KEY}"
    assert fake_server.last.headers["x-trace-id"] == "t-42"


async def test_custom_async_http_client_without_base_url_or_auth(fake_server: FakeServer) -> None:
    fake_server.reply("GET", "/v1/organization", json=ORGANIZATION)
    async with httpx.AsyncClient() as http:
        client = Client(API_KEY, fake_server.url, async_http_client=http)
        check_organization(await client.organization.get_async())
        # The sync side has no custom client: it makes (and later closes) its own.
        check_organization(client.organization.get())
        own = client._transport._client
        await client.aclose()
        client.close()
        assert not http.is_closed, "aclose() closed a client it did not make"
        assert own is not None
        assert own.is_closed
        assert (await http.get(f"{fake_server.url}/v1/organization")).status_code == 200
    assert [r.headers["authorization"] for r in fake_server.requests[:2]] == [f"Bearer {API_KEY}"] * 2


def test_sync_close_keeps_custom_async_client_open(fake_server: FakeServer) -> None:
    http = httpx.AsyncClient()
    client = Client(API_KEY, fake_server.url, async_http_client=http)
    client.close()
    assert not http.is_closed
    asyncio.run(http.aclose())


# --- closing -------------------------------------------------------------------------------------


def test_with_closes_and_later_calls_raise(fake_server: FakeServer) -> None:
    fake_server.reply("GET", "/v1/organization", json=ORGANIZATION)
    with fast_client(fake_server.url) as client:
        client.organization.get()
        own = client._transport._client
    assert own is not None
    assert own.is_closed
    with pytest.raises(ClientClosedError, match="closed"):
        client.organization.get()
    with pytest.raises(RuntimeError):  # ClientClosedError is also a RuntimeError
        client.agents.list()
    assert len(fake_server.requests) == 1
    client.close()  # closing again is harmless


async def test_async_with_closes_and_later_calls_raise(fake_server: FakeServer) -> None:
    fake_server.reply("GET", "/v1/organization", json=ORGANIZATION)
    async with fast_client(fake_server.url) as client:
        await client.organization.get_async()
        client.organization.get()
        own_async = client._transport._async_client
        own_sync = client._transport._client
    assert own_async is not None
    assert own_sync is not None
    assert own_async.is_closed
    assert own_sync.is_closed
    with pytest.raises(ClientClosedError):
        await client.organization.get_async()
    with pytest.raises(ClientClosedError):
        client.organization.get()
    assert len(fake_server.requests) == 2
    await client.aclose()
    client.close()


def test_close_after_async_use_outside_any_loop(fake_server: FakeServer) -> None:
    """The official SDK raised here (sync close() on an AsyncClient)."""
    fake_server.reply("GET", "/v1/organization", json=ORGANIZATION)
    client = fast_client(fake_server.url)
    check_organization(asyncio.run(client.organization.get_async()))
    check_organization(client.organization.get())
    own_async = client._transport._async_client
    client.close()
    assert own_async is not None
    assert own_async.is_closed
    with pytest.raises(ClientClosedError):
        client.organization.get()
    with pytest.raises(ClientClosedError):
        asyncio.run(client.organization.get_async())
    # The pooled connection belonged to the loop asyncio.run closed: nothing can close it
    # gracefully any more, only the garbage collector (with a ResourceWarning). Collect it here
    # so that the warning is not reported against some later test.
    del own_async
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


async def test_close_after_async_use_inside_a_loop(fake_server: FakeServer) -> None:
    fake_server.reply("GET", "/v1/organization", json=ORGANIZATION)
    client = fast_client(fake_server.url)
    await client.organization.get_async()
    own_async = client._transport._async_client
    assert own_async is not None
    client.close()  # sync close() from async code: schedules the async close
    with pytest.raises(ClientClosedError):
        await client.organization.get_async()
    await client.aclose()  # waits for the scheduled close
    assert own_async.is_closed


async def test_aclose_without_any_call_and_twice() -> None:
    client = Client(API_KEY, "http://127.0.0.1:9")
    await client.aclose()
    await client.aclose()
    with pytest.raises(ClientClosedError):
        await client.llms.list_async()


# --- typed errors --------------------------------------------------------------------------------

STATUS_CLASSES: list[tuple[int, type[APIError]]] = [
    (400, BadRequestError),
    (401, AuthenticationError),
    (403, PermissionDeniedError),
    (404, NotFoundError),
    (409, ConflictError),
    (429, RateLimitError),
    (500, InternalServerError),
    (502, InternalServerError),
    (503, InternalServerError),
    (405, APIError),
    (413, APIError),
]

REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}

HTML_PAGE = (
    b"<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n"
    b"<center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx/1.25.3</center>\n</body>\n</html>\n"
)
HTML_NO_TITLE = b"<!DOCTYPE html><html><body><h1>Oops</h1>\n<p>Something   broke.</p></body></html>"
TEXT = b"upstream connect error or disconnect/reset before headers. reset reason: overflow"

# (body, content type, summary expected in the message, .body expected)
ERROR_BODIES = [
    pytest.param(
        b'{"error":"agent not found"}',
        "application/json",
        "agent not found",
        {"error": "agent not found"},
        id="error-json",
    ),
    pytest.param(b"", None, "empty body", None, id="empty"),
    pytest.param(b"  \r\n", "text/plain", "empty body", None, id="blank"),
    pytest.param(HTML_PAGE, "text/html", "HTML page: 502 Bad Gateway", HTML_PAGE.decode(), id="html"),
    pytest.param(
        HTML_NO_TITLE,
        "text/html; charset=utf-8",
        "HTML page: Oops Something broke.",
        HTML_NO_TITLE.decode(),
        id="html-no-title",
    ),
    pytest.param(TEXT, "text/plain; charset=utf-8", TEXT.decode(), TEXT.decode(), id="text"),
    pytest.param(
        b'{"detail":"Not Found","code":"E_NOT_FOUND"}',
        "application/json",
        '{"detail":"Not Found","code":"E_NOT_FOUND"}',
        {"detail": "Not Found", "code": "E_NOT_FOUND"},
        id="json-without-error",
    ),
    pytest.param(
        b'{"error":{"message":"quota exceeded","type":"quota"}}',
        "application/json",
        "quota exceeded",
        {"error": {"message": "quota exceeded", "type": "quota"}},
        id="nested-error",
    ),
    pytest.param(
        b'{"message":"try later"}', "application/json", "try later", {"message": "try later"}, id="message"
    ),
    pytest.param(b'["bad", 1]', "application/json", '["bad",1]', ["bad", 1], id="json-array"),
]


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES, ids=[str(s) for s, _ in STATUS_CLASSES])
@pytest.mark.parametrize(("body", "content_type", "summary", "parsed"), ERROR_BODIES)
def test_error_status_and_body(
    fake_server: FakeServer,
    status: int,
    cls: type[APIError],
    body: bytes,
    content_type: str | None,
    summary: str,
    parsed: Any,
    shared_http: httpx.Client,
) -> None:
    headers = {"content-type": content_type} if content_type else None
    fake_server.reply("GET", AGENT_PATH, status, body=body, headers=headers)
    client = fast_client(fake_server.url, max_retries=0, http_client=shared_http)
    with client, pytest.raises(APIError) as info:
        client.agents.get(AGENT_ID)
    error = info.value
    assert type(error) is cls
    assert isinstance(error, VatelError)
    assert error.status_code == status
    assert error.body == parsed
    assert error.message == f"HTTP {status} {REASONS[status]}: {summary}"
    assert error.request == f"GET {AGENT_PATH}"
    assert str(error) == f"GET {AGENT_PATH}: {error.message}"
    assert len(fake_server.requests) == 1


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES, ids=[str(s) for s, _ in STATUS_CLASSES])
async def test_error_status_async_post(fake_server: FakeServer, status: int, cls: type[APIError]) -> None:
    fake_server.reply("POST", "/v1/session-token", status, json={"error": f"nope {status}"})
    async with fast_client(fake_server.url) as client:
        with pytest.raises(APIError) as info:
            await client.session.generate_token_async(AGENT_ID)
    assert type(info.value) is cls
    assert info.value.status_code == status
    assert info.value.body == {"error": f"nope {status}"}
    assert info.value.message == f"HTTP {status} {REASONS[status]}: nope {status}"
    assert len(fake_server.requests) == 1, "a POST must never be retried"


def test_rate_limit_error_exposes_retry_after(fake_server: FakeServer) -> None:
    fake_server.reply("GET", "/v1/agents", 429, json={"error": "slow down"}, headers={"Retry-After": "7"})
    with fast_client(fake_server.url, max_retries=0) as client, pytest.raises(RateLimitError) as info:
        client.agents.list()
    assert info.value.retry_after == 7.0
    assert info.value.headers["retry-after"] == "7"


# --- retries -------------------------------------------------------------------------------------


def test_get_503_then_200_is_retried(fake_server: FakeServer) -> None:
    fake_server.reply("GET", "/v1/agents", 503, json={"error": "warming up"})
    fake_server.reply("GET", "/v1/agents", json=[AGENT, AGENT_2])
    sleeps = SleepRecorder()
    with fast_client(fake_server.url, sleeps=sleeps) as client:
        check_agents(client.agents.list())
    assert [r.method for r in fake_server.requests] == ["GET", "GET"]
    [wait] = sleeps.waits
    assert 0.375 <= wait <= 0.625  # 0.5 s backoff, ±25 % jitter


async def test_get_503_then_200_is_retried_async(fake_server: FakeServer) -> None:
    fake_server.reply("GET", f"/v1/calls/{CALL_ID}", 503)
    fake_server.reply("GET", f"/v1/calls/{CALL_ID}", 502)
    fake_server.reply("GET", f"/v1/calls/{CALL_ID}", json=CALL)
    sleeps = SleepRecorder()
    async with fast_client(fake_server.url, sleeps=sleeps) as client:
        check_call(await client.calls.get_async(CALL_ID))
    assert len(fake_server.requests) == 3
    assert len(sleeps.waits) == 2


@pytest.mark.parametrize("status", [500, 503, 429])
def test_post_and_patch_are_not_retried(fake_server: FakeServer, status: int) -> None:
    fake_server.reply("POST", "/v1/session-token", status, headers={"Retry-After": "0"})
    fake_server.reply("POST", "/v1/session-token", json=TOKEN)
    fake_server.reply("PATCH", AGENT_PATH, status, headers={"Retry-After": "0"})
    fake_server.reply("PATCH", AGENT_PATH, json=AGENT)
    sleeps = SleepRecorder()
    with fast_client(fake_server.url, sleeps=sleeps, max_retries=5) as client:
        with pytest.raises(APIError) as post_error:
            client.session.generate_token(AGENT_ID)
        with pytest.raises(APIError) as patch_error:
            client.agents.update(AGENT_ID, {"name": "x"})
    assert post_error.value.status_code == status
    assert patch_error.value.status_code == status
    assert [(r.method, r.path) for r in fake_server.requests] == [
        ("POST", "/v1/session-token"),
        ("PATCH", AGENT_PATH),
    ]
    assert sleeps.waits == []


async def test_post_503_is_not_retried_async(fake_server: FakeServer) -> None:
    fake_server.reply("POST", "/v1/agents", 503, json={"error": "overloaded"})
    fake_server.reply("POST", "/v1/agents", 201, json=AGENT)
    async with fast_client(fake_server.url) as client:
        with pytest.raises(InternalServerError, match="overloaded"):
            await client.agents.create_async({"name": "Front desk"})
    assert len(fake_server.requests) == 1


def test_delete_is_retried(fake_server: FakeServer) -> None:
    fake_server.reply("DELETE", AGENT_PATH, 502, body=HTML_PAGE, headers={"content-type": "text/html"})
    fake_server.reply("DELETE", AGENT_PATH, 204)
    with fast_client(fake_server.url) as client:
        client.agents.delete(AGENT_ID)
    assert [r.method for r in fake_server.requests] == ["DELETE", "DELETE"]


def test_429_retry_after_zero_is_retried_on_get(fake_server: FakeServer) -> None:
    fake_server.reply("GET", "/v1/llms", 429, json={"error": "rate limited"}, headers={"Retry-After": "0"})
    fake_server.reply("GET", "/v1/llms", json=LLMS)
    sleeps = SleepRecorder()
    with fast_client(fake_server.url, sleeps=sleeps) as client:
        check_llms(client.llms.list())
    assert len(fake_server.requests) == 2
    assert sleeps.waits == [0.0]


def test_retry_after_seconds_and_date_are_honoured(fake_server: FakeServer) -> None:
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    fake_server.reply("GET", "/v1/llms", 503, headers={"Retry-After": "3"})
    fake_server.reply("GET", "/v1/llms", 429, headers={"Retry-After": soon})
    fake_server.reply("GET", "/v1/llms", json=LLMS)
    sleeps = SleepRecorder()
    with fast_client(fake_server.url, sleeps=sleeps, max_retries=2) as client:
        client.llms.list()
    assert len(fake_server.requests) == 3
    assert sleeps.waits[0] == 3.0
    assert 15.0 < sleeps.waits[1] <= 20.0


@pytest.mark.parametrize("max_retries", [0, 1, 3])
def test_max_retries_is_respected(fake_server: FakeServer, max_retries: int) -> None:
    fake_server.reply("GET", "/v1/voices", 503, json={"error": "down for maintenance"})
    sleeps = SleepRecorder()
    client = fast_client(fake_server.url, sleeps=sleeps, max_retries=max_retries)
    with client, pytest.raises(InternalServerError, match="down for maintenance") as info:
        client.voices.list()
    assert info.value.status_code == 503
    assert len(fake_server.requests) == max_retries + 1
    assert len(sleeps.waits) == max_retries
    for attempt, wait in enumerate(sleeps.waits):
        base = 0.5 * 2**attempt
        assert 0.75 * base <= wait <= 1.25 * base


def test_client_errors_are_not_retried(fake_server: FakeServer) -> None:
    fake_server.reply("GET", AGENT_PATH, 404, json={"error": "agent not found"})
    sleeps = SleepRecorder()
    with fast_client(fake_server.url, sleeps=sleeps) as client, pytest.raises(NotFoundError):
        client.agents.get(AGENT_ID)
    assert len(fake_server.requests) == 1
    assert sleeps.waits == []


@pytest.mark.parametrize("name", ["agents.list", "session.generate_token"])
def test_connection_refused_is_retried_then_raises(name: str) -> None:
    """Nothing reached a server, so even a POST may be tried again."""
    base_url = f"http://127.0.0.1:{closed_port()}"
    sleeps = SleepRecorder()
    args = (AGENT_ID,) if name == "session.generate_token" else ()
    with (
        fast_client(base_url, sleeps=sleeps, max_retries=2) as client,
        pytest.raises(APIConnectionError) as info,
    ):
        resolve(client, name)(*args)
    assert type(info.value) is APIConnectionError
    assert info.value.status_code is None
    assert info.value.body is None
    assert info.value.message.startswith(f"cannot reach {base_url}")
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert len(sleeps.waits) == 2


async def test_connection_refused_async() -> None:
    sleeps = SleepRecorder()
    async with fast_client(f"http://127.0.0.1:{closed_port()}", sleeps=sleeps, max_retries=1) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.organization.get_async()
    assert type(info.value) is APIConnectionError
    assert len(sleeps.waits) == 1


def test_no_answer_is_a_timeout(fake_server: FakeServer) -> None:
    fake_server.reply("GET", "/v1/organization", hang=True)
    started = time.monotonic()
    with (
        fast_client(fake_server.url, timeout=0.3, max_retries=0) as client,
        pytest.raises(APITimeoutError) as info,
    ):
        client.organization.get()
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 2.0
    assert isinstance(info.value, APIConnectionError)
    assert info.value.status_code is None
    assert "within 0.3 s" in info.value.message
    assert len(fake_server.requests) == 1


async def test_no_answer_is_a_timeout_async(fake_server: FakeServer) -> None:
    fake_server.reply("GET", "/v1/organization", hang=True)
    started = time.monotonic()
    async with fast_client(fake_server.url, timeout=0.3, max_retries=0) as client:
        with pytest.raises(APITimeoutError):
            await client.organization.get_async()
    assert time.monotonic() - started < 2.0
    assert len(fake_server.requests) == 1


def test_timeout_is_retried_for_get_but_not_for_post(fake_server: FakeServer) -> None:
    fake_server.reply("GET", "/v1/organization", hang=True)
    fake_server.reply("POST", "/v1/session-token", hang=True)
    sleeps = SleepRecorder()
    with fast_client(fake_server.url, sleeps=sleeps, timeout=0.15, max_retries=1) as client:
        with pytest.raises(APITimeoutError):
            client.organization.get()
        with pytest.raises(APITimeoutError):
            client.session.generate_token(AGENT_ID)
    assert [r.method for r in fake_server.requests] == ["GET", "GET", "POST"]


def test_shutdown_releases_a_hanging_request() -> None:
    """A reply that never comes does not keep the server from stopping."""
    errors: list[BaseException] = []
    with FakeServer() as server:
        server.reply("GET", "/v1/organization", hang=True)

        def call() -> None:
            with Client(API_KEY, server.url, timeout=10, max_retries=0) as client:
                try:
                    client.organization.get()
                except APIError as exc:
                    errors.append(exc)

        caller = threading.Thread(target=call)
        caller.start()
        deadline = time.monotonic() + 5
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.005)
        assert server.requests, "the request never arrived"
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2.0
        caller.join(5)
        assert not caller.is_alive()
    [error] = errors
    assert type(error) is InternalServerError  # the 503 sent while stopping
    assert error.status_code == 503


# --- answers that cannot be read ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args", "path", "body", "fragment"),
    [
        ("agents.get", (AGENT_ID,), AGENT_PATH, b"<html><body>OK</body></html>", "not JSON (text/html)"),
        ("agents.get", (AGENT_ID,), AGENT_PATH, b'{"id": "x",', "not JSON"),
        ("agents.get", (AGENT_ID,), AGENT_PATH, b"", "unexpected response body"),
        ("agents.get", (AGENT_ID,), AGENT_PATH, b"null", "unexpected response body"),
        ("agents.get", (AGENT_ID,), AGENT_PATH, b"[]", "unexpected response body"),
        ("agents.get", (AGENT_ID,), AGENT_PATH, b'{"id": 42}', "unexpected response body"),
        ("agents.list", (), "/v1/agents", b'{"agents": []}', "expected a JSON array"),
        ("calls.list", (), "/v1/calls", b'{"calls": []}', "pagination"),
        ("voices.list", (), "/v1/voices", b'{"voices": [{"id": "v1"}]}', "unexpected response body"),
        ("session.generate_token", (AGENT_ID,), "/v1/session-token", b'{"tok": "x"}', "token"),
    ],
    ids=[
        "html",
        "truncated-json",
        "empty",
        "null",
        "array-for-object",
        "wrong-type",
        "object-for-array",
        "missing-pagination",
        "missing-required",
        "no-token",
    ],
)
async def test_unreadable_success_answer_is_an_api_error(
    fake_server: FakeServer, name: str, args: tuple[Any, ...], path: str, body: bytes, fragment: str
) -> None:
    method = "POST" if name.startswith("session") else "GET"
    content_type = "text/html" if body.startswith(b"<") else "application/json"
    fake_server.reply(method, path, 200, body=body, headers={"content-type": content_type})
    async with fast_client(fake_server.url) as client:
        with pytest.raises(APIError) as sync_info:
            resolve(client, name)(*args)
        with pytest.raises(APIError) as async_info:
            await resolve(client, f"{name}_async")(*args)
    for error in (sync_info.value, async_info.value):
        assert type(error) is APIError
        assert error.status_code == 200
        assert fragment in error.message
        assert not isinstance(error.__cause__, pydantic.ValidationError | ValueError)
    assert len(fake_server.requests) == 2, "a bad 200 answer is not retried"


def test_unknown_enum_values_and_fields_are_kept(fake_server: FakeServer) -> None:
    """A newer server never breaks an older SDK: unknown values stay strings, unknown keys stay."""
    answer = {**CALL, "status": "voicemail", "source": "webchat", "sentiment": "positive"}
    fake_server.reply("GET", f"/v1/calls/{CALL_ID}", json=answer)
    with fast_client(fake_server.url) as client:
        call = client.calls.get(CALL_ID)
    assert call.status == "voicemail"
    assert not isinstance(call.status, CallStatus)
    assert call.source == "webchat"
    assert call.model_extra == {"sentiment": "positive"}


# --- path ids -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw_id", "escaped"),
    [
        ("../x", "..%2Fx"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("...", "..."),
        ("a/b", "a%2Fb"),
        ("a b", "a%20b"),
        ("x?y=1#z", "x%3Fy%3D1%23z"),
        ("%41", "%2541"),
        ("café", "caf%C3%A9"),
    ],
)
def test_path_ids_are_escaped(fake_server: FakeServer, raw_id: str, escaped: str) -> None:
    fake_server.reply("GET", f"/v1/agents/{escaped}", json=AGENT)
    with fast_client(fake_server.url) as client:
        client.agents.get(raw_id)
    assert fake_server.last.path == f"/v1/agents/{escaped}"
    assert fake_server.last.query_string == ""


def test_every_path_id_is_escaped(fake_server: FakeServer) -> None:
    fake_server.reply("GET", "/v1/agents/a%2Fb/versions/..%2Fv", json=VERSION_DETAIL)
    fake_server.reply("GET", "/v1/sip-trunks/assignments/..%2F..%2Fagents", json=ASSIGNMENT)
    fake_server.reply("PATCH", "/v1/twilio/numbers/n%3F1", json=TWILIO_NUMBER)
    with fast_client(fake_server.url) as client:
        client.agents.get_version("a/b", "../v")
        client.sip_trunks.get_assignment("../../agents")
        client.twilio_numbers.update_label("n?1", {"label": "x"})
    assert [r.path for r in fake_server.requests] == [
        "/v1/agents/a%2Fb/versions/..%2Fv",
        "/v1/sip-trunks/assignments/..%2F..%2Fagents",
        "/v1/twilio/numbers/n%3F1",
    ]


EMPTY_ID_CALLS: list[tuple[str, Callable[[Client], object]]] = [
    ("agents.get", lambda c: c.agents.get("")),
    ("agents.delete", lambda c: c.agents.delete("")),
    ("agents.update", lambda c: c.agents.update("", {"name": "x"})),
    ("agents.get_version", lambda c: c.agents.get_version(AGENT_ID, "")),
    ("agents.publish_version", lambda c: c.agents.publish_version("", VERSION_ID)),
    ("agents.dial", lambda c: c.agents.dial("", "+14155550100")),
    ("calls.get", lambda c: c.calls.get("")),
    ("calls.download_recording", lambda c: c.calls.download_recording("")),
    ("twilio_numbers.update_label", lambda c: c.twilio_numbers.update_label("", {"label": "x"})),
    ("sip_trunks.get", lambda c: c.sip_trunks.get("")),
    ("sip_trunks.list_assignments", lambda c: c.sip_trunks.list_assignments("")),
    ("sip_trunks.delete_assignment", lambda c: c.sip_trunks.delete_assignment("")),
    ("agents.get-none", lambda c: c.agents.get(cast(str, None))),
]


@pytest.mark.parametrize("call", [c for _, c in EMPTY_ID_CALLS], ids=[n for n, _ in EMPTY_ID_CALLS])
def test_empty_ids_are_refused_before_sending(
    fake_server: FakeServer, call: Callable[[Client], object]
) -> None:
    with (
        fast_client(fake_server.url) as client,
        pytest.raises(ValueError, match="must be a non-empty string"),
    ):
        call(client)
    assert fake_server.requests == []


async def test_empty_id_is_refused_before_sending_async(fake_server: FakeServer) -> None:
    async with fast_client(fake_server.url) as client:
        with pytest.raises(ValueError, match="agent_id must be a non-empty string"):
            await client.agents.get_async("")
    assert fake_server.requests == []


# --- calls: filters and pages ----------------------------------------------------------------------


def test_calls_list_sends_typed_filters_as_strings(fake_server: FakeServer) -> None:
    fake_server.reply("GET", "/v1/calls", json=CALLS_PAGE)
    with fast_client(fake_server.url) as client:
        client.calls.list(
            page=3,
            page_size=100,
            agent_ids=[AGENT_ID, AGENT_ID_2],
            status=CallStatus.IN_PROGRESS,
            source=CallSource.SIP,
            date_from=datetime(2026, 5, 1, tzinfo=UTC),
            date_to=datetime(2026, 5, 2, 12, 30, tzinfo=timezone(timedelta(hours=2))),
            outbound=True,
            search="+1415",
            tag="vip customer",
            outcome=CallOutcome.ENDED_BY_USER,
            organization_id=ORG_ID,
        )
    request = fake_server.last
    assert request.params == {
        "page": ["3"],
        "page_size": ["100"],
        "agent_ids": [f"{AGENT_ID},{AGENT_ID_2}"],
        "status": ["in_progress"],
        "source": ["sip"],
        "date_from": ["2026-05-01T00:00:00+00:00"],
        "date_to": ["2026-05-02T12:30:00+02:00"],
        "outbound": ["true"],
        "search": ["+1415"],
        "tag": ["vip customer"],
        "outcome": ["ended_by_user"],
        "organization_id": [ORG_ID],
    }
    # "+" must be escaped, or the server reads a space.
    assert "+" not in request.query_string.replace("vip+customer", "")


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"outbound": False}, {"outbound": ["false"]}),
        ({"outbound": "true"}, {"outbound": ["true"]}),
        ({"agent_ids": (AGENT_ID,)}, {"agent_ids": [AGENT_ID]}),
        ({"agent_ids": (a for a in [AGENT_ID, AGENT_ID_2])}, {"agent_ids": [f"{AGENT_ID},{AGENT_ID_2}"]}),
        ({"agent_ids": f"{AGENT_ID},{AGENT_ID_2}"}, {"agent_ids": [f"{AGENT_ID},{AGENT_ID_2}"]}),
        (
            {"status": "auth_failed", "source": "simulation"},
            {"status": ["auth_failed"], "source": ["simulation"]},
        ),
        ({"date_from": "2026-05-01T00:00:00Z"}, {"date_from": ["2026-05-01T00:00:00Z"]}),
        ({}, {}),
    ],
    ids=[
        "outbound-false",
        "outbound-str",
        "ids-tuple",
        "ids-generator",
        "ids-str",
        "enum-str",
        "date-str",
        "none",
    ],
)
async def test_calls_list_filter_forms(
    fake_server: FakeServer, filters: dict[str, Any], expected: Any
) -> None:
    fake_server.reply("GET", "/v1/calls", json=CALLS_PAGE)
    async with fast_client(fake_server.url) as client:
        await client.calls.list_async(**filters)
    assert fake_server.last.params == expected


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"page": 0}, ValueError, "page is 1-based"),
        ({"page": -1}, ValueError, "page is 1-based"),
        ({"page_size": 0}, ValueError, "page_size must be 1..100"),
        ({"page_size": 101}, ValueError, "page_size must be 1..100"),
        ({"agent_ids": ["a,b", "c"]}, ValueError, "comma"),
        ({"search": 5}, TypeError, "unsupported value for search"),
    ],
    ids=["page-0", "page-negative", "page-size-0", "page-size-101", "comma-in-id", "bad-type"],
)
async def test_calls_list_refuses_bad_arguments_before_sending(
    fake_server: FakeServer, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    async with fast_client(fake_server.url) as client:
        with pytest.raises(error, match=match):
            client.calls.list(**kwargs)
        with pytest.raises(error, match=match):
            await client.calls.list_async(**kwargs)
    assert fake_server.requests == []


def test_calls_page_bounds_are_inclusive(fake_server: FakeServer) -> None:
    fake_server.reply("GET", "/v1/calls", json=CALLS_PAGE)
    with fast_client(fake_server.url) as client:
        client.calls.list(page=1, page_size=1)
        client.calls.list(page_size=100)
    assert [r.params for r in fake_server.requests] == [
        {"page": ["1"], "page_size": ["1"]},
        {"page_size": ["100"]},
    ]


def test_calls_iter_walks_pages_until_has_next_is_false(fake_server: FakeServer) -> None:
    fake_server.reply("GET", "/v1/calls", json=calls_page(["c1", "c2"], 1, has_next=True))
    fake_server.reply("GET", "/v1/calls", json=calls_page(["c3", "c4"], 2, has_next=True))
    fake_server.reply("GET", "/v1/calls", json=calls_page(["c5"], 3, has_next=False))
    fake_server.reply("GET", "/v1/calls", 500, json={"error": "there is no page 4"})
    with fast_client(fake_server.url, max_retries=0) as client:
        calls = list(client.calls.iter(page_size=2, status=CallStatus.ENDED, outbound=False))
    assert [call.id for call in calls] == ["c1", "c2", "c3", "c4", "c5"]
    assert all(type(call) is Call and call.status is CallStatus.ENDED for call in calls)
    assert [r.params for r in fake_server.requests] == [
        {"page": [str(page)], "page_size": ["2"], "status": ["ended"], "outbound": ["false"]}
        for page in (1, 2, 3)
    ]


async def test_calls_iter_async_walks_pages(fake_server: FakeServer) -> None:
    fake_server.reply("GET", "/v1/calls", json=calls_page(["c1", "c2"], 1, has_next=True, page_size=100))
    fake_server.reply("GET", "/v1/calls", json=calls_page(["c3"], 2, has_next=False, page_size=100))
    fake_server.reply("GET", "/v1/calls", 500, json={"error": "there is no page 3"})
    async with fast_client(fake_server.url, max_retries=0) as client:
        ids = [call.id async for call in client.calls.iter_async(agent_ids=[AGENT_ID])]
    assert ids == ["c1", "c2", "c3"]
    assert [r.params for r in fake_server.requests] == [
        {"page": [str(page)], "page_size": ["100"], "agent_ids": [AGENT_ID]} for page in (1, 2)
    ]


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
async def test_calls_iter_stops_on_an_empty_page_even_if_the_server_says_more(
    fake_server: FakeServer, use_async: bool
) -> None:
    fake_server.reply("GET", "/v1/calls", json=calls_page(["c1", "c2"], 1, has_next=True))
    fake_server.reply("GET", "/v1/calls", json=calls_page([], 2, has_next=True))  # a lie
    fake_server.reply("GET", "/v1/calls", 500, json={"error": "there is no page 3"})
    async with fast_client(fake_server.url, max_retries=0) as client:
        if use_async:
            ids = [call.id async for call in client.calls.iter_async(page_size=2)]
        else:
            ids = [call.id for call in client.calls.iter(page_size=2)]
    assert ids == ["c1", "c2"]
    assert [r.param("page") for r in fake_server.requests] == ["1", "2"]


def test_calls_iter_single_page_and_bad_page_size(fake_server: FakeServer) -> None:
    fake_server.reply("GET", "/v1/calls", json=calls_page(["c1"], 1, has_next=False))
    fake_server.reply("GET", "/v1/calls", 500, json={"error": "there is no page 2"})
    with fast_client(fake_server.url, max_retries=0) as client:
        assert [call.id for call in client.calls.iter()] == ["c1"]
        with pytest.raises(ValueError, match="page_size"):
            list(client.calls.iter(page_size=101))
    assert len(fake_server.requests) == 1


# --- recordings ------------------------------------------------------------------------------------


def reply_recording(server: FakeServer, *, status: int = 200, cut_after: int | None = None) -> None:
    server.reply(
        "GET",
        RECORDING_PATH,
        status,
        body=WAV,
        headers={"content-type": "audio/wav", "content-disposition": f'attachment; filename="{CALL_ID}.wav"'},
        cut_after=cut_after,
    )


def test_download_recording_to_a_folder(fake_server: FakeServer, tmp_path: Path) -> None:
    reply_recording(fake_server)
    with fast_client(fake_server.url) as client:
        path = client.calls.download_recording(CALL_ID, to=tmp_path)
    assert path == tmp_path / f"{CALL_ID}.wav"
    assert path.read_bytes() == WAV
    assert files_in(tmp_path) == [f"{CALL_ID}.wav"]
    assert fake_server.last.headers["accept"] == "audio/wav"
    assert fake_server.last.headers["authorization"] == f"Bearer {API_KEY}"
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getnframes()) == (24_000, 1, 24_000)


@pytest.mark.parametrize("as_str", [False, True], ids=["path", "str"])
async def test_download_recording_to_a_file_async(
    fake_server: FakeServer, tmp_path: Path, as_str: bool
) -> None:
    reply_recording(fake_server)
    target = tmp_path / "greeting.wav"
    async with fast_client(fake_server.url) as client:
        path = await client.calls.download_recording_async(CALL_ID, to=str(target) if as_str else target)
    assert path == target
    assert target.read_bytes() == WAV
    assert files_in(tmp_path) == ["greeting.wav"]
    assert fake_server.last.headers["accept"] == "audio/wav"


def test_download_recording_file_name_cannot_escape_the_folder(
    fake_server: FakeServer, tmp_path: Path
) -> None:
    fake_server.reply("GET", "/v1/calls/..%2F..%2Fevil/recording", body=WAV)
    folder = tmp_path / "recordings"
    folder.mkdir()
    with fast_client(fake_server.url) as client:
        path = client.calls.download_recording("../../evil", to=folder)
    assert path.parent == folder
    assert path.read_bytes() == WAV
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["..%2F..%2Fevil.wav", "recordings"]


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
async def test_download_recording_404_leaves_no_file(
    fake_server: FakeServer, tmp_path: Path, use_async: bool
) -> None:
    fake_server.reply("GET", RECORDING_PATH, 404, json={"error": "recording not found"})
    async with fast_client(fake_server.url) as client:
        with pytest.raises(NotFoundError, match="recording not found") as info:
            await call_twin(client, "calls.download_recording", use_async, CALL_ID, to=tmp_path)
    assert info.value.body == {"error": "recording not found"}
    assert files_in(tmp_path) == []
    assert len(fake_server.requests) == 1


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
async def test_download_cut_short_raises_and_leaves_no_file(
    fake_server: FakeServer, tmp_path: Path, use_async: bool
) -> None:
    reply_recording(fake_server, cut_after=len(WAV) // 3)
    target = tmp_path / "call.wav"
    target.write_bytes(b"an older download")
    sleeps = SleepRecorder()
    async with fast_client(fake_server.url, sleeps=sleeps, max_retries=2) as client:
        with pytest.raises(APIConnectionError) as info:
            await call_twin(client, "calls.download_recording", use_async, CALL_ID, to=target)
    assert type(info.value) is APIConnectionError
    assert info.value.request == f"GET {RECORDING_PATH}"
    assert target.read_bytes() == b"an older download", "a failed download replaced the file"
    assert files_in(tmp_path) == ["call.wav"], "a partial file was left behind"
    assert len(fake_server.requests) == 3  # a GET whose answer broke is retried
    assert len(sleeps.waits) == 2


def test_download_cut_short_then_complete_succeeds(fake_server: FakeServer, tmp_path: Path) -> None:
    reply_recording(fake_server, cut_after=1000)
    reply_recording(fake_server)
    with fast_client(fake_server.url) as client:
        path = client.calls.download_recording(CALL_ID, to=tmp_path)
    assert path.read_bytes() == WAV
    assert files_in(tmp_path) == [f"{CALL_ID}.wav"]
    assert len(fake_server.requests) == 2


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
async def test_download_recording_bytes_cut_short_raises(fake_server: FakeServer, use_async: bool) -> None:
    reply_recording(fake_server, cut_after=100)
    async with fast_client(fake_server.url, max_retries=0) as client:
        with pytest.raises(APIConnectionError, match=r"connection to .* broke"):
            await call_twin(client, "calls.download_recording", use_async, CALL_ID)
    assert len(fake_server.requests) == 1


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
async def test_download_of_a_gzip_encoded_answer(
    fake_server: FakeServer, tmp_path: Path, use_async: bool
) -> None:
    """A proxy may compress the WAV: Content-Length is then the compressed size, and that is fine."""
    fake_server.reply(
        "GET",
        RECORDING_PATH,
        body=gzip.compress(WAV),
        headers={"content-type": "audio/wav", "content-encoding": "gzip"},
    )
    async with fast_client(fake_server.url, max_retries=0) as client:
        path = await call_twin(client, "calls.download_recording", use_async, CALL_ID, to=tmp_path)
        data = await call_twin(client, "calls.download_recording", use_async, CALL_ID)
    assert path == tmp_path / f"{CALL_ID}.wav"
    assert path.read_bytes() == WAV
    assert files_in(tmp_path) == [f"{CALL_ID}.wav"]
    assert data == WAV


def test_download_to_a_missing_folder_sends_nothing(fake_server: FakeServer, tmp_path: Path) -> None:
    with fast_client(fake_server.url) as client, pytest.raises(FileNotFoundError, match="no such folder"):
        client.calls.download_recording(CALL_ID, to=tmp_path / "missing" / "call.wav")
    assert fake_server.requests == []


# --- garbage in ------------------------------------------------------------------------------------


def test_unknown_input_key_is_refused_before_sending(fake_server: FakeServer) -> None:
    with fast_client(fake_server.url) as client:
        with pytest.raises(pydantic.ValidationError, match="nam"):
            client.agents.create({"nam": "x"})
        with pytest.raises(pydantic.ValidationError, match="name"):
            client.agents.create({})
        with pytest.raises(pydantic.ValidationError, match="pbx"):
            client.sip_trunks.create({"pbx": "asterisk"})
        with pytest.raises(pydantic.ValidationError, match="label"):
            client.twilio_numbers.update_label(NUMBER_ID, {"lable": "typo"})
        with pytest.raises(pydantic.ValidationError, match="transport"):
            client.session.generate_token(AGENT_ID, transport="carrier-pigeon")
        with pytest.raises(TypeError, match="AgentCreateInput"):
            client.agents.create(cast(Any, "Front desk"))
    assert fake_server.requests == []


async def test_unknown_input_key_is_refused_before_sending_async(fake_server: FakeServer) -> None:
    async with fast_client(fake_server.url) as client:
        with pytest.raises(pydantic.ValidationError):
            await client.agents.update_async(AGENT_ID, {"nmae": "x"})
    assert fake_server.requests == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"base_url": "ftp://x"}, "base_url"),
        ({"base_url": "api.vatel.ai"}, "base_url"),
        ({"base_url": "http://"}, "base_url"),
        ({"base_url": ""}, "base_url"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1.5}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
    ],
    ids=["ftp", "no-scheme", "no-host", "empty", "timeout-0", "timeout-negative", "retries-negative"],
)
def test_bad_client_settings_are_refused(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Client(API_KEY, **kwargs)


def test_one_client_serves_two_event_loops(fake_server: FakeServer) -> None:
    """A Client used in two asyncio.run() calls makes a fresh async client for the second loop."""
    fake_server.reply("GET", "/v1/organization", json={"id": ORG_ID, "name": "Acme"})
    client = vatel.Client(api_key="k", base_url=fake_server.url, max_retries=0)
    try:
        assert asyncio.run(client.organization.get_async()).name == "Acme"
        assert asyncio.run(client.organization.get_async()).name == "Acme"
    finally:
        client.close()
        with warnings.catch_warnings():  # the first loop's sockets can only be freed by the collector
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
    assert len(fake_server.requests) == 2
