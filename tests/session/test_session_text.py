"""``vatel session --text``: typed lines spoken locally and sent as ``input_audio`` at real-time pace.

Against the scripted loopback server: in process with a stand-in voice (band-limited noise, so
the lines can be found again by correlation), then the real command with the server's own
espeak-ng voice, and one spoken turn through the embedded local server with the real models.
"""

from __future__ import annotations

import asyncio
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from support.session_server import LiveSession, SessionServer
from support.signals import RATE, best_match, noise_burst, rms_windows, to_pcm16
from vatel.app.config import SessionConfig
from vatel.app.shell import SessionApp
from vatel.app.text_input import TextInput
from vatel.audio.pcm import Float32
from vatel.audio.wav import read_wav

pytestmark = pytest.mark.loopback

VATEL = [sys.executable, "-c", "from vatel.cli import entry_point; entry_point()"]
VOICES = {"first line": noise_burst(0.8, seed=21), "second line": noise_burst(0.6, seed=22)}


def heard(live: LiveSession) -> Float32:
    return np.frombuffer(bytes(live.input_pcm), "<i2").astype(np.float32) / np.float32(32768)


def frame_times(live: LiveSession) -> np.ndarray:
    """The arrival time of each 20 ms frame of ``input_audio`` (every frame is 960 bytes)."""
    assert all(size == 960 for _, size in live.input_frames)
    return np.array([at for at, _ in live.input_frames])


def loud_frames(live: LiveSession, threshold: float = 0.01) -> np.ndarray:
    return np.flatnonzero(rms_windows(heard(live), 0.02) > threshold)


def test_each_typed_line_is_spoken_at_real_time_pace_after_it_is_typed(tmp_path: Path) -> None:
    read_fd, write_fd = os.pipe()
    typed: dict[str, float] = {}

    def type_line(line: str) -> None:
        typed[line] = time.monotonic()
        os.write(write_fd, f"{line}\n".encode())

    async def script(live: LiveSession) -> None:
        await live.send("session_started", {"id": "call-text"})
        await asyncio.sleep(0.5)  # nothing typed yet: silence only
        assert len(loud_frames(live)) == 0
        type_line("first line")
        await live.wait_until(lambda: len(loud_frames(live)) >= 35, 5, "the first line")
        await asyncio.sleep(1.5)
        type_line("  ")  # a blank line says nothing
        type_line("second line")
        await live.wait_until(lambda: len(loud_frames(live)) >= 60, 5, "the second line")
        await asyncio.sleep(1.0)
        os.close(
            write_fd
        )  # the end of input: the session would close after 5 s of quiet; the agent ends it first
        await asyncio.sleep(0.3)
        await live.end()

    def speak(text: str) -> Float32:
        return VOICES[text]

    with SessionServer(script) as server:
        config = SessionConfig(
            api_key=server.api_key,
            agent_id=server.agent_id,
            base_url=server.url,
            output_file=tmp_path / "out.wav",
            text=TextInput(speak, fd=read_fd),
        )
        with open(os.devnull, "w") as out:
            code = asyncio.run(asyncio.wait_for(SessionApp(config, out=out).run(), 30))
        live = server.wait_done()
    os.close(read_fd)
    assert code == 0
    times, audio = frame_times(live), heard(live)
    # Silence streams all along (the server's VAD needs it to end the turn), at real-time pace.
    span = times[-1] - times[0]
    assert abs(len(times) * 0.02 - span) < 0.3, f"{len(times)} frames in {span:.2f} s"
    for line, voice in VOICES.items():
        score, lag = best_match(voice, audio)
        assert score > 0.99, f"{line!r} not found in input_audio ({score:.3f})"
        first, last = lag // 480, (lag + len(voice)) // 480 - 1
        # Sent after it was typed (synthesis is instant here), and as long as it lasts: real time.
        assert 0 <= times[first] - typed[line] < 0.5, times[first] - typed[line]
        duration = times[last] - times[first]
        assert abs(duration - len(voice) / RATE) < 0.15, f"{line!r} took {duration:.2f} s to arrive"
    # Each line is followed by silence long enough to end a turn.
    second = best_match(VOICES["second line"], audio)[1]
    first_end = best_match(VOICES["first line"], audio)[1] + len(VOICES["first line"])
    assert np.abs(audio[first_end:second]).max() < 0.01 and second - first_end > RATE
    assert live.client_close_code == 1000


