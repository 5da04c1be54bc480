"""Every wire model against the OpenAPI document: the spec, not our reading of it, is the judge.

For each schema in ``components.schemas`` there is a model; an example that fills every property
of the schema goes through the model (parse, then ``to_wire()``) and must come out unchanged and
valid. Messages are checked against ``VoiceSessionServerMessage`` (a ``oneOf``) and the two
client message schemas, with the values our server will emit.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

import vatel.protocol as p
from support.schema import errors, example, schema_of
from support.shared import openapi

pytestmark = pytest.mark.unit

#: components.schemas name -> our model (enums and the LLM id string are checked separately).
REST_MODELS: dict[str, type[BaseModel]] = {
    "VoiceSettings": p.VoiceSettings,
    "VadSettings": p.VadSettings,
    "NoiseCancelSettings": p.NoiseCancelSettings,
    "TimeoutSettings": p.TimeoutSettings,
    "Agent": p.Agent,
    "AgentCreateInput": p.AgentCreateInput,
    "AgentUpdateInput": p.AgentUpdateInput,
    "Organization": p.Organization,
    "LLMStringsResponse": p.LLMStringsResponse,
    "VoiceCatalogEntry": p.VoiceCatalogEntry,
    "VoicesListResponse": p.VoicesListResponse,
    "GraphVersion": p.GraphVersion,
    "GraphNode": p.GraphNode,
    "GraphVersionDetail": p.GraphVersionDetail,
    "TwilioPhoneNumber": p.TwilioPhoneNumber,
    "TwilioPhoneNumberImportInput": p.TwilioPhoneNumberImportInput,
    "TwilioPhoneNumberLabelPatchInput": p.TwilioPhoneNumberLabelPatchInput,
    "SipTrunkCallerIDTransform": p.SipTrunkCallerIDTransform,
    "SipTrunk": p.SipTrunk,
    "SipTrunkCreateInput": p.SipTrunkCreateInput,
    "SipTrunkUpdateInput": p.SipTrunkUpdateInput,
    "SipTrunkAgentAssignment": p.SipTrunkAgentAssignment,
    "SipTrunkAgentAssignmentCreateInput": p.SipTrunkAgentAssignmentCreateInput,
    "SipTrunkAgentAssignmentPatchInput": p.SipTrunkAgentAssignmentPatchInput,
    "GenerateSessionTokenRequest": p.GenerateSessionTokenRequest,
    "SessionTokenResponse": p.SessionTokenResponse,
    "DialAgentResponse": p.DialAgentResponse,
    "ContextVariable": p.ContextVariable,
    "TranscriptToolCall": p.TranscriptToolCall,
    "TranscriptEntry": p.TranscriptEntry,
    "Transcript": p.Transcript,
    "CallFeedback": p.CallFeedback,
    "Call": p.Call,
    "PaginationInfo": p.PaginationInfo,
    "PaginatedCallsResponse": p.PaginatedCallsResponse,
    "ErrorResponse": p.ErrorResponse,
}

ENUMS = {
    "AgentStatus": p.AgentStatus,
    "TTSStrategy": p.TTSStrategy,
    "TimeoutAction": p.TimeoutAction,
    "CallerTransformType": p.CallerTransformType,
    "SIPTrunkAuthType": p.SIPTrunkAuthType,
    "RegistrationStatus": p.RegistrationStatus,
    "CallStatus": p.CallStatus,
    "CallSource": p.CallSource,
    "TranscriptEntryType": p.TranscriptEntryType,
}

MESSAGE_DATA = {
    "VoiceSessionSessionStartedData": p.SessionStartedData,
    "VoiceSessionResponseAudioData": p.ResponseAudioData,
    "VoiceSessionResponseTextData": p.ResponseTextData,
    "VoiceSessionInputAudioTranscriptData": p.InputAudioTranscriptData,
    "VoiceSessionSpeechStartedData": p.SpeechStartedData,
    "VoiceSessionEmptyData": p.VoiceSessionEmptyData,
    "VoiceSessionInputVariable": p.ToolCallArgument,
    "VoiceSessionClientToolCallData": p.ToolCallData,
}
MESSAGE_SCHEMAS = {
    "VoiceSessionServerMessage",
    "VoiceSessionClientInputAudioMessage",
    "VoiceSessionClientToolCallOutputMessage",
}
OTHER = {"LLMModel"}  # a plain string, typed as str on Agent.llm


def _wire_names(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def test_every_schema_of_the_spec_has_a_model() -> None:
    covered = set(REST_MODELS) | set(ENUMS) | set(MESSAGE_DATA) | MESSAGE_SCHEMAS | OTHER
    assert set(openapi()["components"]["schemas"]) == covered


@pytest.mark.parametrize("name", sorted(ENUMS))
def test_enum_values_match_the_spec(name: str) -> None:
    assert sorted(member.value for member in ENUMS[name]) == sorted(schema_of(name)["enum"])


def test_pbx_enum_matches_the_trunk_schema() -> None:
    assert sorted(p.PbxType) == sorted(schema_of("SipTrunk")["properties"]["pbx"]["enum"])


@pytest.mark.parametrize("name", sorted(REST_MODELS))
def test_model_fields_are_the_spec_properties(name: str) -> None:
    spec_props = set(schema_of(name).get("properties", {}))
    ours = _wire_names(REST_MODELS[name])
    if name == "GenerateSessionTokenRequest":
        # ``variables`` is documented (docs.vatel.ai) but absent from the OpenAPI file; it is sent
        # only when the caller gives it (see test_token_request_without_variables_is_spec_valid).
        ours -= {"variables"}
    assert ours == spec_props


@pytest.mark.parametrize("name", sorted(REST_MODELS))
@pytest.mark.parametrize("variant", [0, 1, 2])
def test_full_example_round_trips_and_validates(name: str, variant: int) -> None:
    sample = example(name, variant)
    model = REST_MODELS[name].model_validate(sample)
    wire = model.to_wire()  # type: ignore[attr-defined]
    assert errors(wire, name) == []
    assert wire == sample


@pytest.mark.parametrize("name", sorted(REST_MODELS))
def test_minimal_example_validates(name: str) -> None:
    schema = schema_of(name)
    full = example(name)
    minimal = {key: full[key] for key in schema.get("required", [])} if isinstance(full, dict) else full
    wire = REST_MODELS[name].model_validate(minimal).to_wire()  # type: ignore[attr-defined]
    assert errors(wire, name) == []


def test_nullable_inputs_send_an_explicit_null_only_when_set() -> None:
    cleared = p.AgentUpdateInput(phone_number_id=None).to_wire()
    assert cleared == {"phone_number_id": None}
    assert errors(cleared, "AgentUpdateInput") == []
    assert p.AgentUpdateInput(name="x").to_wire() == {"name": "x"}
    unset = p.SipTrunkAgentAssignmentPatchInput(number=None).to_wire()
    assert unset == {"number": None} and errors(unset, "SipTrunkAgentAssignmentPatchInput") == []


def test_token_request_without_variables_is_spec_valid() -> None:
    body = p.GenerateSessionTokenRequest(agent_id=example({"type": "string", "format": "uuid"})).to_wire()
    assert errors(body, "GenerateSessionTokenRequest") == []
    with_vars = p.GenerateSessionTokenRequest.model_validate(
        {"agent_id": body["agent_id"], "variables": [{"key": "k", "value": "v"}]}
    ).to_wire()
    assert with_vars["variables"] == [{"key": "k", "value": "v"}]


def test_the_spec_catches_a_broken_body() -> None:
    # The judge itself can fail: a wrong enum, a missing required field, a non-uuid id.
    assert errors({"token": 5}, "SessionTokenResponse")
    assert errors({"id": "nope"}, "Agent")
    assert errors({"pagination": {}}, "PaginatedCallsResponse")


# --- WebSocket messages ---------------------------------------------------------------------------

AUDIO = "AAABAAIA"  # three PCM16 samples

SERVER_SAMPLES: list[p.ServerMessage] = [
    p.SessionStarted(data=p.SessionStartedData(id=example({"type": "string", "format": "uuid"}))),
    p.ResponseAudio(data=p.ResponseAudioData(turn_id="t1", audio=AUDIO, is_final=False)),
    p.ResponseAudio(data=p.ResponseAudioData(turn_id="t1", audio="", is_final=True)),
    p.ResponseText(data=p.ResponseTextData(turn_id="t1", text="Hello there", is_final=False)),
    p.InputAudioTranscript(data=p.InputAudioTranscriptData(transcript="hi", turn_id="u1", is_final=True)),
    p.InputAudioTranscript(data=p.InputAudioTranscriptData(transcript="hi", is_final=False)),
    p.SpeechStarted(data=p.SpeechStartedData(emulated=True)),
    p.SpeechStarted(),
    p.SpeechStopped(),
    p.Interruption(),
    p.SessionEnded(),
    p.ToolCall(
        data=p.ToolCallData(
            toolCallId="c1",
            toolName="book_table",
            arguments=[
                p.ToolCallArgument(name="people", type="resolved", dataType="number", required=True, value=4),
                p.ToolCallArgument(name="time", dataType="string", value="19:30"),
            ],
        )
    ),
    p.ToolCall(data=p.ToolCallData(toolCallId="c2", toolName="noop")),
]


@pytest.mark.parametrize("message", SERVER_SAMPLES, ids=lambda m: m.type)
def test_server_messages_match_the_spec(message: p.ServerMessage) -> None:
    wire = message.to_wire()
    assert errors(wire, "VoiceSessionServerMessage") == []
    assert "data" in wire
    assert p.parse_server_message(wire) == message


@pytest.mark.parametrize("message", SERVER_SAMPLES, ids=lambda m: m.type)
def test_server_messages_survive_json_bytes(message: p.ServerMessage) -> None:
    assert p.decode_server_message(message.to_json()) == message


def test_signal_messages_send_exactly_empty_data() -> None:
    for message in (p.SpeechStopped(), p.Interruption(), p.SessionEnded()):
        assert message.to_wire() == {"type": message.type, "data": {}}


def test_client_messages_match_the_spec() -> None:
    audio = p.InputAudio.from_pcm(b"\x00\x01\x02\x03")
    assert errors(audio.to_wire(), "VoiceSessionClientInputAudioMessage") == []
    output = p.ToolCallOutput(data=p.ToolCallOutputData(toolCallId="c1", output='{"ok":true}'))
    assert errors(output.to_wire(), "VoiceSessionClientToolCallOutputMessage") == []
    assert p.decode_client_message(audio.to_json()) == audio
    assert p.decode_client_message(output.to_json()) == output


@pytest.mark.parametrize("name", sorted(MESSAGE_DATA))
def test_message_data_fields_are_the_spec_properties(name: str) -> None:
    cls: Any = MESSAGE_DATA[name]
    ours = {f.serialization_alias or f.alias or key for key, f in cls.__pydantic_fields__.items()}
    assert ours == set(schema_of(name).get("properties", {}))
