"""Reading WebSocket frames (protocol.md §3.2): lenient where the hosted server is sloppy, a typed
:class:`MessageError` where a frame is not a message, and the audio fast path equal to validation."""

from __future__ import annotations

import base64
import itertools

import orjson
import pytest
from pydantic import ValidationError

import vatel.protocol as p

pytestmark = pytest.mark.unit

PCM = bytes(range(256)) * 4  # 1024 bytes = 512 samples
B64 = base64.b64encode(PCM).decode()


class TestTolerance:
    """What the hosted server (and older servers) really send."""

    @pytest.mark.parametrize("kind", ["speech_stopped", "interruption", "session_ended"])
    @pytest.mark.parametrize(
        "frame", ['{{"type":"{k}","data":null}}', '{{"type":"{k}"}}', '{{"type":"{k}","data":{{}}}}']
    )
    def test_signal_types_with_null_or_missing_data(self, kind: str, frame: str) -> None:
        message = p.decode_server_message(frame.format(k=kind))
        assert message.type == kind
        assert message.to_wire() == {"type": kind, "data": {}}

    def test_speech_started_without_data_is_not_emulated(self) -> None:
        message = p.decode_server_message('{"type":"speech_started","data":null}')
        assert isinstance(message, p.SpeechStarted) and message.data.emulated is False

    def test_missing_is_final_and_turn_id(self) -> None:
        text = p.decode_server_message('{"type":"response_text","data":{"text":"hi"}}')
        assert isinstance(text, p.ResponseText)
        assert (text.data.is_final, text.data.turn_id) == (True, "")
        audio = p.decode_server_message(orjson.dumps({"type": "response_audio", "data": {"audio": B64}}))
        assert isinstance(audio, p.ResponseAudio)
        assert (audio.data.is_final, audio.data.pcm) == (False, PCM)
        said = p.decode_server_message('{"type":"input_audio_transcript","data":{"transcript":"yo"}}')
        assert isinstance(said, p.InputAudioTranscript)
        assert said.data.is_final is True and said.data.turn_id is None

    def test_extra_fields_at_both_levels_are_ignored(self) -> None:
        frame = '{"type":"session_ended","timestamp":123,"data":{"reason":"agent hung up"}}'
        assert p.decode_server_message(frame) == p.SessionEnded()

    def test_unknown_type_is_kept_not_raised(self) -> None:
        message = p.decode_server_message('{"type":"agent_thinking","data":{"ms":120}}')
        assert isinstance(message, p.UnknownMessage)
        assert (message.type, message.data) == ("agent_thinking", {"ms": 120})
        assert p.parse_server_message({"type": "x"}) == p.UnknownMessage(type="x", data=None)

    def test_tool_call_in_snake_case_and_with_a_bad_argument_list(self) -> None:
        raw = {
            "type": "tool_call",
            "data": {"tool_call_id": "c9", "tool_name": "lookup", "arguments": {"a": 1}},
        }
        message = p.parse_server_message(raw)
        assert isinstance(message, p.ToolCall)
        assert (message.data.toolCallId, message.data.toolName, message.data.arguments) == (
            "c9",
            "lookup",
            [],
        )
        # and it is emitted in camelCase, as every SDK expects
        assert message.to_wire()["data"] == {"toolCallId": "c9", "toolName": "lookup", "arguments": []}

    def test_tool_call_argument_values(self) -> None:
        message = p.parse_server_message(
            {
                "type": "tool_call",
                "data": {
                    "toolCallId": "c1",
                    "toolName": "book",
                    "arguments": [
                        {"name": "people", "value": 4},
                        {"value": "no name"},
                        {"name": "t", "value": None},
                    ],
                },
            }
        )
        assert isinstance(message, p.ToolCall)
        assert message.data.argument_values() == {"people": 4, "t": None}

    def test_binary_frame_of_utf8_json(self) -> None:
        assert p.decode_server_message(b'{"type":"interruption","data":{}}') == p.Interruption()


