"""``vatel session`` with no sound device: WAV files in and out, failures in one line, Ctrl-C and ``q``.

Each test runs the real command in a subprocess against the scripted loopback server.
"""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from support.session_server import LiveSession, SessionServer
from support.signals import RATE, best_match, noise_burst, to_pcm16
from vatel.audio.wav import read_wav, write_wav

pytestmark = pytest.mark.loopback

VATEL = [sys.executable, "-c", "from vatel.cli import entry_point; entry_point()"]
SPOKEN = noise_burst(1.0, seed=11)
TURN1 = to_pcm16(noise_burst(0.5, seed=12))
TURN2 = to_pcm16(noise_burst(0.5, seed=13))


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("VATEL_")}


def session_args(server: SessionServer, tmp_path: Path, *extra: str) -> list[str]:
    spoken = tmp_path / "in.wav"
    if not spoken.exists():
        write_wav(spoken, to_pcm16(SPOKEN), RATE)
    return [
        *VATEL,
        *["session", "--api-key", server.api_key, "--agent-id", server.agent_id, "--base-url", server.url],
        *["--input-file", str(spoken), "--output-file", str(tmp_path / "out.wav"), *extra],
    ]


def run(args: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=clean_env(), capture_output=True, text=True, timeout=timeout, check=False)


async def headless_session(live: LiveSession) -> None:
    await live.send("session_started", {"id": "call-h"})
    await live.wait_input_seconds(1.3)
    await live.send_audio("t1", TURN1, pace=0)
    await live.send_audio("t2", TURN2, final=False, pace=0)
    await live.send("interruption")
    await live.send_audio("t2", TURN1, pace=0)  # late: must not be recorded
    await live.send_audio("t3", b"", pace=0)  # an empty final chunk
    await live.end()


def test_a_wav_in_at_real_time_pace_and_the_agent_out_to_a_wav(tmp_path: Path) -> None:
    with SessionServer(headless_session) as server:
        result = run(session_args(server, tmp_path))
        live = server.wait_done()
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Session started: call-h", "Session ended."]
    heard = np.frombuffer(bytes(live.input_pcm), "<i2").astype(np.float32) / np.float32(32768)
    score, lag = best_match(SPOKEN, heard)
    assert score > 0.99 and lag < RATE // 50
    # Real-time pace: the 1 s file took about 1 s to arrive (not a burst).
    frames = live.input_frames
    assert all(size == 960 for _, size in frames)
    assert 0.9 < frames[round(1.0 / 0.02) - 1][0] - frames[0][0] < 1.3
    # The agent as received, minus what the interruption cut.
    recorded = read_wav(tmp_path / "out.wav")
    assert recorded.rate == RATE
    assert np.array_equal(np.rint(recorded.samples[:, 0] * 32768).astype("<i2").tobytes(), TURN1 + TURN2)
    assert live.client_close_code == 1000


async def answer_and_wait(live: LiveSession) -> None:
    await live.send("session_started", {"id": "call-answer"})
    await live.wait_input_seconds(1.0)
    await live.send_audio("t1", TURN1, pace=0)
    live.mark("answered")
    await live.wait_until(lambda: live.closed, 20, "the client to close")


def test_after_the_input_file_and_the_answer_the_app_closes_the_session_itself(tmp_path: Path) -> None:
    with SessionServer(answer_and_wait) as server:
        result = run(session_args(server, tmp_path))
        live = server.wait_done()
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Session started: call-answer",
        "The agent has finished: closing the session.",
    ]
    assert live.client_close_code == 1000
    # Five seconds of quiet after the answer (the default grace), not sooner.
    assert live.input_frames[-1][0] - live.mark_at("answered") > 4.5
    recorded = read_wav(tmp_path / "out.wav")
    assert np.rint(recorded.samples[:, 0] * 32768).astype("<i2").tobytes() == TURN1


async def idle_session(live: LiveSession) -> None:
    await live.send("session_started", {"id": "call-idle"})
    await live.wait_until(lambda: live.closed, 20, "the client to close")


@pytest.mark.parametrize("how", ["ctrl-c", "q"])
def test_the_user_ends_the_session_and_gets_the_terminal_back(tmp_path: Path, how: str) -> None:
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    output = bytearray()

    def read_all() -> None:
        while True:
            try:
                data = os.read(master, 1024)
            except OSError:
                return
            if not data:
                return
            output.extend(data)

    with SessionServer(idle_session) as server:
        process = subprocess.Popen(
            session_args(server, tmp_path), env=clean_env(), stdin=slave, stdout=slave, stderr=slave
        )
        reader = threading.Thread(target=read_all, daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 20
            while b"Session started" not in output and time.monotonic() < deadline:
                time.sleep(0.02)
            assert b"Session started" in output, bytes(output)
            assert termios.tcgetattr(slave)[3] & termios.ICANON == 0  # cbreak while the session runs
            if how == "ctrl-c":
                process.send_signal(signal.SIGINT)
            else:
                os.write(master, b"q")
            code = process.wait(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        live = server.wait_done()
        after = termios.tcgetattr(slave)
        os.close(slave)
        reader.join(5)
        os.close(master)
    assert code == 130, bytes(output)
    assert live.client_close_code == 1000
    assert after == before  # the terminal is restored
    assert b"Traceback" not in output


async def no_server_needed(live: LiveSession) -> None:
    raise AssertionError("no session should open")


@pytest.mark.parametrize(
    ("change", "expected", "fix"),
    [
        ({"api_key": "wrong"}, "error: the server refused the API key (", "check --api-key or VATEL_API_KEY"),
        ({"agent_id": "nope"}, "error: agent nope was not found (", "check --agent-id or VATEL_AGENT_ID"),
        ({"base_url": "http://127.0.0.1:9"}, "error: cannot reach http://127.0.0.1:9 (", "check --base-url"),
        ({"input_file": "garbage"}, "error: ", "is not a WAV file"),
        ({"tools": "tools.json"}, "error: --tools ", "not valid JSON"),
    ],
)
def test_expected_failures_are_one_line_with_the_fix(
    tmp_path: Path, change: dict[str, str], expected: str, fix: str
) -> None:
    with SessionServer(no_server_needed) as server:
        args = session_args(server, tmp_path)
        if "api_key" in change:
            args[args.index(server.api_key)] = change["api_key"]
        if "agent_id" in change:
            args[args.index(server.agent_id)] = change["agent_id"]
        if "base_url" in change:
            args[args.index(server.url)] = change["base_url"]
        if "input_file" in change:
            (tmp_path / "in.wav").write_bytes(b"not a wav at all")
        if "tools" in change:
            (tmp_path / "tools.json").write_text("[1, 2")
            args += ["--tools", str(tmp_path / "tools.json")]
        result = run(args)
        assert server.sessions == []
    assert result.returncode == 1
    assert result.stderr.startswith(expected), result.stderr
    assert fix in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
