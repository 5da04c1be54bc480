"""``vatel session`` end to end: a scripted loopback server, the real audio path, the virtual card.

One scripted session checks, through PortAudio and PulseAudio:

* speech played into the virtual microphone reaches the server as ``input_audio`` (correlation);
* the agent's audio comes out of the virtual speaker (correlation with what the server sent);
* on ``interruption`` the speaker goes silent at once, and late chunks of that turn never play;
* the tool call is answered by ``--tools tools.py``; finals are printed, interims are not;
* the process exits 0 after ``session_ended``.

The seed example's ``run_session.py`` then runs, unchanged, against the same kind of server.
"""

from __future__ import annotations

import asyncio
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from support.session_server import LiveSession, SessionServer
from support.shared import seed_script
from support.signals import (
    RATE,
    best_match,
    loud_seconds,
    noise_burst,
    rms_windows,
    segments_found,
    speech,
    to_pcm16,
)
from support.virtual_card import VirtualCard

pytestmark = [pytest.mark.loopback, pytest.mark.audio]

TURN1 = noise_burst(1.0, seed=1)
TURN2 = noise_burst(1.6, seed=2)
LATE = noise_burst(0.5, seed=3)
INTERRUPT_AFTER = 0.6
"""Seconds after turn 2's first chunk when the server sends ``interruption``."""

TOOLS_PY = """
def lookup(city: str) -> dict:
    return {"city": city, "temperature": 21}
"""


