"""Session WebSocket messages (protocol.md §3; OpenAPI ``VoiceSession*`` schemas).

Every frame is ``{"type": str, "data": object}``. What the server sends is read leniently, because
the hosted server really does send ``"data": null`` and leaves out ``is_final`` (protocol.md §3.2):

* ``data`` missing or ``null`` is read as ``{}``; unknown keys are ignored;
* ``is_final`` missing means final for text and transcripts (servers from before interim results
  sent only final ones) and not final for audio; a missing ``turn_id`` on agent messages is ``""``;
* a ``type`` nobody knows becomes an :class:`UnknownMessage`, never an error, so one new event type
  on the server cannot end a client's message loop (the official SDK's first weakness).

A frame that is not a JSON object, or a known type whose data has the wrong shape, raises
:class:`MessageError`, which carries the reason and the start of the frame.

What *we emit* always matches the OpenAPI schema exactly: ``data`` present, ``is_final`` present,
``{}`` for the signal-only types; ``tests/protocol`` checks every message against the spec.

Why pydantic *dataclasses* here and ``BaseModel`` for REST bodies: an audio frame arrives every
20 ms on every session, both ways. A frozen dataclass is built in a fraction of the time of a
``BaseModel``, and the two audio types, when their shape is exactly the usual one, are built from
the decoded dict without a second validation pass (``benchmarks/codec.py``). They keep the
``model_*`` methods that code written for the official SDK may call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Self

import orjson
import pybase64
from pydantic import AliasChoices, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from pydantic.dataclasses import dataclass

from vatel.protocol.base import VatelError

SAMPLE_RATE = 24_000
"""The only rate on the wire: PCM16 little-endian, mono, 24 kHz, base64 with padding."""
SAMPLE_WIDTH = 2

_IGNORE_EXTRA = ConfigDict(extra="ignore", populate_by_name=True)
_orjson_loads = orjson.loads
_orjson_dumps = orjson.dumps
_b64decode = pybase64.b64decode


class MessageError(VatelError, ValueError):
    """A WebSocket frame that cannot be read as a message of the protocol.

    ``reason`` says why; ``type`` is the message type when it could be read; ``frame`` holds the
    first 200 characters of the frame, for a log line.
    """

    def __init__(self, reason: str, *, frame: str | bytes | None = None, type: str | None = None) -> None:
        self.reason = reason
        self.type = type
        if isinstance(frame, bytes | bytearray | memoryview):
            frame = bytes(frame[:200]).decode("utf-8", "replace")
        self.frame = frame[:200] if frame is not None else None
        where = f" ({type})" if type else ""
        super().__init__(f"malformed message{where}: {reason}")


def decode_pcm(audio: str | bytes, *, type: str | None = None) -> bytes:
    """Base64 text to PCM16 bytes; raises :class:`MessageError` for bad base64 or an odd length."""
    try:
        pcm: bytes = pybase64.b64decode(audio, validate=True)
    except ValueError as exc:
        raise MessageError(f"audio is not valid base64: {exc}", type=type) from None
    if len(pcm) % SAMPLE_WIDTH:
        raise MessageError(f"audio has {len(pcm)} bytes, not whole 16-bit samples", type=type)
    return pcm


def encode_pcm(pcm: bytes | bytearray | memoryview) -> str:
    """PCM16 bytes to base64 text; raises ``ValueError`` when the length is odd."""
    if len(pcm) % SAMPLE_WIDTH:
        raise ValueError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}")
    return pybase64.b64encode(pcm).decode("ascii")


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(cls: type[Any]) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


class WireObject:
    """Methods shared by every message and message data class (the ``BaseModel`` names)."""

    __slots__ = ()

    @classmethod
    def model_validate(cls, obj: object) -> Self:
        """Validate a decoded JSON value (raises ``pydantic.ValidationError``)."""
        result: Self = _adapter(cls).validate_python(obj)
        return result

    def model_dump(self, *, mode: Literal["python", "json"] = "python", exclude_none: bool = True) -> Any:
        return _adapter(type(self)).dump_python(self, mode=mode, exclude_none=exclude_none, by_alias=True)

    def model_dump_json(self) -> str:
        return self.to_json().decode()

    def to_wire(self) -> Any:
        """The JSON value for the wire."""
        return self.model_dump(mode="json")

    def to_json(self) -> bytes:
        """The frame's bytes (UTF-8 JSON)."""
        return orjson.dumps(self.to_wire())