class TestMalformed:
    @pytest.mark.parametrize(
        ("frame", "reason"),
        [
            ("not json", "not JSON"),
            (b"\xff\xfe\x00junk", "not JSON"),
            ("[1, 2]", "expected a JSON object, got list"),
            ('"text"', "expected a JSON object, got str"),
            ('{"data":{}}', "'type' field is missing"),
            ('{"type":7}', "'type' field is missing"),
            ('{"type":"response_text","data":{"text":5}}', "data.text"),
            ('{"type":"session_started","data":null}', "data.id"),
            ('{"type":"response_audio","data":{"turn_id":"t","audio":7,"is_final":false}}', "data.audio"),
            ('{"type":"tool_call","data":{"toolName":"x"}}', "toolCallId"),
            ('{"type":"response_audio","data":"zzz"}', "data"),
        ],
    )
    def test_frames_that_are_not_messages(self, frame: str | bytes, reason: str) -> None:
        with pytest.raises(p.MessageError) as caught:
            p.decode_server_message(frame)
        assert reason in str(caught.value)
        assert caught.value.frame is not None and len(caught.value.frame) <= 200

    def test_error_names_the_type_and_truncates_the_frame(self) -> None:
        frame = orjson.dumps({"type": "response_text", "data": {"text": 1, "pad": "x" * 1000}})
        with pytest.raises(p.MessageError) as caught:
            p.decode_server_message(frame)
        assert caught.value.type == "response_text"
        assert caught.value.frame is not None and len(caught.value.frame) == 200
        assert isinstance(caught.value, ValueError) and isinstance(caught.value, p.VatelError)

    @pytest.mark.parametrize("audio", ["%%%", "AAA", "AAAA"])
    def test_bad_audio_payloads(self, audio: str) -> None:
        message = p.decode_client_message(orjson.dumps({"type": "input_audio", "data": {"audio": audio}}))
        assert isinstance(message, p.InputAudio)
        with pytest.raises(p.MessageError, match=r"base64|16-bit"):
            _ = message.data.pcm

    def test_encode_refuses_odd_byte_counts(self) -> None:
        with pytest.raises(ValueError, match="even number of bytes"):
            p.InputAudio.from_pcm(b"\x00\x01\x02")
        with pytest.raises(ValueError, match="even number of bytes"):
            p.encode_input_audio(b"\x00")


class TestAudioFastPath:
    """The hand-checked fast path must give exactly what validation gives, for every shape."""

    def test_response_audio_equals_the_validated_model(self) -> None:
        for turn_id, is_final in itertools.product(["", "t-1"], [True, False]):
            raw = {"type": "response_audio", "data": {"turn_id": turn_id, "audio": B64, "is_final": is_final}}
            fast = p.decode_server_message(orjson.dumps(raw))
            assert fast == p.ResponseAudio.model_validate(raw)
            assert type(fast.data) is p.ResponseAudioData and fast.data.pcm == PCM

    def test_input_audio_equals_the_validated_model(self) -> None:
        frame = p.encode_input_audio(PCM)
        assert orjson.loads(frame) == {"type": "input_audio", "data": {"audio": B64}}
        fast = p.decode_client_message(frame)
        assert fast == p.InputAudio.model_validate(orjson.loads(frame))
        assert isinstance(fast, p.InputAudio) and fast.data.pcm == PCM
        assert p.InputAudio.from_pcm(PCM).to_json() == frame

    @pytest.mark.parametrize("turn_id", ["t1", "", 'odd "quoted" \\ id'])
    @pytest.mark.parametrize("pcm", [PCM, b""])
    @pytest.mark.parametrize("is_final", [True, False])
    def test_response_audio_from_pcm_equals_the_validated_model(
        self, turn_id: str, pcm: bytes, is_final: bool
    ) -> None:
        fast = p.ResponseAudio.from_pcm(turn_id, pcm, is_final=is_final)
        audio = base64.b64encode(pcm).decode()
        validated = p.ResponseAudio(data=p.ResponseAudioData(turn_id=turn_id, audio=audio, is_final=is_final))
        assert fast == validated and type(fast.data) is p.ResponseAudioData
        assert fast.to_json() == orjson.dumps(validated.model_dump(mode="json"))  # the generic path
        assert fast.to_json() == validated.to_json()
        assert p.decode_server_message(fast.to_json()) == validated
        with pytest.raises(ValueError, match="even number"):
            p.ResponseAudio.from_pcm(turn_id, b"\x00", is_final=is_final)

    @pytest.mark.parametrize(
        "data",
        [
            {"turn_id": "t", "audio": B64, "is_final": 1},  # not a bool: lax validation makes it True
            {"turn_id": "t", "audio": B64, "is_final": True, "extra": 1},  # extra key: ignored
        ],
    )
    def test_unusual_shapes_take_the_validating_path(self, data: dict[str, object]) -> None:
        raw = {"type": "response_audio", "data": data}
        message = p.decode_server_message(orjson.dumps(raw))
        assert message == p.ResponseAudio.model_validate(raw)
        assert isinstance(message, p.ResponseAudio) and message.data.is_final is True

    def test_wrong_types_are_refused_on_both_paths(self) -> None:
        raw = {"type": "response_audio", "data": {"turn_id": 5, "audio": B64, "is_final": True}}
        with pytest.raises(ValidationError):
            p.ResponseAudio.model_validate(raw)
        with pytest.raises(p.MessageError, match="turn_id"):
            p.decode_server_message(orjson.dumps(raw))

    def test_messages_are_frozen(self) -> None:
        message = p.decode_server_message(p.ResponseAudio(data=p.ResponseAudioData(audio=B64)).to_json())
        with pytest.raises(AttributeError):
            message.type = "x"  # type: ignore[misc]
