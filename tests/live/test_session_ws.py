"""``/v1/connection`` end to end over a real loopback WebSocket, with small fake engines.

The official-SDK-shaped client is our SDK. Real models are exercised in ``tests/engines`` and in
``test_e2e_models.py``; here the shell itself is under test: token checks before the upgrade,
message order and shapes, the scripted brain, tools, bad frames, a vanishing client, and the
stored call with its recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import numpy as np
import pytest
import websockets

import vatel
from support.call_audio import collect, silence, speak, tone
from support.fake_engines import ScriptedRecognizer, fake_services
from support.live_server import LiveServer
from support.schema import errors
from vatel.server import ServerSettings, create_app
from vatel.server.runner import ServerThread

pytestmark = pytest.mark.loopback

PROMPT = """
when "hours": We are open from nine to five.
when "book": tool book_table(people: number) then say "Booked: {output}"
when "bye": Goodbye! -> end
default: I heard {said}.
"""


@pytest.fixture(params=["direct", "asgi"])
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[LiveServer, ScriptedRecognizer]]:
    """The server as ``vatel serve`` runs it (frames on the direct path of its WebSocket protocol),
    and under uvicorn's own protocol (plain ASGI): the call must be the same either way."""
    services, recognizer, _ = fake_services()
    keys: list[str] = []
    settings = ServerSettings(data_dir=tmp_path / "data", database_url=None)
    options = {"ws": "websockets-sansio"} if request.param == "asgi" else {}
    app = create_app(settings, live=services, on_first_key=keys.append)
    runner = ServerThread(app, **options).start()
    try:
        yield LiveServer(runner.url, keys[0], settings), recognizer
    finally:
        runner.stop()


def make_agent(server: LiveServer, **fields: Any) -> str:
    with server.client() as client:
        agent = client.agents.create({"name": "Desk", "prompt": PROMPT, **fields})
    assert agent.id is not None
    return agent.id


async def open_session(server: LiveServer, agent_id: str, **token: Any) -> vatel.Connection:
    async with server.client() as client:
        minted = await client.session.generate_token_async(agent_id, **token)
        return await client.connect(minted.token)


class TestHandshake:
    """Refusals come before the upgrade, as HTTP statuses with a JSON error (protocol.md §3)."""

    async def test_missing_malformed_forged_expired_reused(self, served: tuple[LiveServer, Any]) -> None:
        server, _ = served
        agent_id = make_agent(server)
        async with server.client() as client:
            with pytest.raises(vatel.BadRequestError, match="not a session token"):
                await client.connect("garbage")
            token = (await client.session.generate_token_async(agent_id)).token
            claims = jwt.decode(token, options={"verify_signature": False})
            forged = jwt.encode(claims, "not the server's secret at all, long enough", algorithm="HS256")
            with pytest.raises(vatel.AuthenticationError, match="not valid"):
                await client.connect(forged)
            conn = await client.connect(token)
            await conn.close()
            with pytest.raises(vatel.AuthenticationError, match="already used"):
                await client.connect(token)
            other = (await client.session.generate_token_async(agent_id)).token
        wrong = str(uuid.uuid4())
        url = server.url.replace("http://", "ws://") + f"/v1/connection?token={other}&agentId={wrong}"
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            await websockets.connect(url)
        assert refused.value.response.status_code == 400
        assert b"agentId does not match" in (refused.value.response.body or b"")

    async def test_a_deleted_agent_is_404(self, served: tuple[LiveServer, Any]) -> None:
        server, _ = served
        agent_id = make_agent(server)
        async with server.client() as client:
            token = (await client.session.generate_token_async(agent_id)).token
            await client.agents.delete_async(agent_id)
            with pytest.raises(vatel.NotFoundError, match="agent not found"):
                await client.connect(token)