# --- data ----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, config=_IGNORE_EXTRA)
class VoiceSessionEmptyData(WireObject):
    """``{}`` of ``speech_stopped``, ``interruption`` and ``session_ended``."""


@dataclass(frozen=True, kw_only=True, config=_IGNORE_EXTRA)
class SessionStartedData(WireObject):
    id: str


@dataclass(frozen=True, kw_only=True, config=_IGNORE_EXTRA)
class ResponseAudioData(WireObject):
    turn_id: str = ""
    audio: str = Field(description="Base64 PCM16 24 kHz mono")
    is_final: bool = False

    @property
    def pcm(self) -> bytes:
        """The audio as PCM16 bytes (raises :class:`MessageError` if the base64 is bad)."""
        try:  # decode_pcm, written out: every agent audio frame comes through here
            pcm: bytes = _b64decode(self.audio, validate=True)
        except ValueError:
            return decode_pcm(self.audio, type="response_audio")  # raises the MessageError
        if len(pcm) & 1:
            return decode_pcm(self.audio, type="response_audio")
        return pcm


@dataclass(frozen=True, kw_only=True, config=_IGNORE_EXTRA)
class ResponseTextData(WireObject):
    turn_id: str = ""
    text: str
    is_final: bool = True


@dataclass(frozen=True, kw_only=True, config=_IGNORE_EXTRA)
class InputAudioTranscriptData(WireObject):
    transcript: str
    turn_id: str | None = None
    is_final: bool = True


@dataclass(frozen=True, kw_only=True, config=_IGNORE_EXTRA)
class SpeechStartedData(WireObject):
    emulated: bool = False


@dataclass(frozen=True, kw_only=True, config=_IGNORE_EXTRA)
class ToolCallArgument(WireObject):
    """One argument descriptor of a ``tool_call`` (``VoiceSessionInputVariable``)."""

    name: str | None = None
    type: str | None = None
    dataType: str | None = None
    description: str | None = None
    required: bool | None = None
    value: Any = None


@dataclass(frozen=True, kw_only=True, config=_IGNORE_EXTRA)
class ToolCallData(WireObject):
    toolCallId: str = Field(validation_alias=AliasChoices("toolCallId", "tool_call_id"))
    toolName: str = Field(validation_alias=AliasChoices("toolName", "tool_name"))
    arguments: list[ToolCallArgument] = Field(default_factory=list)

    @field_validator("arguments", mode="before")
    @classmethod
    def _arguments_list(cls, value: object) -> object:
        # The JS SDK turns a non-list into []; a null or missing list is empty here too.
        return value if isinstance(value, list) else []

    def argument_values(self) -> dict[str, Any]:
        """The arguments as ``{name: value}``, skipping descriptors without a name."""
        return {a.name: a.value for a in self.arguments if a.name is not None}


@dataclass(frozen=True, kw_only=True, config=_IGNORE_EXTRA)
class InputAudioData(WireObject):
    audio: str = Field(description="Base64 PCM16 24 kHz mono")

    @property
    def pcm(self) -> bytes:
        """The audio as PCM16 bytes (raises :class:`MessageError` if the base64 is bad)."""
        return decode_pcm(self.audio, type="input_audio")


@dataclass(frozen=True, kw_only=True, config=_IGNORE_EXTRA)
class ToolCallOutputData(WireObject):
    toolCallId: str
    output: str


# --- messages ------------------------------------------------------------------------------------


class Message(WireObject):
    """A whole frame: ``type`` and ``data``."""

    __slots__ = ()
    type: str
    data: Any

    @field_validator("data", mode="before")
    @classmethod
    def _null_data_is_empty(cls, value: object) -> object:
        return {} if value is None else value


@dataclass(frozen=True, kw_only=True, config=_IGNORE_EXTRA)
class SessionStarted(Message):
    type: Literal["session_started"] = "session_started"
    data: SessionStartedData


@dataclass(frozen=True, kw_only=True, config=_IGNORE_EXTRA)
class ResponseAudio(Message):
    type: Literal["response_audio"] = "response_audio"
    data: ResponseAudioData

    @classmethod
    def from_pcm(cls, turn_id: str, pcm: bytes | bytearray | memoryview, *, is_final: bool) -> ResponseAudio:
        """A frame of raw PCM16 24 kHz mono bytes (``ValueError`` on an odd length): the server sends
        50 a second per call, so the fields, whose types are given, are not validated again."""
        fields = {"turn_id": str(turn_id), "audio": encode_pcm(pcm), "is_final": bool(is_final)}
        data = _adopt(ResponseAudioData, fields)
        message: ResponseAudio = _adopt(cls, {"type": "response_audio", "data": data})
        return message

    def to_json(self) -> bytes:
        # The hot path, assembled directly; the same bytes as the generic path (tests/protocol).
        data = self.data
        return (
            _RESPONSE_AUDIO_HEAD
            + _orjson_dumps(data.turn_id)
            + b',"audio":'
            + _orjson_dumps(data.audio)
            + (b',"is_final":true}}' if data.is_final else b',"is_final":false}}')
        )


