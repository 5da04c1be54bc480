"""A spoken conversation with a scripted agent through ``vatel serve`` and its real models.

The caller is espeak-ng (en-gb); the agent speaks with hibari. Over a real loopback WebSocket the
test checks the transcript (whisper), the reply audio, a barge-in, a tool round trip, the stored
call with its recording, and that a ``kill -9`` mid-call leaves a call the restarted server ends
and a recording that still plays.
"""

from __future__ import annotations

import asyncio
import io
import signal
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vatel
from support.caller_speech import caller_says
from support.serve_process import Serve

pytestmark = [pytest.mark.loopback, pytest.mark.models]

PROMPT = """
when "hours" or "open": We are open from nine in the morning to five in the evening.
when "book" or "table": tool book_table(people: number) then say "Your table is booked, reference {output}."
when "story": Once upon a time there was a small robot. It lived in a quiet town by the sea. \
Every morning it walked to the harbour and counted the boats. Some days there were ten, \
some days there were twenty. The robot liked the days with many boats.
when "bye" or "goodbye": Goodbye, and thank you for calling. -> end
default: I heard {said}.
"""
FRAME_BYTES = 960


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    serve = Serve(tmp_path_factory.mktemp("e2e") / "data", live=True)
    yield serve
    serve.stop(signal.SIGTERM)


def key_of(serve: Serve) -> str:
    return serve.data_dir.joinpath("api-key").read_text().strip()


async def speak(conn: vatel.Connection, pcm: bytes, *, then_silence: float = 0.8) -> None:
    pcm = pcm + bytes(int(then_silence * 24_000) * 2)
    started = time.monotonic()
    for index, offset in enumerate(range(0, len(pcm), FRAME_BYTES)):
        await conn.send_input_audio_bytes(pcm[offset : offset + FRAME_BYTES])
        delay = started + (index + 1) * 0.02 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


class Listener:
    """Reads the session in the background, keeping every message with its arrival time."""

    def __init__(self, conn: vatel.Connection) -> None:
        self.conn = conn
        self.messages: list[tuple[float, Any]] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.conn.stream_messages():
            self.messages.append((time.monotonic(), message))

    async def wait_for(self, predicate: Any, within: float = 30.0) -> Any:
        deadline = time.monotonic() + within
        seen = 0
        while time.monotonic() < deadline:
            for _, message in self.messages[seen:]:
                if predicate(message):
                    return message
            seen = len(self.messages)
            await asyncio.sleep(0.05)
        raise AssertionError(f"not seen within {within} s; got {[m.type for _, m in self.messages][-20:]}")

    def of_type(self, kind: str) -> list[Any]:
        return [m for _, m in self.messages if m.type == kind]


def final_text(text: str) -> Any:
    return lambda m: m.type == "response_text" and m.data.is_final and text in m.data.text