class TestConversation:
    async def test_first_message_a_question_an_answer_and_the_stored_call(
        self, served: tuple[LiveServer, ScriptedRecognizer]
    ) -> None:
        server, recognizer = served
        recognizer.texts.extend(["what are your hours"])
        agent_id = make_agent(server, first_message="Hello! How can I help?")
        conn = await open_session(server, agent_id)
        async with conn:
            opening = await collect(conn, "response_audio")
            assert opening[0].type == "session_started"
            call_id = opening[0].data.id
            # wait for the greeting to finish, then ask
            greeting = await collect(conn, "response_audio")
            while not greeting[-1].data.is_final:
                greeting += await collect(conn, "response_audio")
            await asyncio.sleep(0.3)  # the last chunk goes out 0.2 s (the lead) before it has played
            await speak(conn, tone(0.8) + silence(0.6))
            answer = await collect(conn, "response_text")
            while not (answer[-1].type == "response_text" and answer[-1].data.is_final):
                answer += await collect(conn, "response_text")
            kinds = [m.type for m in answer]
            assert kinds[:3] == ["speech_started", "speech_stopped", "input_audio_transcript"]
            assert answer[2].data.transcript == "what are your hours" and answer[2].data.is_final
            assert answer[-1].data.text == "We are open from nine to five."
            tail = await collect(conn, "response_audio")
            while not tail[-1].data.is_final:
                tail += await collect(conn, "response_audio")
            await asyncio.sleep(0.8)  # let it play out before hanging up
            for message in opening + greeting + answer:
                assert errors(message.to_wire(), "VoiceSessionServerMessage") == []
        await asyncio.sleep(0.5)
        with server.client() as client:
            call = client.calls.get(call_id)
            assert call.status == "ended" and call.source == "api"
            assert call.transcript is not None
            said = [(e.role, e.message) for e in call.transcript.entries if e.type == "message"]
            assert said[:3] == [
                ("assistant", "Hello! How can I help?"),
                ("user", "what are your hours"),
                ("assistant", "We are open from nine to five."),
            ]
            wav = client.calls.download_recording(call_id)
        with wave.open(__import__("io").BytesIO(wav)) as recording:
            assert (recording.getnchannels(), recording.getframerate()) == (2, 24_000)
            frames = np.frombuffer(recording.readframes(recording.getnframes()), dtype="<i2").reshape(-1, 2)
        assert np.abs(frames[:, 0]).max() > 5000  # the user's tone on the left
        assert np.abs(frames[:, 1]).max() > 5000  # the agent's tones on the right
        assert recognizer.heard_seconds and 0.8 <= recognizer.heard_seconds[0] <= 1.6

    async def test_tool_round_trip_and_goodbye(self, served: tuple[LiveServer, ScriptedRecognizer]) -> None:
        server, recognizer = served
        recognizer.texts.extend(["book a table for four", "bye"])
        agent_id = make_agent(server)
        conn = await open_session(server, agent_id)
        async with conn:
            await collect(conn, "session_started")
            await speak(conn, tone(0.6) + silence(0.5))
            messages = await collect(conn, "tool_call")
            call = messages[-1]
            assert call.data.toolName == "book_table"
            assert call.data.argument_values() == {"people": 4}
            await conn.send_tool_call_output(call.data.toolCallId, "table 12")
            reply = await collect(conn, "response_text")
            while not reply[-1].data.is_final:
                reply += await collect(conn, "response_text")
            assert reply[-1].data.text == "Booked: table 12"
            await collect(conn, "response_audio")
            await asyncio.sleep(1.0)
            await speak(conn, tone(0.6) + silence(0.5))
            ending = await collect(conn, "session_ended")
            assert ending[-1].type == "session_ended"
            await asyncio.sleep(0.3)
        assert conn.close_code == 1000 and conn.session_ended


class TestBadInput:
    async def test_garbage_frames_are_skipped_and_the_call_goes_on(
        self, served: tuple[LiveServer, ScriptedRecognizer]
    ) -> None:
        server, recognizer = served
        recognizer.texts.extend(["what are your hours"])
        conn = await open_session(server, make_agent(server))
        async with conn:
            await collect(conn, "session_started")
            ws = conn.websocket
            junk = [
                "not json",
                '{"type":"input_audio","data":{"audio":"%%%"}}',  # not base64
                '{"type":"input_audio","data":{"audio":"AAAA"}}',  # 3 bytes: not whole samples
                '{"type":"what","data":{}}',  # an unknown type
                '{"type":"tool_call_output","data":{"toolCallId":"nope","output":"x"}}',  # nobody asked
                "[]",
                "{}",
            ]
            for frame in junk:
                await ws.send(frame)
            await ws.send(b"\x00\xff\xfe binary junk")
            await speak(conn, tone(0.6) + silence(0.5))
            answer = await collect(conn, "response_text")
            assert answer[-1].data.text == "We are open from nine to five."

    async def test_a_flood_of_malformed_frames_closes_with_1007(self, served: tuple[LiveServer, Any]) -> None:
        server, _ = served
        conn = await open_session(server, make_agent(server))
        await collect(conn, "session_started")
        for _ in range(100):
            await conn.websocket.send("{broken")

        async def read_until_closed() -> None:
            async with asyncio.timeout(10):
                while True:
                    await conn.receive()

        with pytest.raises(vatel.ConnectionClosedError) as closed:
            await read_until_closed()
        assert closed.value.code == 1007

    async def test_an_oversized_frame_closes_with_1009_and_the_server_goes_on(
        self, served: tuple[LiveServer, Any]
    ) -> None:
        server, _ = served
        agent_id = make_agent(server)
        conn = await open_session(server, agent_id)
        await collect(conn, "session_started")
        with contextlib.suppress(websockets.ConnectionClosed):  # the server may close mid-send
            await conn.websocket.send('{"type":"input_audio","data":{"audio":"' + "A" * (17 << 20) + '"}}')

        async def read_until_closed() -> None:
            async with asyncio.timeout(20):
                while True:
                    await conn.receive()

        with pytest.raises(vatel.ConnectionClosedError) as closed:
            await read_until_closed()
        assert closed.value.code == 1009  # message too big (uvicorn's 16 MiB limit)
        second = await open_session(server, agent_id)  # the server is fine
        assert (await collect(second, "session_started"))[-1].type == "session_started"
        await second.close()

    async def test_a_client_that_vanishes_mid_turn_ends_the_call(
        self, served: tuple[LiveServer, Any]
    ) -> None:
        server, _ = served
        agent_id = make_agent(server, first_message="One two three four five six seven eight nine ten.")
        conn = await open_session(server, agent_id)
        started = await collect(conn, "response_audio")
        call_id = started[0].data.id
        assert conn.websocket.transport is not None
        conn.websocket.transport.abort()  # no close frame
        deadline = time.monotonic() + 10
        with server.client() as client:
            while client.calls.get(call_id).status != "ended":
                assert time.monotonic() < deadline, "the call was not ended"
                await asyncio.sleep(0.1)
            ended = client.calls.get(call_id)
        assert ended.termination_reason == "client disconnected"