@dataclass(frozen=True, kw_only=True, config=_IGNORE_EXTRA)
class ResponseText(Message):
    type: Literal["response_text"] = "response_text"
    data: ResponseTextData


@dataclass(frozen=True, kw_only=True, config=_IGNORE_EXTRA)
class InputAudioTranscript(Message):
    type: Literal["input_audio_transcript"] = "input_audio_transcript"
    data: InputAudioTranscriptData


@dataclass(frozen=True, kw_only=True, config=_IGNORE_EXTRA)
class SpeechStarted(Message):
    type: Literal["speech_started"] = "speech_started"
    data: SpeechStartedData = Field(default_factory=SpeechStartedData)


@dataclass(frozen=True, kw_only=True, config=_IGNORE_EXTRA)
class SpeechStopped(Message):
    type: Literal["speech_stopped"] = "speech_stopped"
    data: VoiceSessionEmptyData = Field(default_factory=VoiceSessionEmptyData)


@dataclass(frozen=True, kw_only=True, config=_IGNORE_EXTRA)
class Interruption(Message):
    type: Literal["interruption"] = "interruption"
    data: VoiceSessionEmptyData = Field(default_factory=VoiceSessionEmptyData)


@dataclass(frozen=True, kw_only=True, config=_IGNORE_EXTRA)
class SessionEnded(Message):
    type: Literal["session_ended"] = "session_ended"
    data: VoiceSessionEmptyData = Field(default_factory=VoiceSessionEmptyData)


@dataclass(frozen=True, kw_only=True, config=_IGNORE_EXTRA)
class ToolCall(Message):
    type: Literal["tool_call"] = "tool_call"
    data: ToolCallData


@dataclass(frozen=True, kw_only=True, config=_IGNORE_EXTRA)
class InputAudio(Message):
    type: Literal["input_audio"] = "input_audio"
    data: InputAudioData

    @classmethod
    def from_pcm(cls, pcm: bytes | bytearray | memoryview) -> InputAudio:
        """A frame for raw PCM16 24 kHz mono bytes (``ValueError`` on an odd length)."""
        data: InputAudioData = _adopt(InputAudioData, {"audio": encode_pcm(pcm)})
        message: InputAudio = _adopt(cls, {"type": "input_audio", "data": data})
        return message

    def to_json(self) -> bytes:
        # The hot path: base64 needs no JSON escaping, so the frame is assembled directly.
        return _INPUT_AUDIO_HEAD + self.data.audio.encode("ascii") + _AUDIO_TAIL


@dataclass(frozen=True, kw_only=True, config=_IGNORE_EXTRA)
class ToolCallOutput(Message):
    type: Literal["tool_call_output"] = "tool_call_output"
    data: ToolCallOutputData


@dataclass(frozen=True, kw_only=True, config=_IGNORE_EXTRA)
class UnknownMessage(Message):
    """A message whose ``type`` this version does not know: kept as read, never an error."""

    type: str
    data: Any = None

    known: ClassVar[bool] = False


ServerMessage = (
    SessionStarted
    | ResponseAudio
    | ResponseText
    | InputAudioTranscript
    | SpeechStarted
    | SpeechStopped
    | Interruption
    | SessionEnded
    | ToolCall
)
"""Every message the server sends (OpenAPI ``VoiceSessionServerMessage``)."""

ClientMessage = InputAudio | ToolCallOutput
"""Every message a client sends."""

SERVER_MESSAGE_TYPES: Mapping[str, type[Message]] = {
    "session_started": SessionStarted,
    "response_audio": ResponseAudio,
    "response_text": ResponseText,
    "input_audio_transcript": InputAudioTranscript,
    "speech_started": SpeechStarted,
    "speech_stopped": SpeechStopped,
    "interruption": Interruption,
    "session_ended": SessionEnded,
    "tool_call": ToolCall,
}
CLIENT_MESSAGE_TYPES: Mapping[str, type[Message]] = {
    "input_audio": InputAudio,
    "tool_call_output": ToolCallOutput,
}