async def test_a_spoken_conversation(server: Serve) -> None:
    async with vatel.Client(api_key=key_of(server), base_url=server.url) as client:
        agent = await client.agents.create_async(
            {"name": "Desk", "prompt": PROMPT, "first_message": "Hello, how can I help?"}
        )
        assert agent.id is not None
        token = (await client.session.generate_token_async(agent.id)).token
        async with client.connect(token) as conn:
            listen = Listener(conn)
            await listen.wait_for(lambda m: m.type == "response_audio" and m.data.is_final)
            await asyncio.sleep(1.8)  # the greeting plays out

            # 1. A question, answered by the rule, with real recognition and synthesis.
            await speak(conn, caller_says("What are your opening hours?"))
            said = await listen.wait_for(lambda m: m.type == "input_audio_transcript" and m.data.is_final)
            assert "hours" in said.data.transcript.lower()
            await listen.wait_for(final_text("We are open from nine"))
            reply = await listen.wait_for(lambda m: m.type == "response_audio" and m.data.is_final)
            pcm = b"".join(
                m.data.pcm for m in listen.of_type("response_audio") if m.data.turn_id == reply.data.turn_id
            )
            samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
            assert len(samples) > 24_000 and float(np.sqrt(np.mean(samples**2))) > 0.01  # real speech
            await asyncio.sleep(len(samples) / 24_000)

            # 2. A tool round trip.
            await speak(conn, caller_says("I would like to book a table for four people."))
            call = await listen.wait_for(lambda m: m.type == "tool_call")
            assert call.data.toolName == "book_table"
            assert call.data.argument_values().get("people") == 4
            await conn.send_tool_call_output(call.data.toolCallId, "A12")
            await listen.wait_for(final_text("reference A12"))
            await listen.wait_for(lambda m: m.type == "response_audio" and m.data.is_final)
            await asyncio.sleep(3.0)

            # 3. A barge-in over a long answer: the agent stops, and says no more of that turn.
            await speak(conn, caller_says("Tell me a story."))
            story = await listen.wait_for(lambda m: m.type == "response_audio" and len(m.data.audio) > 0)
            await asyncio.sleep(2.0)
            await speak(conn, caller_says("Stop, stop please."), then_silence=0.3)
            interruption = await listen.wait_for(lambda m: m.type == "interruption")
            cut_at = next(t for t, m in listen.messages if m is interruption)
            late = [
                m
                for t, m in listen.messages
                if t > cut_at and m.type == "response_audio" and m.data.turn_id == story.data.turn_id
            ]
            assert late == []
            await asyncio.sleep(2.0)

            # 4. Goodbye ends the call: session_ended last, then close 1000.
            await speak(conn, caller_says("Goodbye."))
            await listen.wait_for(lambda m: m.type == "session_ended", within=20)
            await asyncio.wait_for(listen.task, 10)
        assert conn.close_code == 1000 and conn.session_ended
        session_id = listen.messages[0][1].data.id

        stored = await client.calls.get_async(session_id)
        assert stored.status == "ended" and stored.transcript is not None
        kinds = [entry.type for entry in stored.transcript.entries]
        assert {"message", "tool_call", "tool_call_output", "interruption"} <= set(kinds)
        wav = await client.calls.download_recording_async(session_id)
    with wave.open(io.BytesIO(wav)) as recording:
        assert recording.getnchannels() == 2
        stereo = np.frombuffer(recording.readframes(recording.getnframes()), dtype="<i2").reshape(-1, 2)
    assert np.abs(stereo[:, 0]).max() > 3000 and np.abs(stereo[:, 1]).max() > 3000


async def test_kill_9_mid_call_leaves_a_playable_recording(tmp_path: Path) -> None:
    serve = Serve(tmp_path / "data", live=True)
    try:
        async with vatel.Client(api_key=key_of(serve), base_url=serve.url) as client:
            agent = await client.agents.create_async(
                {
                    "name": "A",
                    "prompt": PROMPT,
                    "first_message": "Hello there, this is a long greeting for the test.",
                }
            )
            assert agent.id is not None
            conn = await client.connect((await client.session.generate_token_async(agent.id)).token)
            started = await conn.receive()
            call_id = started.data.id  # type: ignore[union-attr]
            await speak(conn, caller_says("What are your opening hours?"), then_silence=0.5)
            await asyncio.sleep(1.5)  # more than one recording flush
            serve.process.send_signal(signal.SIGKILL)
            serve.process.wait(10)
    finally:
        if serve.process.poll() is None:
            serve.stop(signal.SIGKILL)
    again = Serve(tmp_path / "data")  # REST only is enough to read the call back
    try:
        async with vatel.Client(api_key=key_of(again), base_url=again.url) as client:
            call = await client.calls.get_async(call_id)
            assert call.status == "ended" and call.termination_reason == "server stopped during the call"
            wav = await client.calls.download_recording_async(call_id)
        with wave.open(io.BytesIO(wav)) as recording:
            assert recording.getnframes() > 24_000  # over a second of the call survived
            frames = recording.readframes(recording.getnframes())
            assert len(frames) == recording.getnframes() * 4
    finally:
        again.stop()
