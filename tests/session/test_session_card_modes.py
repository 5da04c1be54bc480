"""``vatel session``'s modes through the real audio path (PortAudio, the virtual card): the turn latency
from a spoken question, the speaker muted while the agent talks, and an interrupted answer cut
where the speaker stopped.

Keys come through a pseudo-terminal on stdin; stdout is a pipe, so the lines are plain.
"""

from __future__ import annotations

import asyncio
import os
import pty
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import orjson
import pytest

from support.session_server import LiveSession, SessionServer
from support.signals import RATE, best_match, noise_burst, segments_found, speech, to_pcm16
from support.virtual_card import VirtualCard

pytestmark = [pytest.mark.loopback, pytest.mark.audio]

TURN1 = noise_burst(1.0, seed=31)
TURN2 = noise_burst(1.0, seed=32)
TURN3 = noise_burst(1.6, seed=33)
ANSWER = "a bravo charlie delta echo"
"""About 1.9 s of speech at 14 characters a second; 0.6 s of it is heard."""


async def modes_session(live: LiveSession) -> None:
    await live.send("session_started", {"id": "call-modes"})
    await live.wait_flag("spoken")
    await live.send("response_text", {"turn_id": "t1", "text": "first", "is_final": True})
    await live.send_audio("t1", to_pcm16(TURN1), pace=2)
    await asyncio.sleep(0.8)  # turn 1 has played out
    live.mark("t1 played")
    await live.wait_flag("speaker muted")
    await live.send_audio("t2", to_pcm16(TURN2), pace=2)
    await asyncio.sleep(0.8)
    live.mark("t2 played")
    await live.wait_flag("speaker on")
    await live.send("response_text", {"turn_id": "t3", "text": ANSWER, "is_final": True})
    sending = asyncio.ensure_future(live.send_audio("t3", to_pcm16(TURN3), final=False, pace=4))
    await asyncio.sleep(0.6)
    await sending
    await live.send("interruption")
    await asyncio.sleep(0.5)
    await live.end()


def wait(predicate: object, what: str, timeout: float = 20.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert predicate(), f"timed out waiting for {what}"


def test_latency_speaker_mute_and_the_unheard_rest_through_the_card(
    virtual_card: VirtualCard, tmp_path: Path
) -> None:
    speech(tmp_path / "speech.wav", "What time is it?")
    stats_file = tmp_path / "stats.json"
    master, slave = pty.openpty()
    out: list[str] = []
    with SessionServer(modes_session) as server:
        recorder = virtual_card.record(tmp_path / "speaker.raw")
        login = ["--api-key", server.api_key, "--agent-id", server.agent_id, "--base-url", server.url]
        vatel = [sys.executable, "-c", "from vatel.cli import entry_point; entry_point()"]
        process = subprocess.Popen(
            [*vatel, "session", *login, "--stats-file", str(stats_file)],
            env=virtual_card.env,
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

        def read() -> None:
            assert process.stdout is not None
            out.extend(process.stdout)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            wait(lambda: any(line.startswith("Session started") for line in out), "the session", 30)
            time.sleep(0.3)
            virtual_card.speak(tmp_path / "speech.wav")
            server.set_flag("spoken")
            wait(lambda: any(line.startswith("latency ") for line in out), "the latency line")
            wait(lambda: any(m.what == "t1 played" for m in server.sessions[0].marks), "turn 1")
            os.write(master, b"s")
            time.sleep(0.3)
            server.set_flag("speaker muted")
            wait(lambda: any(m.what == "t2 played" for m in server.sessions[0].marks), "turn 2")
            os.write(master, b"s")
            time.sleep(0.3)
            server.set_flag("speaker on")
            code = process.wait(30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            os.close(slave)
            os.close(master)
        played = recorder.stop()
        server.wait_done()
        reader.join(5)
    stderr = process.stderr.read() if process.stderr else ""
    assert code == 0, stderr
    text = "".join(out)
    # The latency: from the end of the spoken question to turn 1's first sound, and p50/p95 at exit.
    latency = re.search(r"^latency (\d+) ms$", text, re.M)
    assert latency is not None and 0 < int(latency.group(1)) < 3000, text
    assert "turn latency p50 " in text
    # Turn 1 came out of the speaker; turn 2 (speaker muted) did not, yet it was played and counted.
    assert segments_found(TURN1, played)[0] >= 0.8
    assert best_match(TURN2, played)[0] < 0.3, "the muted speaker played turn 2"
    stats = orjson.loads(stats_file.read_bytes())
    assert stats["speaker"]["played_seconds"] > 2.2  # turns 1 and 2 whole, and some of turn 3
    assert stats["turn_latency"]["turns"] >= 1
    # Turn 3, cut after 0.6 s: its text split where the speaker stopped.
    cut = re.search(r"^Agent: (.*) \[not heard: (.+)\]$", text, re.M)
    assert cut is not None, text
    assert f"{cut.group(1)} {cut.group(2)}".strip() == ANSWER
    assert segments_found(TURN3[: round(0.3 * RATE)], played)[0] >= 0.6
    assert np.abs(played).max() > 0.1