_INPUT_AUDIO_HEAD = b'{"type":"input_audio","data":{"audio":"'
_RESPONSE_AUDIO_HEAD = b'{"type":"response_audio","data":{"turn_id":'
_AUDIO_TAIL = b'"}}'


# --- fast construction of the two audio messages -------------------------------------------------
# Used only after the decoder has checked by hand that the decoded object has exactly the fields of
# the model, each of the right type, so the result is what validation would give; anything
# unusual takes the validating path. The decoded dict itself becomes the instance's ``__dict__``.

_new = object.__new__
_set = object.__setattr__


def _adopt(cls: type[Any], fields: dict[str, Any]) -> Any:
    instance = _new(cls)
    _set(instance, "__dict__", fields)
    return instance


# --- parsing -------------------------------------------------------------------------------------


def _parse(raw: object, known: Mapping[str, type[Message]], frame: str | bytes | None) -> Message:
    if type(raw) is not dict:
        raise MessageError(f"expected a JSON object, got {type(raw).__name__}", frame=frame)
    kind = raw.get("type")
    if type(kind) is not str:
        raise MessageError("the 'type' field is missing or not a string", frame=frame)
    cls = known.get(kind)
    if cls is None:
        return UnknownMessage(type=kind, data=raw.get("data"))
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}" for err in exc.errors()
        )
        raise MessageError(problems, frame=frame, type=kind) from None


def parse_server_message(raw: Mapping[str, Any]) -> ServerMessage | UnknownMessage:
    """A decoded JSON object to a typed server message (:class:`UnknownMessage` for new types)."""
    return _parse(raw, SERVER_MESSAGE_TYPES, None)  # type: ignore[return-value]


def parse_client_message(raw: Mapping[str, Any]) -> ClientMessage | UnknownMessage:
    """A decoded JSON object to a typed client message (:class:`UnknownMessage` for new types)."""
    return _parse(raw, CLIENT_MESSAGE_TYPES, None)  # type: ignore[return-value]


def decode_server_message(frame: str | bytes) -> ServerMessage | UnknownMessage:
    """One WebSocket frame (text, or bytes of UTF-8 JSON) to a server message."""
    try:
        raw = _orjson_loads(frame)
    except orjson.JSONDecodeError as exc:
        raise MessageError(f"not JSON ({exc})", frame=frame) from None
    # Fast path for the usual audio frame: exactly {"type", "data": {turn_id, audio, is_final}}.
    # (Written out, not through _adopt: this runs 50 times a second per session.)
    if type(raw) is dict and len(raw) == 2:
        data = raw.get("data")
        if (
            type(data) is dict
            and len(data) == 3
            and raw.get("type") == "response_audio"
            and type(data.get("audio")) is str
            and type(data.get("turn_id")) is str
            and type(data.get("is_final")) is bool
        ):
            audio_data = _new(ResponseAudioData)
            _set(audio_data, "__dict__", data)
            raw["data"] = audio_data
            message: ResponseAudio = _new(ResponseAudio)
            _set(message, "__dict__", raw)
            return message
    return _parse(raw, SERVER_MESSAGE_TYPES, frame)  # type: ignore[return-value]


def decode_client_message(frame: str | bytes) -> ClientMessage | UnknownMessage:
    """One WebSocket frame (text, or bytes of UTF-8 JSON) to a client message."""
    try:
        raw = _orjson_loads(frame)
    except orjson.JSONDecodeError as exc:
        raise MessageError(f"not JSON ({exc})", frame=frame) from None
    # Fast path for the usual audio frame: exactly {"type", "data": {"audio"}}.
    if type(raw) is dict and len(raw) == 2 and raw.get("type") == "input_audio":
        data = raw.get("data")
        if type(data) is dict and len(data) == 1 and type(data.get("audio")) is str:
            raw["data"] = _adopt(InputAudioData, data)
            message: InputAudio = _adopt(InputAudio, raw)
            return message
    return _parse(raw, CLIENT_MESSAGE_TYPES, frame)  # type: ignore[return-value]


def encode_input_audio(pcm: bytes | bytearray | memoryview) -> bytes:
    """The ``input_audio`` frame for raw PCM16 bytes, without building a message object."""
    if len(pcm) % SAMPLE_WIDTH:
        raise ValueError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}")
    return _INPUT_AUDIO_HEAD + pybase64.b64encode(pcm) + _AUDIO_TAIL
