"""The session WebSocket client (``vatel.connection`` and ``Client.connect``) against a real,
scripted WebSocket server on 127.0.0.1 (``tests/support/ws_peer.py``).

Every test runs a server in its own event loop and stops it before the next test; nothing waits
longer than a few seconds, whatever breaks.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
import pytest
import websockets.exceptions

import vatel
from support.ws_peer import (
    Abort,
    Action,
    Close,
    ExpectFrames,
    Reject,
    SendBinary,
    SendText,
    SilentPeer,
    Sleep,
    WaitFor,
    WsPeer,
    frame,
    send,
    unused_port,
)
from vatel.connection import CONNECTION_PATH, ConnectCall, Connection, ConnectionState, websocket_url
from vatel.protocol import (
    InputAudioTranscript,
    Interruption,
    Message,
    ResponseAudio,
    ResponseText,
    SessionEnded,
    SessionStarted,
    SpeechStarted,
    SpeechStopped,
    ToolCall,
    UnknownMessage,
)

pytestmark = pytest.mark.loopback

TOKEN = "tok.en-123"
PCM = bytes(range(256)) * 8  # 2048 bytes: 1024 samples of PCM16
PCM_B64 = base64.b64encode(PCM).decode()


# --- fixtures and helpers ------------------------------------------------------------------------


class Loopback:
    """Starts peers and dials them; :meth:`close` closes every client connection, then every peer."""

    def __init__(self) -> None:
        self.peers: list[WsPeer] = []
        self.connections: list[Connection] = []

    async def peer(self, *script: Action, reject: Reject | None = None) -> WsPeer:
        peer = await WsPeer(script, reject=reject).start()
        self.peers.append(peer)
        return peer

    async def connect(self, peer: WsPeer, **options: Any) -> Connection:
        conn = await vatel.connect(TOKEN, url=peer.url, **options)
        self.connections.append(conn)
        return conn

    async def connect_via(self, entry: str, peer: WsPeer, **options: Any) -> Connection:
        """Dial with ``vatel.connect(url=...)`` or with ``Client(base_url=...).connect()``."""
        if entry == "vatel.connect":
            return await self.connect(peer, **options)
        assert entry == "Client.connect"
        client = vatel.Client(api_key="k", base_url=peer.url)
        try:
            return self.track(await client.connect(TOKEN, **options))
        finally:
            await client.aclose()

    def track(self, conn: Connection) -> Connection:
        self.connections.append(conn)
        return conn

    async def close(self) -> None:
        for conn in self.connections:
            async with asyncio.timeout(5):
                await conn.websocket.close()
        for peer in self.peers:
            await peer.stop()


@pytest.fixture
async def loop_back() -> AsyncIterator[Loopback]:
    loopback = Loopback()
    try:
        yield loopback
    finally:
        await loopback.close()


async def drain(conn: Connection, seen: list[Message], **options: Any) -> None:
    """Append every message of ``conn.stream_messages(**options)`` to ``seen`` until the stream
    ends or raises; fails after 5 s rather than hanging."""
    async with asyncio.timeout(5):
        async for message in conn.stream_messages(**options):
            seen.append(message)


async def collect(conn: Connection, **options: Any) -> list[Message]:
    """Every message of ``conn.stream_messages(**options)`` (see :func:`drain`)."""
    seen: list[Message] = []
    await drain(conn, seen, **options)
    return seen


def started(call_id: str = "call-1") -> SendText:
    return send("session_started", {"id": call_id})


def text(value: str, *, turn_id: str = "turn-1", is_final: bool = True) -> SendText:
    return send("response_text", {"turn_id": turn_id, "text": value, "is_final": is_final})


def audio_frame(pcm: bytes, *, turn_id: str = "turn-1", is_final: bool = False) -> dict[str, Any]:
    return frame(
        "response_audio", {"turn_id": turn_id, "audio": base64.b64encode(pcm).decode(), "is_final": is_final}
    )


def state_of(conn: Connection) -> ConnectionState:
    """``conn.state``, read through a call so that mypy does not keep an earlier narrowing."""
    return conn.state


def parsed(raw: str | bytes) -> Any:
    assert isinstance(raw, str), f"expected a text frame, got binary {raw!r:.80}"
    return orjson.loads(raw)


# --- URLs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("http://example.test", "ws://example.test/v1/connection?token=t"),
        ("https://example.test", "wss://example.test/v1/connection?token=t"),
        ("ws://example.test:8080", "ws://example.test:8080/v1/connection?token=t"),
        ("wss://example.test", "wss://example.test/v1/connection?token=t"),
        ("HTTPS://example.test", "wss://example.test/v1/connection?token=t"),
        ("https://example.test/api", "wss://example.test/api/v1/connection?token=t"),
        ("https://example.test/api/", "wss://example.test/api/v1/connection?token=t"),
        ("http://127.0.0.1:9000/", "ws://127.0.0.1:9000/v1/connection?token=t"),
        ("  https://example.test/a/b//  ", "wss://example.test/a/b/v1/connection?token=t"),
    ],
)
def test_websocket_url_maps_the_scheme_and_keeps_the_path_prefix(base: str, expected: str) -> None:
    assert websocket_url(base, "t") == expected


def test_websocket_url_encodes_the_token() -> None:
    token = "a b+c/=&next=1?#é"
    url = websocket_url("https://example.test", token)
    query = url.partition("?")[2]
    assert "&next=1" not in query
    assert " " not in query
    assert "#" not in query
    assert query == "token=a+b%2Bc%2F%3D%26next%3D1%3F%23%C3%A9"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v2/connection", "wss://example.test/v2/connection?token=t"),
        ("custom", "wss://example.test/custom?token=t"),
        (CONNECTION_PATH, "wss://example.test/v1/connection?token=t"),
    ],
)
def test_websocket_url_path_override(path: str, expected: str) -> None:
    assert websocket_url("https://example.test", "t", path) == expected


@pytest.mark.parametrize(
    "base", ["", "   ", "example.test", "ftp://example.test", "http://", "://example.test", "https:///x"]
)
def test_websocket_url_rejects_a_bad_base(base: str) -> None:
    with pytest.raises(ValueError, match="url must look like"):
        websocket_url(base, "t")


@pytest.mark.parametrize("base", ["https://example.test/api?x=1", "https://example.test/#top", "http://h/?"])
def test_websocket_url_rejects_a_query_or_fragment(base: str) -> None:
    with pytest.raises(ValueError, match="query or fragment"):
        websocket_url(base, "t")


@pytest.mark.parametrize("token", ["", None, 42])
def test_websocket_url_rejects_an_empty_or_non_string_token(token: Any) -> None:
    with pytest.raises(ValueError, match="token"):
        websocket_url("https://example.test", token)


def test_connect_validates_before_dialling() -> None:
    with pytest.raises(ValueError, match="token"):
        vatel.connect("", url="http://127.0.0.1:1")
    with pytest.raises(ValueError, match="url"):
        vatel.Client(api_key="k").connect(TOKEN, url="not a url")


def test_module_connect_defaults_to_production_but_client_connect_uses_its_base_url() -> None:
    # ConnectCall only dials when awaited, so these make no network call.
    assert vatel.connect("t").url == "wss://api.vatel.ai/v1/connection?token=t"
    client = vatel.Client(api_key="k", base_url="https://staging.example.test/api/")
    call = client.connect("t")
    assert isinstance(call, ConnectCall)
    assert call.url == "wss://staging.example.test/api/v1/connection?token=t"


async def test_client_connect_dials_its_own_base_url_with_the_prefix(loop_back: Loopback) -> None:
    peer = await loop_back.peer(started())
    client = vatel.Client(api_key="k", base_url=f"{peer.url}/prefix")
    call = client.connect(TOKEN)
    assert call.url == f"ws://127.0.0.1:{peer.port}/prefix/v1/connection?token={TOKEN}"
    conn = loop_back.track(await call)
    assert isinstance(await conn.receive(timeout=5), SessionStarted)
    [request] = peer.requests
    assert request.path == "/prefix/v1/connection"
    assert request.params == {"token": [TOKEN]}
    assert request.headers["user-agent"].startswith("vatel-python/")
    await client.aclose()


async def test_client_connect_url_and_path_override_the_base_url(loop_back: Loopback) -> None:
    peer = await loop_back.peer(started())
    # Nothing listens at the client's own base URL: only the override can succeed.
    client = vatel.Client(api_key="k", base_url=f"http://127.0.0.1:{unused_port()}")
    conn = loop_back.track(await client.connect("a b&c", url=f"{peer.ws_url}/base", path="/v9/session"))
    assert isinstance(await conn.receive(timeout=5), SessionStarted)
    [request] = peer.requests
    assert request.path == "/base/v9/session"
    assert request.params == {"token": ["a b&c"]}
    await client.aclose()


async def test_client_connect_path_override_alone(loop_back: Loopback) -> None:
    peer = await loop_back.peer(started())
    client = vatel.Client(api_key="k", base_url=peer.url)
    conn = loop_back.track(await client.connect(TOKEN, path="/custom/ws"))
    await conn.receive(timeout=5)
    assert [r.target for r in peer.requests] == [f"/custom/ws?token={TOKEN}"]
    await client.aclose()


# --- opening and closing from the client -----------------------------------------------------------


async def test_await_connect_gives_an_open_connection(loop_back: Loopback) -> None:
    peer = await loop_back.peer(started())
    conn = await vatel.connect(TOKEN, url=peer.url)
    assert isinstance(conn, Connection)
    assert (conn.state, conn.close_code) == (ConnectionState.OPEN, None)
    assert isinstance(await conn.receive(timeout=5), SessionStarted)
    await conn.close()
    assert state_of(conn) is ConnectionState.CLOSED
    assert conn.close_code == 1000
    server_side = await peer.connection()
    await server_side.wait_closed()
    assert server_side.close_code == 1000


async def test_async_with_closes_with_1000(loop_back: Loopback) -> None:
    peer = await loop_back.peer(started())
    client = vatel.Client(api_key="k", base_url=peer.url)
    async with client.connect(TOKEN) as conn:
        assert isinstance(conn, Connection)
        message = await conn.receive(timeout=5)
        assert isinstance(message, SessionStarted)
        assert state_of(conn) is ConnectionState.OPEN
    assert state_of(conn) is ConnectionState.CLOSED
    server_side = await peer.connection()
    await server_side.wait_closed()
    assert server_side.close_code == 1000
    await client.aclose()


async def test_async_with_closes_with_1011_when_the_block_raises(loop_back: Loopback) -> None:
    peer = await loop_back.peer(started())

    async def fail_inside() -> None:
        async with vatel.connect(TOKEN, url=peer.url) as conn:
            await conn.receive(timeout=5)
            raise RuntimeError("user bug")

    with pytest.raises(RuntimeError, match="user bug"):
        await fail_inside()
    server_side = await peer.connection()
    await server_side.wait_closed()
    assert server_side.close_code == 1011


# --- receiving -----------------------------------------------------------------------------------

TOOL_ARGUMENTS = [
    {"name": "city", "type": "resolved", "dataType": "string", "value": "Paris"},
    {"name": "days", "dataType": "number", "required": True, "value": 3},
]

FULL_SESSION: list[Action] = [
    started("call-42"),
    SendText(audio_frame(PCM, turn_id="t1", is_final=False)),
    text("Hello", turn_id="t1", is_final=False),
    text("Hello there", turn_id="t1", is_final=True),
    send("speech_started", {"emulated": True}),
    send("input_audio_transcript", {"transcript": "weather", "turn_id": "u1", "is_final": False}),
    send("input_audio_transcript", {"transcript": "weather in Paris", "is_final": True}),
    send("speech_stopped"),
    send("interruption"),
    send("tool_call", {"toolCallId": "tc-1", "toolName": "get_weather", "arguments": TOOL_ARGUMENTS}),
    send("session_ended"),
    Close(1000, "bye"),
]


async def test_stream_messages_yields_every_type_typed(loop_back: Loopback) -> None:
    peer = await loop_back.peer(*FULL_SESSION)
    conn = await loop_back.connect(peer)
    assert (conn.session_id, conn.session_ended) == (None, False)
    messages = await collect(conn)

    assert [type(m) for m in messages] == [
        SessionStarted,
        ResponseAudio,
        ResponseText,
        ResponseText,
        SpeechStarted,
        InputAudioTranscript,
        InputAudioTranscript,
        SpeechStopped,
        Interruption,
        ToolCall,
        SessionEnded,
    ]
    started_msg, audio, interim, final, speech, partial, transcript, _, _, tool, _ = messages
    assert isinstance(started_msg, SessionStarted)
    assert started_msg.data.id == "call-42"
    assert isinstance(audio, ResponseAudio)
    assert audio.data.pcm == PCM
    assert audio.data.turn_id == "t1"
    assert audio.data.is_final is False
    assert isinstance(interim, ResponseText)
    assert (interim.data.text, interim.data.is_final) == ("Hello", False)
    assert isinstance(final, ResponseText)
    assert (final.data.text, final.data.is_final) == ("Hello there", True)
    assert isinstance(speech, SpeechStarted)
    assert speech.data.emulated is True
    assert isinstance(partial, InputAudioTranscript)
    assert partial.data.turn_id == "u1"
    assert partial.data.is_final is False
    assert isinstance(transcript, InputAudioTranscript)
    assert (transcript.data.transcript, transcript.data.is_final) == ("weather in Paris", True)
    assert isinstance(tool, ToolCall)
    assert (tool.data.toolCallId, tool.data.toolName) == ("tc-1", "get_weather")
    assert tool.data.argument_values() == {"city": "Paris", "days": 3}
    assert tool.data.arguments[1].required is True

    assert conn.session_id == "call-42"
    assert conn.session_ended is True
    assert conn.close_code == 1000
    assert conn.close_reason == "bye"
    assert conn.malformed_frames == 0
    assert not conn.unknown_types


async def test_async_for_over_the_connection(loop_back: Loopback) -> None:
    peer = await loop_back.peer(started(), text("hi"), Close(1000))
    conn = await loop_back.connect(peer)
    seen: list[str] = []
    async with asyncio.timeout(5):
        async for message in conn:
            seen.append(message.type)
    assert seen == ["session_started", "response_text"]


async def test_unknown_types_are_yielded_and_counted(loop_back: Loopback) -> None:
    peer = await loop_back.peer(
        started(),
        send("agent_thinking", {"level": 3}),
        SendText({"type": "agent_thinking", "data": None}),
        SendText({"type": "metrics"}),
        text("still going"),
        Close(1000),
    )
    conn = await loop_back.connect(peer)
    messages = await collect(conn)
    assert messages[1:4] == [
        UnknownMessage(type="agent_thinking", data={"level": 3}),
        UnknownMessage(type="agent_thinking", data=None),
        UnknownMessage(type="metrics", data=None),
    ]
    assert isinstance(messages[4], ResponseText)
    assert messages[4].data.text == "still going"
    assert conn.unknown_types == Counter({"agent_thinking": 2, "metrics": 1})
    assert conn.malformed_frames == 0


@pytest.mark.parametrize(
    ("kind", "cls"),
    [("speech_stopped", SpeechStopped), ("interruption", Interruption), ("session_ended", SessionEnded)],
)
async def test_null_or_missing_data_on_signal_types(
    loop_back: Loopback, kind: str, cls: type[Message]
) -> None:
    peer = await loop_back.peer(
        SendText(f'{{"type":"{kind}","data":null}}'),
        SendText(f'{{"type":"{kind}"}}'),
        SendText(f'{{"type":"{kind}","data":{{}}}}'),
        SendText(f'{{"type":"{kind}","data":{{"reason":"hangup"}}}}'),
        Close(1000),
    )
    conn = await loop_back.connect(peer)
    messages = await collect(conn)
    assert [type(m) for m in messages] == [cls] * 4
    assert conn.malformed_frames == 0
    assert conn.session_ended is (kind == "session_ended")


async def test_speech_started_with_null_or_missing_data(loop_back: Loopback) -> None:
    peer = await loop_back.peer(
        SendText('{"type":"speech_started","data":null}'),
        SendText('{"type":"speech_started"}'),
        Close(1000),
    )
    conn = await loop_back.connect(peer)
    messages = await collect(conn)
    assert all(isinstance(m, SpeechStarted) and m.data.emulated is False for m in messages)
    assert len(messages) == 2


async def test_missing_is_final_and_turn_id(loop_back: Loopback) -> None:
    peer = await loop_back.peer(
        send("response_text", {"text": "old server"}),
        send("input_audio_transcript", {"transcript": "hello"}),
        send("response_audio", {"turn_id": "t", "audio": PCM_B64}),
        send("response_audio", {"audio": PCM_B64}),
        Close(1000),
    )
    conn = await loop_back.connect(peer)
    reply, transcript, audio, bare_audio = await collect(conn)
    assert isinstance(reply, ResponseText)
    assert (reply.data.text, reply.data.is_final, reply.data.turn_id) == ("old server", True, "")
    assert isinstance(transcript, InputAudioTranscript)
    assert (transcript.data.is_final, transcript.data.turn_id) == (True, None)
    assert isinstance(audio, ResponseAudio)
    assert audio.data.is_final is False
    assert audio.data.pcm == PCM
    assert isinstance(bare_audio, ResponseAudio)
    assert bare_audio.data.turn_id == ""
    assert conn.malformed_frames == 0


async def test_extra_fields_at_both_levels_are_ignored(loop_back: Loopback) -> None:
    peer = await loop_back.peer(
        send("session_started", {"id": "c9", "region": "eu"}, timestamp=1716000000),
        send("response_text", {"turn_id": "t", "text": "x", "is_final": True, "confidence": 0.9}, seq=2),
        SendText({**audio_frame(PCM, is_final=True), "timestamp": 3}),
        send("response_audio", {"turn_id": "t", "audio": PCM_B64, "is_final": True, "codec": "pcm16"}),
        send("tool_call", {"toolCallId": "a", "toolName": "b", "arguments": [], "extra": 1}, v=1),
        send("speech_started", {"emulated": False, "energy": 0.4}, ts="now"),
        Close(1000),
    )
    conn = await loop_back.connect(peer)
    messages = await collect(conn)
    assert [m.type for m in messages] == [
        "session_started",
        "response_text",
        "response_audio",
        "response_audio",
        "tool_call",
        "speech_started",
    ]
    assert conn.session_id == "c9"
    for message in messages[2:4]:
        assert isinstance(message, ResponseAudio)
        assert message.data.pcm == PCM
        assert message.data.is_final
    assert conn.malformed_frames == 0
    assert not conn.unknown_types


async def test_binary_frame_with_utf8_json_is_accepted(loop_back: Loopback) -> None:
    peer = await loop_back.peer(
        SendBinary(
            orjson.dumps(frame("response_text", {"turn_id": "t", "text": "héllo ✓", "is_final": True}))
        ),
        SendBinary(orjson.dumps(audio_frame(PCM))),
        Close(1000),
    )
    conn = await loop_back.connect(peer)
    reply, audio = await collect(conn)
    assert isinstance(reply, ResponseText)
    assert reply.data.text == "héllo ✓"
    assert isinstance(audio, ResponseAudio)
    assert audio.data.pcm == PCM
    assert conn.malformed_frames == 0


GARBAGE: list[Action] = [
    SendText("not json at all"),
    SendText('{"type": "response_text", "data": {'),
    SendBinary(b"\xff\xfe\x00\x81binary junk"),
    SendText("[1, 2, 3]"),
    SendText('"just a string"'),
    SendText("null"),
    SendText('{"data": {}}'),
    SendText('{"type": 5, "data": {}}'),
    SendText('{"type":"response_text","data":{"text":5}}'),
    SendText('{"type":"response_text","data":"text"}'),
    SendText('{"type":"session_started","data":{}}'),
    SendText('{"type":"response_audio","data":{"turn_id":"t","audio":7,"is_final":false}}'),
    SendText('{"type":"speech_started","data":{"emulated":"very"}}'),
    SendText('{"type":"tool_call","data":{"toolName":"x"}}'),
]
GARBAGE_IDS = [
    "not-json",
    "truncated-json",
    "binary-junk",
    "json-array",
    "json-string",
    "json-null",
    "no-type",
    "type-not-string",
    "text-not-string",
    "data-not-object",
    "missing-required-id",
    "audio-not-string",
    "emulated-not-bool",
    "tool-call-missing-id",
]


@pytest.mark.parametrize("garbage", GARBAGE, ids=GARBAGE_IDS)
async def test_garbage_is_skipped_and_counted(
    loop_back: Loopback, garbage: Action, caplog: pytest.LogCaptureFixture
) -> None:
    peer = await loop_back.peer(started(), garbage, text("after"), garbage, text("again"), Close(1000))
    conn = await loop_back.connect(peer)
    with caplog.at_level(logging.WARNING, logger="vatel.connection"):
        messages = await collect(conn)
    assert [m.type for m in messages] == ["session_started", "response_text", "response_text"]
    assert [m.data.text for m in messages if isinstance(m, ResponseText)] == ["after", "again"]
    assert conn.malformed_frames == 2
    assert not conn.unknown_types
    assert "skipped frame #1" in caplog.text


@pytest.mark.parametrize("garbage", GARBAGE, ids=GARBAGE_IDS)
async def test_garbage_raises_message_error_when_strict(loop_back: Loopback, garbage: Action) -> None:
    peer = await loop_back.peer(started(), garbage, text("after"), Close(1000))
    conn = await loop_back.connect(peer, strict=True)
    seen: list[Message] = []
    with pytest.raises(vatel.MessageError) as excinfo:
        await drain(conn, seen)
    assert [m.type for m in seen] == ["session_started"]
    assert conn.malformed_frames == 1
    assert isinstance(excinfo.value, ValueError)  # MessageError is also a ValueError
    assert excinfo.value.frame is not None


async def test_strict_message_error_names_the_type_and_keeps_the_frame(loop_back: Loopback) -> None:
    peer = await loop_back.peer(SendText('{"type":"response_text","data":{"text":5}}'))
    conn = await loop_back.connect(peer, strict=True)
    with pytest.raises(vatel.MessageError) as excinfo:
        await conn.receive(timeout=5)
    assert excinfo.value.type == "response_text"
    assert excinfo.value.frame == '{"type":"response_text","data":{"text":5}}'
    assert "text" in excinfo.value.reason


# --- frame size ----------------------------------------------------------------------------------


ENTRY_POINTS = ["vatel.connect", "Client.connect"]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
async def test_frame_over_max_size_closes_with_1009(loop_back: Loopback, entry: str) -> None:
    big = frame("response_text", {"turn_id": "t", "text": "x" * 2000, "is_final": True})
    peer = await loop_back.peer(started(), SendText(big), text("never read"))
    conn = await loop_back.connect_via(entry, peer, max_size=1024)
    seen: list[Message] = []
    with pytest.raises(vatel.ConnectionClosedError) as excinfo:
        await drain(conn, seen)
    assert [m.type for m in seen] == ["session_started"]
    assert excinfo.value.code == 1009
    assert excinfo.value.session_ended is False
    assert conn.close_code == 1009  # the property agrees with the error
    server_side = await peer.connection()
    await server_side.wait_closed()
    assert server_side.close_code == 1009  # the client told the server why


@pytest.mark.parametrize("entry", ENTRY_POINTS)
async def test_two_mib_frame_is_accepted_by_default(loop_back: Loopback, entry: str) -> None:
    pcm = bytes(range(256)) * (3 * 2**19 // 256)  # 1.5 MiB of PCM: 2 MiB of base64
    big = audio_frame(pcm, is_final=True)
    assert len(orjson.dumps(big)) > 2 * 2**20  # twice the websockets default limit
    peer = await loop_back.peer(started(), SendText(big), Close(1000))
    conn = await loop_back.connect_via(entry, peer)
    _, audio = await collect(conn)
    assert isinstance(audio, ResponseAudio)
    assert audio.data.pcm == pcm


# --- closing from the server ---------------------------------------------------------------------


@pytest.mark.parametrize("code", [1000, 1001])
async def test_normal_server_close_ends_the_stream_quietly(loop_back: Loopback, code: int) -> None:
    peer = await loop_back.peer(started(), text("bye"), Close(code, "done"))
    conn = await loop_back.connect(peer)
    messages = await collect(conn)
    assert [m.type for m in messages] == ["session_started", "response_text"]
    assert conn.close_code == code
    assert conn.close_reason == "done"
    assert state_of(conn) is ConnectionState.CLOSED
    assert conn.session_ended is False


async def test_error_close_raises_with_code_and_reason(loop_back: Loopback) -> None:
    peer = await loop_back.peer(started(), text("partial"), Close(1011, "agent crashed"))
    conn = await loop_back.connect(peer)
    seen: list[Message] = []
    with pytest.raises(vatel.ConnectionClosedError) as excinfo:
        await drain(conn, seen)
    assert [m.type for m in seen] == ["session_started", "response_text"]
    error = excinfo.value
    assert isinstance(error, vatel.ConnectionClosed)
    assert (error.code, error.reason, error.session_ended) == (1011, "agent crashed", False)
    assert "1011" in str(error)
    assert "agent crashed" in str(error)
    assert conn.close_code == 1011
    assert conn.close_reason == "agent crashed"


async def test_error_close_after_session_ended_ends_quietly(loop_back: Loopback) -> None:
    peer = await loop_back.peer(started(), send("session_ended"), Close(1011, "cleanup failed"))
    conn = await loop_back.connect(peer)
    messages = await collect(conn)
    assert [m.type for m in messages] == ["session_started", "session_ended"]
    assert conn.session_ended
    assert conn.close_code == 1011


async def test_tcp_abort_mid_stream_raises_1006(loop_back: Loopback) -> None:
    peer = await loop_back.peer(started(), text("one"), Abort())
    conn = await loop_back.connect(peer)
    seen: list[Message] = []
    with pytest.raises(vatel.ConnectionClosedError) as excinfo:
        await drain(conn, seen)
    assert [m.type for m in seen] == ["session_started", "response_text"]
    assert excinfo.value.code == 1006
    assert excinfo.value.session_ended is False
    assert conn.close_code == 1006


async def test_tcp_abort_right_after_session_ended_ends_quietly(loop_back: Loopback) -> None:
    peer = await loop_back.peer(started(), send("session_ended"), Abort())
    conn = await loop_back.connect(peer)
    messages = await collect(conn)
    assert [m.type for m in messages] == ["session_started", "session_ended"]
    assert conn.session_ended is True
    assert conn.close_code == 1006


async def test_receive_after_close_raises_the_typed_error(loop_back: Loopback) -> None:
    peer = await loop_back.peer(Close(1011, "gone"))
    conn = await loop_back.connect(peer)
    for _ in range(2):  # the first read sees the close, later reads get the same answer
        with pytest.raises(vatel.ConnectionClosedError) as excinfo:
            await conn.receive(timeout=5)
        assert (excinfo.value.code, excinfo.value.reason) == (1011, "gone")

    peer_ok = await loop_back.peer(Close(1000))
    conn_ok = await loop_back.connect(peer_ok)
    assert await collect(conn_ok) == []
    with pytest.raises(vatel.ConnectionClosedOK) as excinfo_ok:
        await conn_ok.receive(timeout=5)
    assert excinfo_ok.value.code == 1000


@pytest.mark.parametrize(
    ("how", "expected_cls", "expected_code"),
    [
        ("server-1000", vatel.ConnectionClosedOK, 1000),
        ("server-1011", vatel.ConnectionClosedError, 1011),
        ("abort", vatel.ConnectionClosedError, 1006),
        ("client-close", vatel.ConnectionClosedOK, 1000),
    ],
)
async def test_send_after_close_raises_vatel_connection_closed(
    loop_back: Loopback, how: str, expected_cls: type[vatel.ConnectionClosed], expected_code: int
) -> None:
    script: dict[str, Sequence[Action]] = {
        "server-1000": [Close(1000)],
        "server-1011": [Close(1011)],
        "abort": [Abort()],
        "client-close": [],
    }
    peer = await loop_back.peer(*script[how])
    conn = await loop_back.connect(peer)
    if how == "client-close":
        await conn.close()
    else:
        with pytest.raises(vatel.ConnectionClosed):
            await conn.receive(timeout=5)
    sends = [
        conn.send_input_audio_bytes(PCM),
        conn.send_input_audio(PCM_B64),
        conn.send_tool_call_output("tc", "ok"),
        conn.send_json({"type": "x"}),
    ]
    for attempt in sends:
        with pytest.raises(vatel.ConnectionClosed) as excinfo:
            await attempt
        assert type(excinfo.value) is expected_cls
        assert excinfo.value.code == expected_code
        assert not isinstance(excinfo.value, websockets.exceptions.ConnectionClosed)


# --- handshake failures --------------------------------------------------------------------------

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("reject", "error_cls", "in_message"),
    [
        (Reject(401, b'{"error":"token expired"}', JSON), vatel.AuthenticationError, "token expired"),
        (
            Reject(403, b'{"error":"agent not allowed"}', JSON),
            vatel.PermissionDeniedError,
            "agent not allowed",
        ),
        (Reject(404, b'{"error":"agent not found"}', JSON), vatel.NotFoundError, "agent not found"),
        (Reject(404), vatel.NotFoundError, "HTTP 404 Not Found"),
        (Reject(400), vatel.BadRequestError, "HTTP 400 Bad Request: empty body"),
        (
            Reject(
                500,
                b"<!DOCTYPE html><html><head><title>502 Upstream Oops</title></head>"
                b"<body><h1>x</h1></body></html>",
                {"Content-Type": "text/html; charset=utf-8"},
            ),
            vatel.InternalServerError,
            "HTML page: 502 Upstream Oops",
        ),
        (
            Reject(503, b"maintenance\n", {"Content-Type": "text/plain"}),
            vatel.InternalServerError,
            "maintenance",
        ),
        (Reject(418, b'{"message":"teapot"}', JSON), vatel.APIError, "teapot"),
    ],
    ids=["401-json", "403-json", "404-json", "404-empty", "400-empty", "500-html", "503-text", "418-other"],
)
async def test_rejected_handshake_raises_a_typed_api_error(
    loop_back: Loopback, reject: Reject, error_cls: type[vatel.APIError], in_message: str
) -> None:
    peer = await loop_back.peer(started(), reject=reject)
    with pytest.raises(vatel.APIError) as excinfo:
        await vatel.connect(TOKEN, url=peer.url)
    error = excinfo.value
    assert type(error) is error_cls
    assert error.status_code == reject.status
    assert in_message in error.message
    assert str(error).startswith("GET /v1/connection: ")
    assert "token" not in (error.request or "")  # the token stays out of error messages
    assert len(peer.requests) == 1
    assert peer.connections == []


async def test_401_body_and_headers_are_kept(loop_back: Loopback) -> None:
    peer = await loop_back.peer(
        reject=Reject(401, b'{"error":"token expired"}', {**JSON, "X-Request-Id": "req-7"}),
    )
    client = vatel.Client(api_key="k", base_url=peer.url)
    with pytest.raises(vatel.AuthenticationError) as excinfo:
        async with client.connect(TOKEN):
            pytest.fail("the handshake should have failed")
    assert excinfo.value.body == {"error": "token expired"}
    assert excinfo.value.headers["x-request-id"] == "req-7"
    assert "HTTP 401 Unauthorized: token expired" in str(excinfo.value)
    await client.aclose()


async def test_rate_limited_handshake_has_retry_after(loop_back: Loopback) -> None:
    peer = await loop_back.peer(reject=Reject(429, b'{"error":"slow down"}', {**JSON, "Retry-After": "3"}))
    with pytest.raises(vatel.RateLimitError) as excinfo:
        await vatel.connect(TOKEN, url=peer.url)
    assert excinfo.value.retry_after == 3.0


async def test_connection_refused_raises_api_connection_error() -> None:
    started_at = time.monotonic()
    with pytest.raises(vatel.APIConnectionError) as excinfo:
        await vatel.connect(TOKEN, url=f"http://127.0.0.1:{unused_port()}", open_timeout=5)
    assert type(excinfo.value) is vatel.APIConnectionError  # refused, not a timeout
    assert excinfo.value.status_code is None
    assert "cannot open the session WebSocket" in str(excinfo.value)
    assert time.monotonic() - started_at < 2


async def test_handshake_that_never_completes_raises_api_timeout_error() -> None:
    async with SilentPeer() as silent:
        started_at = time.monotonic()
        with pytest.raises(vatel.APITimeoutError) as excinfo:
            await vatel.connect(TOKEN, url=silent.url, open_timeout=0.3)
        elapsed = time.monotonic() - started_at
        assert bytes(silent.received).startswith(b"GET /v1/connection?token=")
    assert 0.25 < elapsed < 2
    assert isinstance(excinfo.value, vatel.APIConnectionError)
    assert "0.3" in str(excinfo.value)


# --- timeouts ------------------------------------------------------------------------------------


async def test_receive_timeout_raises_and_the_connection_stays_usable(loop_back: Loopback) -> None:
    go = asyncio.Event()
    peer = await loop_back.peer(WaitFor(go), text("late"))
    conn = await loop_back.connect(peer)
    started_at = time.monotonic()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(3):  # only a backstop: the elapsed check below tells them apart
            await conn.receive(timeout=0.2)
    assert 0.15 < time.monotonic() - started_at < 2
    assert state_of(conn) is ConnectionState.OPEN
    go.set()
    message = await conn.receive(timeout=5)
    assert isinstance(message, ResponseText)
    assert message.data.text == "late"


async def test_stream_idle_timeout_raises_when_nothing_comes(loop_back: Loopback) -> None:
    peer = await loop_back.peer(started())
    conn = await loop_back.connect(peer)
    seen: list[Message] = []
    started_at = time.monotonic()
    with pytest.raises(TimeoutError):
        await drain(conn, seen, idle_timeout=0.2)
    assert [m.type for m in seen] == ["session_started"]
    assert time.monotonic() - started_at < 2


async def test_stream_idle_timeout_restarts_with_each_message(loop_back: Loopback) -> None:
    peer = await loop_back.peer(
        started(), Sleep(0.15), text("a"), Sleep(0.15), text("b"), Sleep(0.15), text("c"), Close(1000)
    )
    conn = await loop_back.connect(peer)
    messages = await collect(conn, idle_timeout=0.4)  # 0.45 s in all, but never 0.4 s of silence
    assert [m.data.text for m in messages if isinstance(m, ResponseText)] == ["a", "b", "c"]


# --- sending -------------------------------------------------------------------------------------


async def test_send_input_audio_sends_the_exact_text_frame(loop_back: Loopback) -> None:
    peer = await loop_back.peer()
    conn = await loop_back.connect(peer)
    await conn.send_input_audio(PCM_B64)
    [raw] = await (await peer.connection()).wait_frames(1)
    assert isinstance(raw, str)  # a TEXT frame
    assert parsed(raw) == {"type": "input_audio", "data": {"audio": PCM_B64}}
    assert raw == '{"type":"input_audio","data":{"audio":"' + PCM_B64 + '"}}'


@pytest.mark.parametrize(
    "bad",
    ["not base64!", "AAA", "AA==", "AAAA", "AAAAAAA=", "AA=A", "AA AA", PCM_B64 + "\n"],
    ids=["symbols", "no-padding", "one-byte", "three-bytes", "five-bytes", "bad-padding", "space", "newline"],
)
async def test_send_input_audio_rejects_bad_base64_or_odd_bytes(loop_back: Loopback, bad: str) -> None:
    peer = await loop_back.peer()
    conn = await loop_back.connect(peer)
    with pytest.raises(ValueError, match="send_input_audio"):
        await conn.send_input_audio(bad)
    await conn.send_input_audio(PCM_B64)  # a marker: if it arrives first, the bad one never went
    server_side = await peer.connection()
    [first] = await server_side.wait_frames(1)
    assert parsed(first)["data"]["audio"] == PCM_B64
    await conn.close()
    await server_side.wait_closed()
    assert len(server_side.received) == 1


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview], ids=["bytes", "bytearray", "memoryview"])
async def test_send_input_audio_bytes_round_trips(loop_back: Loopback, wrap: Any) -> None:
    peer = await loop_back.peer()
    conn = await loop_back.connect(peer)
    await conn.send_input_audio_bytes(wrap(PCM))
    [raw] = await (await peer.connection()).wait_frames(1)
    message = parsed(raw)
    assert message["type"] == "input_audio"
    assert set(message["data"]) == {"audio"}
    assert base64.b64decode(message["data"]["audio"], validate=True) == PCM


async def test_send_input_audio_bytes_rejects_an_odd_length(loop_back: Loopback) -> None:
    peer = await loop_back.peer()
    conn = await loop_back.connect(peer)
    with pytest.raises(ValueError, match="even number of bytes"):
        await conn.send_input_audio_bytes(PCM[:-1])
    await conn.send_input_audio_bytes(b"\x01\x02")
    server_side = await peer.connection()
    [first] = await server_side.wait_frames(1)
    assert parsed(first) == {"type": "input_audio", "data": {"audio": "AQI="}}
    await conn.close()
    await server_side.wait_closed()
    assert len(server_side.received) == 1


@pytest.mark.parametrize(
    ("output", "wire_output"),
    [
        ("ok", "ok"),
        ("", ""),
        ('{"already": "json"}', '{"already": "json"}'),
        ({"temp": 21.5, "unit": "°C", "ok": True}, '{"temp":21.5,"unit":"°C","ok":true}'),
        ([1, "two", None], '[1,"two",null]'),
        (42, "42"),
        (None, "null"),
    ],
    ids=["str", "empty-str", "json-str", "dict", "list", "int", "none"],
)
async def test_send_tool_call_output(loop_back: Loopback, output: Any, wire_output: str) -> None:
    peer = await loop_back.peer()
    conn = await loop_back.connect(peer)
    await conn.send_tool_call_output("tc-1", output)
    [raw] = await (await peer.connection()).wait_frames(1)
    assert parsed(raw) == {"type": "tool_call_output", "data": {"toolCallId": "tc-1", "output": wire_output}}
    if not isinstance(output, str):
        assert orjson.loads(parsed(raw)["data"]["output"]) == output


@pytest.mark.parametrize(
    "output", [object(), {"when": {1, 2}}, {"f": print}], ids=["object", "set", "function"]
)
async def test_send_tool_call_output_rejects_non_serialisable_output(
    loop_back: Loopback, output: Any
) -> None:
    peer = await loop_back.peer()
    conn = await loop_back.connect(peer)
    with pytest.raises(TypeError, match="JSON-serialisable"):
        await conn.send_tool_call_output("tc-1", output)
    await conn.send_tool_call_output("tc-2", "marker")
    server_side = await peer.connection()
    [first] = await server_side.wait_frames(1)
    assert parsed(first)["data"]["toolCallId"] == "tc-2"


async def test_send_json_sends_a_text_frame(loop_back: Loopback) -> None:
    peer = await loop_back.peer()
    conn = await loop_back.connect(peer)
    await conn.send_json({"type": "future_message", "data": {"x": [1, 2]}})
    [raw] = await (await peer.connection()).wait_frames(1)
    assert parsed(raw) == {"type": "future_message", "data": {"x": [1, 2]}}


async def test_two_hundred_concurrent_sends_arrive_intact(loop_back: Loopback) -> None:
    peer = await loop_back.peer()
    conn = await loop_back.connect(peer)
    # Chunks of different sizes (up to 32 KiB, larger than the write buffer) so frames would tear
    # or interleave if sends were not serialised.
    chunks = [i.to_bytes(2, "little") * (1 + (i * 97) % 8192) for i in range(150)]
    outputs = [{"index": i, "payload": "x" * (i * 50)} for i in range(50)]
    await asyncio.gather(
        *(conn.send_input_audio_bytes(chunk) for chunk in chunks),
        *(conn.send_tool_call_output(f"tc-{i}", out) for i, out in enumerate(outputs)),
    )
    frames = await (await peer.connection()).wait_frames(200)
    assert len(frames) == 200
    got_audio: list[bytes] = []
    got_outputs: dict[str, Any] = {}
    for raw in frames:
        message = parsed(raw)
        if message["type"] == "input_audio":
            got_audio.append(base64.b64decode(message["data"]["audio"], validate=True))
        else:
            assert message["type"] == "tool_call_output"
            got_outputs[message["data"]["toolCallId"]] = orjson.loads(message["data"]["output"])
    assert sorted(got_audio) == sorted(chunks)
    assert got_outputs == {f"tc-{i}": out for i, out in enumerate(outputs)}


# --- handlers ------------------------------------------------------------------------------------


async def test_sync_and_async_handlers_run_during_stream_messages(loop_back: Loopback) -> None:
    peer = await loop_back.peer(
        started(),
        text("one"),
        send("tool_call", {"toolCallId": "tc-9", "toolName": "lookup", "arguments": []}),
        ExpectFrames(1),  # the async handler's reply
        text("two"),
        Close(1000),
    )
    conn = await loop_back.connect(peer)
    texts: list[str] = []
    order: list[str] = []

    def on_text(message: ResponseText) -> None:
        texts.append(message.data.text)

    async def on_tool(message: ToolCall) -> None:
        await asyncio.sleep(0)
        await conn.send_tool_call_output(message.data.toolCallId, {"found": True})

    conn.on("response_text", on_text)
    conn.on("tool_call", on_tool)
    async with asyncio.timeout(5):
        async for message in conn.stream_messages():
            order.append(message.type)
            if isinstance(message, ResponseText):
                # the handler ran before the message was yielded
                assert texts[-1] == message.data.text
    assert texts == ["one", "two"]
    assert order == ["session_started", "response_text", "tool_call", "response_text"]
    [reply] = (await peer.connection()).received
    assert parsed(reply)["data"] == {"toolCallId": "tc-9", "output": '{"found":true}'}


async def test_unsubscribe_stops_a_handler(loop_back: Loopback) -> None:
    go = asyncio.Event()
    peer = await loop_back.peer(text("one"), WaitFor(go), text("two"), Close(1000))
    conn = await loop_back.connect(peer)
    kept: list[str] = []
    dropped: list[str] = []
    conn.on("response_text", lambda m: kept.append(m.data.text))
    unsubscribe = conn.on("response_text", lambda m: dropped.append(m.data.text))
    await conn.receive(timeout=5)
    unsubscribe()
    unsubscribe()  # a second call is harmless
    go.set()
    async with asyncio.timeout(5):
        await conn.run()
    assert kept == ["one", "two"]
    assert dropped == ["one"]


async def test_on_message_sees_every_message_and_run_returns_at_the_end(loop_back: Loopback) -> None:
    peer = await loop_back.peer(*FULL_SESSION[:3], send("brand_new"), SendText("junk"), *FULL_SESSION[3:])
    conn = await loop_back.connect(peer)
    every: list[Message] = []
    typed_only: list[str] = []
    unsubscribe = conn.on_message(every.append)
    conn.on("session_ended", lambda m: typed_only.append(m.type))
    async with asyncio.timeout(5):
        await conn.run()
    assert [m.type for m in every] == [
        "session_started",
        "response_audio",
        "response_text",
        "brand_new",
        "response_text",
        "speech_started",
        "input_audio_transcript",
        "input_audio_transcript",
        "speech_stopped",
        "interruption",
        "tool_call",
        "session_ended",
    ]
    assert isinstance(every[3], UnknownMessage)
    assert typed_only == ["session_ended"]
    assert conn.session_ended
    assert conn.close_code == 1000
    assert conn.malformed_frames == 1
    unsubscribe()


async def test_run_raises_on_an_abnormal_end(loop_back: Loopback) -> None:
    peer = await loop_back.peer(started(), Close(1008, "policy"))
    conn = await loop_back.connect(peer)
    with pytest.raises(vatel.ConnectionClosedError) as excinfo:
        async with asyncio.timeout(5):
            await conn.run()
    assert (excinfo.value.code, excinfo.value.reason) == (1008, "policy")