class Process:
    """A subprocess whose stdout lines are collected by a thread (so reads can time out)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(
            args,
            env={**env, "PYTHONFAULTHANDLER": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.stdout.append(line)
            self.lines.put(line)

    def wait_line(self, prefix: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.popen.poll() is not None and self.lines.empty():
                    break
                continue
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no line starting {prefix!r}; stdout: {''.join(self.stdout)!r}")

    def finish(self, timeout: float = 30.0) -> tuple[int, str, str]:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            # PYTHONFAULTHANDLER is set: SIGABRT makes the stuck process print every thread's stack.
            self.popen.send_signal(signal.SIGABRT)
            self.popen.wait(10)
            stderr = self.popen.stderr.read() if self.popen.stderr else ""
            raise AssertionError(f"still running after {timeout} s; its threads:\n{stderr}") from None
        finally:
            if self.popen.poll() is None:
                self.popen.kill()
                self.popen.wait()
        self._reader.join(5)
        stderr = self.popen.stderr.read() if self.popen.stderr else ""
        return self.popen.returncode, "".join(self.stdout), stderr


@contextmanager
def running(args: list[str], env: dict[str, str]) -> Iterator[Process]:
    process = Process(args, env)
    try:
        yield process
    finally:
        if process.popen.poll() is None:
            process.popen.kill()
            process.popen.wait()
        for stream in (process.popen.stdout, process.popen.stderr):
            if stream is not None:
                stream.close()


async def full_session(live: LiveSession) -> None:
    await live.send("session_started", {"id": "call-e2e"})
    await live.wait_flag("spoken")
    await live.send("speech_started", {"emulated": False})
    await live.send("input_audio_transcript", {"transcript": "hello", "turn_id": "u1", "is_final": False})
    await live.send(
        "input_audio_transcript", {"transcript": "hello agent", "turn_id": "u1", "is_final": True}
    )
    await live.send("speech_stopped")
    await live.send("response_text", {"turn_id": "t1", "text": "Hi", "is_final": False})
    await live.send("response_text", {"turn_id": "t1", "text": "Hi there", "is_final": True})
    # Twice real time: the client buffers ahead, so a busy CI machine cannot cut gaps into it (gaps
    # are the benchmark's business: underruns per minute at real-time pace).
    await live.send_audio("t1", to_pcm16(TURN1), pace=2)
    arguments = [{"name": "city", "dataType": "string", "value": "Paris"}]
    await live.send("tool_call", {"toolCallId": "call-1", "toolName": "lookup", "arguments": arguments})
    await live.wait_tool_output("call-1")
    await asyncio.sleep(0.3)  # turn 1 has played out
    # Turn 2: 1.6 s sent four times faster than real time (the client buffers), cut off at 0.6 s.
    sending = asyncio.ensure_future(live.send_audio("t2", to_pcm16(TURN2), final=False, pace=4))
    await asyncio.sleep(INTERRUPT_AFTER)
    await sending
    live.mark("interruption")
    await live.send("interruption")
    await live.send_audio("t2", to_pcm16(LATE), final=True, pace=0)  # late chunks of the cut turn
    await asyncio.sleep(1.0)
    await live.end()


def test_session_through_the_virtual_card(virtual_card: VirtualCard, tmp_path: Path) -> None:
    spoken = speech(tmp_path / "speech.wav", "Hello agent, what is the weather in Paris today?")
    tools = tmp_path / "tools.py"
    tools.write_text(TOOLS_PY)
    with SessionServer(full_session) as server:
        recorder = virtual_card.record(tmp_path / "speaker.raw")
        args = [
            *[sys.executable, "-c", "from vatel.cli import entry_point; entry_point()"],
            *[
                "session",
                "--api-key",
                server.api_key,
                "--agent-id",
                server.agent_id,
                "--base-url",
                server.url,
            ],
            *["--tools", str(tools)],
        ]
        with running(args, virtual_card.env) as app:
            app.wait_line("Session started")
            time.sleep(0.3)
            virtual_card.speak(tmp_path / "speech.wav")
            server.set_flag("spoken")
            code, stdout, stderr = app.finish(timeout=40)
        played = recorder.stop()
        live = server.wait_done()

    assert code == 0, stderr
    assert "Traceback" not in stderr
    # Speech into the virtual mic reached the server as input_audio.
    heard = np.frombuffer(bytes(live.input_pcm), "<i2").astype(np.float32) / np.float32(32768)
    score, _ = best_match(spoken, heard)
    assert score > 0.9, f"mic -> server correlation {score:.3f}"
    # The agent's first turn came out of the virtual speaker.
    assert np.abs(played).max() > 0.1, f"the speaker recording is silent ({len(played) / RATE:.1f} s)"
    found1, start1 = segments_found(TURN1, played)
    assert found1 >= 0.8 and start1 is not None, f"{found1:.0%} of turn 1 came out of the speaker"
    assert loud_seconds(played[start1 : start1 + len(TURN1)]) > 0.85
    # Turn 2 started, then stopped at the interruption: about 0.6 s of it, not 1.6 s, then silence.
    found2, start2 = segments_found(TURN2[: round(0.3 * RATE)], played)
    assert found2 >= 0.6 and start2 is not None, f"turn 2 did not play ({found2:.0%} found)"
    after = played[start2:]
    levels = rms_windows(after)
    loud = np.flatnonzero(levels > 0.01)
    heard_turn2 = (loud[-1] + 1) * 0.01 if len(loud) else 0.0
    assert 0.3 < heard_turn2 < INTERRUPT_AFTER + 0.3, f"turn 2 played {heard_turn2:.2f} s"
    assert best_match(LATE, after)[0] < 0.3, "late chunks of the interrupted turn were played"
    # The tool call was answered by tools.py, as JSON.
    assert live.tool_outputs == {"call-1": '{"city":"Paris","temperature":21}'}
    # Not a terminal: finals only, as the seed prints them.
    lines = stdout.splitlines()
    assert "You: hello agent" in lines
    assert "Agent: Hi there" in lines
    assert "Agent: Hi" not in lines and "You: hello" not in lines
    assert "Tool: lookup" in lines
    assert lines[-2] == "Session ended."
    assert lines[-1].startswith("turn latency p50 ")  # the spoken question's end to the agent's first sound
    assert live.client_close_code == 1000


async def seed_session(live: LiveSession) -> None:
    await live.send("session_started", {"id": "call-seed"})
    await live.wait_input_seconds(0.5)
    await live.send("input_audio_transcript", {"transcript": "hello", "turn_id": "u1", "is_final": True})
    await live.send("response_text", {"turn_id": "t1", "text": "Hi from the agent", "is_final": True})
    await live.send_audio("t1", to_pcm16(TURN1[: RATE // 2]))
    await live.send("tool_call", {"toolCallId": "call-9", "toolName": "lookup", "arguments": []})
    await live.wait_tool_output("call-9")
    await live.end()


def test_the_seed_example_runs_unchanged(virtual_card: VirtualCard, tmp_path: Path) -> None:
    script = tmp_path / "run_session.py"
    script.write_text(seed_script())
    with SessionServer(seed_session) as server:
        args = [sys.executable, str(script), "--api-key", server.api_key, "--agent-id", server.agent_id]
        env = {**virtual_card.env, "VATEL_BASE_URL": server.url}
        with running(args, env) as seed:
            code, stdout, stderr = seed.finish(timeout=30)
        live = server.wait_done()
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert "Session started: call-seed" in lines
    assert "You: hello" in lines
    assert "Agent: Hi from the agent" in lines
    assert lines[-1] == "Session ended."
    assert live.tool_outputs == {"call-9": "ok"}
    assert len(live.input_pcm) >= RATE  # its microphone (the virtual one) streamed
