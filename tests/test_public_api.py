"""The public surface: ``vatel.__all__`` is pinned, and the official SDK's names all exist."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import vatel
import vatel.models
import vatel.models.rest
import vatel.models.ws
import vatel.protocol

pytestmark = pytest.mark.unit


def test_all_names_resolve() -> None:
    for module in (vatel, vatel.models, vatel.models.rest, vatel.models.ws, vatel.protocol):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"
        assert len(module.__all__) == len(set(module.__all__))


def test_official_sdk_names() -> None:
    # From the official SDK's vatel/__init__.py and vatel/models/__init__.py (protocol.md §5).
    official_top = {
        "Client", "connection_query", "Agent", "AgentCreateInput", "AgentUpdateInput", "Call",
        "CallFeedback", "CallOutcome", "CallSource", "CallStatus", "ContextVariable",
        "DialAgentResponse", "GenerateSessionTokenRequest", "GraphVersion", "GraphVersionDetail",
        "LLMStringsResponse", "Organization", "PaginatedCallsResponse", "PaginationInfo",
        "SessionTokenResponse", "Transcript", "TranscriptEntry", "TranscriptToolCall", "SipTrunk",
        "SipTrunkAgentAssignment", "TwilioPhoneNumber", "VoicesListResponse", "ServerMessage",
        "SessionStarted", "ResponseAudio", "ResponseText", "InputAudioTranscript", "SpeechStarted",
        "SpeechStopped", "SessionEnded", "Interruption", "ToolCall", "ToolCallOutput", "InputAudio",
        "VoiceSessionEmptyData", "parse_server_message",
    }  # fmt: skip
    assert official_top <= set(vatel.__all__)
    official_models = {
        "AgentStatus", "CallerTransformType", "ErrorResponse", "GraphNode", "NoiseCancelSettings",
        "PbxType", "RegistrationStatus", "SIPTrunkAuthType", "SipTrunkAgentAssignmentCreateInput",
        "SipTrunkAgentAssignmentPatchInput", "SipTrunkCallerIDTransform", "SipTrunkCreateInput",
        "SipTrunkUpdateInput", "TimeoutAction", "TimeoutSettings", "TTSStrategy",
        "TwilioPhoneNumberImportInput", "TwilioPhoneNumberLabelPatchInput", "VadSettings",
        "VoiceCatalogEntry", "VoiceSettings", "ToolCallArgument",
    }  # fmt: skip
    assert official_models <= set(vatel.models.__all__)


def test_client_resources_and_methods() -> None:
    expected = {
        "organization": {"get"},
        "llms": {"list"},
        "voices": {"list"},
        "agents": {
            "list", "create", "get", "update", "delete", "list_versions", "get_version",
            "publish_version", "dial",
        },
        "calls": {"list", "get", "download_recording", "iter"},
        "twilio_numbers": {"list", "import_number", "update_label"},
        "sip_trunks": {
            "list", "create", "get", "update", "delete", "list_assignments", "create_assignment",
            "get_assignment", "update_assignment", "delete_assignment",
        },
        "session": {"generate_token"},
    }  # fmt: skip
    with vatel.Client(api_key="k") as client:
        for resource, methods in expected.items():
            api = getattr(client, resource)
            for method in methods:
                assert callable(getattr(api, method)), f"{resource}.{method}"
                assert callable(getattr(api, method + "_async")), f"{resource}.{method}_async"


def test_pinned_top_level_names() -> None:
    assert sorted(vatel.__all__) == sorted(
        {
            "DEFAULT_BASE_URL", "APIConnectionError", "APIError", "APITimeoutError", "Agent",
            "AgentCreateInput", "AgentUpdateInput", "AuthenticationError", "BadRequestError", "Call",
            "CallFeedback", "CallOutcome", "CallSource", "CallStatus", "Client", "ClientClosedError",
            "ConflictError", "Connection", "ConnectionClosed", "ConnectionClosedError",
            "ConnectionClosedOK", "ContextVariable", "DialAgentResponse", "GenerateSessionTokenRequest",
            "GraphVersion", "GraphVersionDetail", "InputAudio", "InputAudioTranscript",
            "InternalServerError", "Interruption", "LLMStringsResponse", "MessageError", "NotFoundError",
            "Organization", "PaginatedCallsResponse", "PaginationInfo", "PermissionDeniedError",
            "RateLimitError", "ResponseAudio", "ResponseText", "ServerMessage", "SessionEnded",
            "SessionStarted", "SessionTokenResponse", "SipTrunk", "SipTrunkAgentAssignment",
            "SpeechStarted", "SpeechStopped", "ToolCall", "ToolCallOutput", "Transcript",
            "TranscriptEntry", "TranscriptToolCall", "TwilioPhoneNumber", "UnknownMessage", "VatelError",
            "VoiceSessionEmptyData", "VoicesListResponse", "__version__", "connect", "connection_query",
            "parse_server_message", "websocket_url",
        }
    )  # fmt: skip


def test_import_vatel_loads_nothing_until_a_name_is_used() -> None:
    """``import vatel`` (and so every ``vatel.*`` module, the command line, the server's child
    processes) does not pay for the HTTP client and the wire models until they are used."""
    code = (
        "import sys, vatel; heavy = {'httpx', 'pydantic', 'websockets'}; "
        "print(sorted(heavy & set(sys.modules))); vatel.Client; print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["[]", "['httpx', 'pydantic', 'websockets']"]


def test_the_lazy_names_are_the_typed_names_and_all() -> None:
    """The imports type checkers read (under TYPE_CHECKING) and the names resolved on first use agree."""
    tree = ast.parse(Path(vatel.__file__).read_text())
    typed: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom) and statement.module is not None
                typed.update({alias.name: statement.module for alias in statement.names})
    assert set(vatel.__all__) == {*typed, "__version__"}
    assert set(typed.values()) == set(vatel._SOURCES)
    for name, module in typed.items():  # each name resolves to the object its typed import names
        assert getattr(vatel, name) is getattr(importlib.import_module(module), name)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        vatel.Nope  # noqa: B018
    assert {"Client", "ToolCall", "connect"} <= set(dir(vatel))