@pytest.mark.models
def test_text_against_a_hosted_server_speaks_with_a_local_voice(tmp_path: Path) -> None:
    async def script(live: LiveSession) -> None:
        await live.send("session_started", {"id": "call-typed"})
        await live.wait_until(lambda: len(loud_frames(live)) >= 25, 60, "the typed line, spoken")
        await asyncio.sleep(1.5)
        await live.end()

    with SessionServer(script) as server:
        args = [
            *VATEL,
            *[
                "session",
                "--api-key",
                server.api_key,
                "--agent-id",
                server.agent_id,
                "--base-url",
                server.url,
            ],
            *["--text", "What are your opening hours?", "--output-file", str(tmp_path / "out.wav")],
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("VATEL_")}
        result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
        live = server.wait_done(timeout=10)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    times = frame_times(live)
    loud = loud_frames(live)
    # Speech-like: about a second and a half of voiced audio with pauses between words, in real time.
    assert 1.0 < len(loud) * 0.02 < 4.0, f"{len(loud) * 0.02:.2f} s loud"
    assert (
        0.7 * (loud[-1] - loud[0]) * 0.02
        < times[loud[-1]] - times[loud[0]]
        < 1.3 * (loud[-1] - loud[0]) * 0.02
    )
    assert len(loud) < loud[-1] - loud[0] + 1  # gaps between words: not a tone
    assert live.client_close_code == 1000


@pytest.mark.models
def test_text_through_the_embedded_local_server_gets_an_answer(tmp_path: Path) -> None:
    runtime = tmp_path / "no-pulse"  # no sound device: the agent's voice goes to a WAV, announced
    runtime.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VATEL_", "PULSE_"))}
    env["XDG_RUNTIME_DIR"] = str(runtime)
    process = subprocess.Popen(
        [*VATEL, "session", "--text", "--data-dir", str(tmp_path / "data")],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    stdout: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            stdout.append(line)
            lines.put(line)

    def wait_line(predicate: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if predicate in lines.get(timeout=0.2):
                    return
            except queue.Empty:
                if process.poll() is not None:
                    break
        raise AssertionError(f"no line with {predicate!r}: {''.join(stdout)!r}")

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert process.stdin is not None
    try:
        wait_line("Session started", 240)
        process.stdin.write("What are your opening hours?\n")
        process.stdin.flush()
        wait_line("We are open", 60)
        process.stdin.write("Goodbye.\n")
        process.stdin.flush()
        code = process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(5)
    stderr = process.stderr.read() if process.stderr else ""
    assert code == 0, stderr
    assert "typing mode" in stderr and "no usable sound device" in stderr
    # The agent gave its opening-hours answer (waited for above): whisper heard the typed question.
    assert any(line.startswith("You:") for line in stdout), stdout
    assert stdout[-2].strip() == "Session ended."
    assert stdout[-1].startswith("turn latency p50 "), stdout  # each answer timed from the typed speech's end
    assert (tmp_path / "vatel-demo-answer.wav").stat().st_size > 24_000 * 2


def test_the_end_of_input_closes_the_session_once_the_agent_has_answered(tmp_path: Path) -> None:
    """Ctrl-D (stdin at its end): after the last line and the agent's answer, the app closes with 1000."""
    read_fd, write_fd = os.pipe()
    answer = noise_burst(0.4, seed=23)

    async def script(live: LiveSession) -> None:
        await live.send("session_started", {"id": "call-eof"})
        os.write(write_fd, b"first line\n")
        os.close(write_fd)
        await live.wait_until(lambda: len(loud_frames(live)) >= 35, 5, "the typed line")
        await asyncio.sleep(1.0)
        await live.send_audio("t1", to_pcm16(answer))
        live.mark("answered")
        await live.wait_until(lambda: live.closed, 10, "the client's close")

    with SessionServer(script) as server:
        config = SessionConfig(
            api_key=server.api_key,
            agent_id=server.agent_id,
            base_url=server.url,
            output_file=tmp_path / "out.wav",
            text=TextInput(lambda text: VOICES[text], fd=read_fd),
            input_end_grace=1.0,
        )
        with open(os.devnull, "w") as out:
            code = asyncio.run(asyncio.wait_for(SessionApp(config, out=out).run(), 30))
        live = server.wait_done()
    os.close(read_fd)
    assert code == 0
    assert live.client_close_code == 1000
    # Closed only after the answer, and not before a second of quiet had passed since it.
    last_frame = live.input_frames[-1][0]
    assert last_frame - live.mark_at("answered") >= 0.9
    assert best_match(answer, read_wav(tmp_path / "out.wav").samples[:, 0])[0] > 0.99
