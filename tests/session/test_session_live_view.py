"""``vatel session``'s live view and keys end to end: the real command on a pseudo-terminal against the
scripted loopback server, WAV in and out (no sound card).

The input is quiet noise with a second of "speech" (a loud noise burst) in it, so the local VAD
finds an end of speech; the agent's answer is cut by an interruption after a second of audio.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from support.session_server import LiveSession, SessionServer
from support.signals import RATE, noise_burst, to_pcm16
from vatel.audio.wav import write_wav

pytestmark = pytest.mark.loopback

VATEL = [sys.executable, "-c", "from vatel.cli import entry_point; entry_point()"]
ANSWER = "one two three four five six seven eight nine ten eleven twelve thirteen"
AGENT_AUDIO = to_pcm16(noise_burst(1.0, seed=21))
FRAME_BYTES = 960
STRUCK = re.compile(rb"\x1b\[(?:\d+;)*9(?:;\d+)*m([a-z ]+)")


def spoken_input(seconds: float) -> np.ndarray:
    """Quiet noise (-60 dBFS) with a loud second from 0.4 s on: a user who speaks, then listens."""
    rng = np.random.default_rng(7)
    quiet = (rng.standard_normal(round(seconds * RATE)) * 0.001).astype(np.float32)
    start = round(0.4 * RATE)
    burst = noise_burst(1.0, seed=11)
    quiet[start : start + len(burst)] += burst
    return quiet


def args_for(server: SessionServer, tmp_path: Path, seconds: float, *extra: str) -> list[str]:
    spoken = tmp_path / "in.wav"
    write_wav(spoken, to_pcm16(spoken_input(seconds)), RATE)
    return [
        *VATEL,
        *["session", "--api-key", server.api_key, "--agent-id", server.agent_id, "--base-url", server.url],
        *["--input-file", str(spoken), "--output-file", str(tmp_path / "out.wav"), *extra],
        *["--stats-file", str(tmp_path / "stats.json")],
    ]


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VATEL_")}
    return {**clean, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "30"}


async def interrupted_answer(live: LiveSession) -> None:
    await live.send("session_started", {"id": "call-tui"})
    await live.wait_input_seconds(2.2)  # the speech ends at 1.4 s; the local VAD sees it 300 ms later
    await live.send("response_text", {"turn_id": "t1", "text": ANSWER, "is_final": True})
    await live.send_audio("t1", AGENT_AUDIO, final=False, pace=1.0)  # one second, in real time
    await live.send("interruption")
    live.mark("interrupted")
    await live.wait_until(lambda: live.closed, 60, "the client to close")


class Terminal:
    """The app on a pseudo-terminal: everything it writes, keys typed with the time they were typed."""

    def __init__(self, args: list[str]) -> None:
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
        self.before = termios.tcgetattr(self.slave)
        self.output = bytearray()
        slave = self.slave
        self.process = subprocess.Popen(args, env=env(), stdin=slave, stdout=slave, stderr=slave)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if not data:
                return
            self.output.extend(data)

    def wait_for(self, predicate: Callable[[bytes], bool], what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(bytes(self.output)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert predicate(bytes(self.output)), f"no {what} in {bytes(self.output)!r}"

    def type(self, keys: bytes) -> float:
        at = time.monotonic()
        os.write(self.master, keys)
        return at

    def finish(self, timeout: float = 20) -> tuple[int, list[object]]:
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        after = termios.tcgetattr(self.slave)
        os.close(self.slave)
        self.reader.join(5)
        os.close(self.master)
        return code, after


def frames_between(live: LiveSession, start: float, end: float) -> list[bytes]:
    return [
        bytes(live.input_pcm[i * FRAME_BYTES : (i + 1) * FRAME_BYTES])
        for i, (at, _) in enumerate(live.input_frames)
        if start < at < end
    ]


def test_the_live_view_keys_struck_remainder_and_latency_on_a_terminal(tmp_path: Path) -> None:
    with SessionServer(interrupted_answer) as server:
        term = Terminal(args_for(server, tmp_path, 14.0))
        try:
            term.wait_for(lambda out: b"Session started" in out and b"q quit" in out, "status bar")
            term.wait_for(lambda out: STRUCK.search(out) is not None, "struck-through remainder")
            term.wait_for(lambda out: b"last turn" in out, "latency in the status bar", 5)
            muted_at = term.type(b"m")
            term.wait_for(lambda out: b"muted" in out, "mic muted")
            time.sleep(1.0)
            unmuted_at = term.type(b"m")
            time.sleep(0.4)
            ptt_at = term.type(b"t")
            term.wait_for(lambda out: b"PTT: space to talk" in out, "push-to-talk flag")
            time.sleep(1.0)
            talk_at = term.type(b" ")
            term.wait_for(lambda out: b"PTT: talking" in out, "talking flag")
            time.sleep(1.0)
            term.type(b"x?")  # an unknown key, then help
            term.wait_for(lambda out: b"push-to-talk on / off" in out, "the key list")
            term.type(b"q")
        finally:
            code, after = term.finish()
        live = server.wait_done()
    output = bytes(term.output)
    assert code == 130, output
    assert b"Traceback" not in output
    assert after == term.before  # the terminal is given back as it was
    assert output.rfind(b"\x1b[?25h") > output.rfind(b"\x1b[?25l")  # and its cursor
    # The agent's answer: heard up to a word, the rest struck through (a second of ~5 s of speech).
    match = STRUCK.search(output)
    assert match is not None
    unheard = match.group(1).decode().strip()
    assert ANSWER.endswith(" " + unheard) and len(unheard) > len(ANSWER) // 2, unheard
    # The latency: the end of the burst (1.4 s of input) to the answer's first sound; p50/p95 at exit.
    latency = re.search(rb"latency (\d+) ms", output)
    assert latency is not None and 0 < int(latency.group(1)) < 3000
    assert b"turn latency p50 " in output
    # Keys: muted, nothing went out; push-to-talk, silence until space, then the microphone.
    assert frames_between(live, muted_at + 0.15, unmuted_at) == []
    silenced = frames_between(live, ptt_at + 0.15, talk_at)
    assert len(silenced) > 30 and all(not any(frame) for frame in silenced)
    talking = frames_between(live, talk_at + 0.15, talk_at + 0.8)
    assert len(talking) > 20 and all(any(frame) for frame in talking)
    stats = (tmp_path / "stats.json").read_text()
    assert '"ptt_silenced_frames"' in stats and '"turn_latency"' in stats


def _plain_checks(output: bytes) -> None:
    assert b"\x1b" not in output, output  # no escape codes at all
    text = output.decode()
    assert "Session started: call-tui" in text
    cut = re.search(r"Agent: ([a-z ]*) \[not heard: ([a-z ]+)\]", text)
    assert cut is not None, text
    assert f"{cut.group(1)} {cut.group(2)}".strip() == ANSWER and cut.group(2)
    assert re.search(r"^latency \d+ ms", text, re.M), text
    assert "turn latency p50 " in text


def test_plain_on_a_terminal_has_no_escape_codes_and_keys_still_work(tmp_path: Path) -> None:
    with SessionServer(interrupted_answer) as server:
        term = Terminal(args_for(server, tmp_path, 8.0, "--plain"))
        try:
            term.wait_for(lambda out: b"[not heard:" in out, "the unheard remainder")
            term.type(b"q")
        finally:
            code, after = term.finish()
        server.wait_done()
    assert code == 130 and after == term.before
    _plain_checks(bytes(term.output).replace(b"\r\n", b"\n"))


def test_output_that_is_not_a_terminal_has_no_escape_codes(tmp_path: Path) -> None:
    with SessionServer(interrupted_answer) as server:
        result = subprocess.run(
            args_for(server, tmp_path, 3.0), env=env(), capture_output=True, timeout=60, check=False
        )
        server.wait_done()
    assert result.returncode == 0, result.stderr
    _plain_checks(result.stdout)


async def listen_only(live: LiveSession) -> None:
    await live.send("session_started", {"id": "call-typed"})
    await live.wait_until(lambda: live.closed, 60, "the client to close")


def loudest_dbfs(frames: list[bytes]) -> float:
    levels = [np.sqrt(np.mean(np.frombuffer(f, "<i2").astype(np.float64) ** 2)) for f in frames if f]
    return float(20 * np.log10(max(max(levels, default=0.0), 1.0) / 32768))


def test_a_typed_line_is_voiced_and_sent_in_place_of_the_microphone(tmp_path: Path) -> None:
    with SessionServer(listen_only) as server:
        term = Terminal(args_for(server, tmp_path, 14.0))
        try:
            term.wait_for(lambda out: b"Session started" in out, "the session")
            time.sleep(2.0)  # past the input's loud second (0.4-1.4 s): the microphone is quiet from here
            typed_at = term.type(b"/hello there")
            term.wait_for(lambda out: b"hello there" in out, "the prompt")
            term.type(b"\r")
            term.wait_for(lambda out: b"(typed) hello there" in out, "the voiced line", 60)
            time.sleep(1.5)
            term.type(b"q")
        finally:
            code, _ = term.finish()
        live = server.wait_done()
    assert code == 130, bytes(term.output)
    assert loudest_dbfs(frames_between(live, typed_at - 0.5, typed_at)) < -50  # the quiet microphone
    assert loudest_dbfs(frames_between(live, typed_at, time.monotonic())) > -30  # the spoken line


async def break_off(live: LiveSession) -> None:
    await live.send("session_started", {"id": "call-broken"})
    await live.wait_input_seconds(0.5)
    await live.ws.close(1011)  # a server error mid-session: the app fails, with the live view up
    live.closed = True


def test_a_session_that_breaks_off_gives_the_terminal_back(tmp_path: Path) -> None:
    with SessionServer(break_off) as server:
        term = Terminal(args_for(server, tmp_path, 5.0))
        try:
            term.wait_for(lambda out: b"q quit" in out, "status bar")
        finally:
            code, after = term.finish()
        server.wait_done()
    output = bytes(term.output)
    assert code == 1, output
    assert b"error: the session broke off" in output and b"Traceback" not in output
    assert after == term.before
    assert output.rfind(b"\x1b[?25h") > output.rfind(b"\x1b[?25l")
