"""ERLE of ``vatel session`` on the virtual card's echo route, shared by the tests and the benchmark.

The scripted session server (``support.session_server``) plays a long agent answer; the virtual
card loops the speaker back into the microphone (``scripts/virtual-audio echo on``); this process
records the raw microphone (``vmic``, what the app captures) while the server records what the
app sends. ERLE = the raw microphone's power over the sent audio's power, over the same stretch of
the answer, from ``after`` seconds into it (AEC convergence and the warm-up) to its end.

The stretches are found from two clocks: in the raw recording by correlation with the answer; in
what was sent by the server's arrival times (the answer's first chunk + the prebuffer and the
path's latency, about 0.2 s). An error of a tenth of a second at either end of a stretch many
seconds long moves the figure by far less than a decibel.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from support.session_server import LiveSession, SessionServer
from support.signals import RATE, best_match, rms_windows, speech, to_pcm16
from support.virtual_card import VirtualCard

__all__ = ["LONG_ANSWER", "EchoRun", "SessionRun", "answer_session", "answer_speech", "erle_run"]

VATEL = [sys.executable, "-c", "from vatel.cli import entry_point; entry_point()"]
PASSAGE = (
    "Thank you for calling. Our shop is open from nine in the morning until six in the evening, "
    "Monday to Saturday. We sell fresh bread, cakes and pastries, and we bake everything on the "
    "premises every morning. If you would like to order a birthday cake, please call us two days "
    "ahead, and tell us the size, the flavour and the name to write on it. "
)
LONG_ANSWER = (
    "Welcome to the harbour bakery. Let me tell you about our day. We open at seven in the morning, "
    "when the first loaves come out of the oven. By eight the croissants are ready, and by nine we "
    "have rye bread, seed bread and the famous walnut loaf. At noon we serve soup with fresh rolls. "
    "In the afternoon there are apple cakes, plum cakes and cheese cakes, and on Saturdays a large "
    "chocolate cake that is usually gone by three. We close at six, and whatever is left goes to the "
    "shelter down the road. Now, how can I help you today?"
)
"""A first message of about 28 s in the local server's voice (hibari)."""
PLAY_DELAY = 0.2
"""From the answer's first chunk leaving the server to its echo reaching the server (prebuffer,
output and input latency, the card's 30 ms loopback, one capture block)."""


@dataclass
class EchoRun:
    erle_db: float
    raw_rms: float
    """RMS of the raw microphone (the echo) over the measured stretch."""
    sent_rms: float
    answer_seconds: float
    match: float
    """How clearly the answer was found in the raw microphone (normalised correlation)."""
    stats: dict[str, Any]
    exit_code: int
    stderr: str


def answer_speech(work: Path, seconds: float) -> np.ndarray:
    """An agent answer at least ``seconds`` long: espeak-ng reading a passage, repeated."""
    passage = speech(work / "passage.wav", PASSAGE)
    pause = np.zeros(RATE // 2, np.float32)
    pieces = [passage]
    while sum(len(p) for p in pieces) < seconds * RATE:
        pieces += [pause, passage]
    answer: np.ndarray = np.concatenate(pieces)[: round(seconds * RATE)]
    return answer


def power(samples: np.ndarray) -> float:
    return float(np.mean(samples.astype(np.float64) ** 2)) if len(samples) else 0.0


def erle_run(
    card: VirtualCard, answer: np.ndarray, work: Path, *, aec: bool = True, after: float = 2.0
) -> EchoRun:
    """One session on ``card`` (its echo route must be on) whose agent says ``answer``."""
    seconds = len(answer) / RATE

    async def script(live: LiveSession) -> None:
        await live.send("session_started", {"id": "echo-run"})
        await asyncio.sleep(1.0)  # the microphone streams before the agent speaks
        await live.send_audio("t1", to_pcm16(answer), pace=2.0)
        await asyncio.sleep(seconds / 2 + 1.0)  # sent at twice real time: the second half plays on
        await live.end()

    stats_file = work / "echo-stats.json"
    with SessionServer(script) as server:
        recorder = card.record(work / "raw-mic.raw", source="vmic")
        args = [
            *VATEL,
            *["session", "--api-key", server.api_key, "--agent-id", server.agent_id],
            *["--base-url", server.url],
            *["--stats-file", str(stats_file)],
            *([] if aec else ["--no-aec"]),
        ]
        result = subprocess.run(
            args, env=card.env, capture_output=True, text=True, timeout=seconds + 90, check=False
        )
        raw = recorder.stop()
        live = server.wait_done(timeout=30)

    # The stretch in the raw microphone: where the answer's echo starts, by correlation.
    match, echo_start = best_match(answer[: 2 * RATE], raw)
    a = echo_start + round(after * RATE)
    b = echo_start + len(answer) - round(0.3 * RATE)
    raw_power = power(raw[a:b])
    # The same stretch in what the app sent, by the server's clock.
    begin = live.mark_at("t1:first") + PLAY_DELAY + after
    end = live.mark_at("t1:first") + PLAY_DELAY + seconds - 0.3
    sent = np.frombuffer(bytes(live.input_pcm), "<i2").astype(np.float32) / 32768
    offsets = np.cumsum([0] + [size // 2 for _, size in live.input_frames])
    inside = [i for i, (arrived, _) in enumerate(live.input_frames) if begin <= arrived <= end]
    sent_part = sent[offsets[inside[0]] : offsets[inside[-1] + 1]] if inside else sent[:0]
    sent_power = power(sent_part)
    stats = orjson.loads(stats_file.read_bytes()) if stats_file.exists() else {}
    return EchoRun(
        erle_db=float(10 * np.log10(raw_power / max(sent_power, 1e-12))),
        raw_rms=float(np.sqrt(raw_power)),
        sent_rms=float(np.sqrt(sent_power)),
        answer_seconds=seconds,
        match=match,
        stats=stats,
        exit_code=result.returncode,
        stderr=result.stderr,
    )


# --- a session with a real server: does the agent interrupt itself? --------------------------------


@dataclass
class SessionRun:
    stats: dict[str, Any]
    """The app's ``--stats-file`` (``interruptions``, ``speaker``, ``echo`` ...)."""
    seconds: float
    exit_code: int
    stderr: str


def played_so_far(recording: Path) -> tuple[float, float]:
    """(seconds from the first sound to the last, seconds of quiet after it) in the virtual
    speaker's recording so far."""
    data = recording.read_bytes() if recording.exists() else b""
    samples = np.frombuffer(data[: len(data) // 2 * 2], "<i2").astype(np.float32) / np.float32(32768)
    levels = rms_windows(samples, 0.05)
    loud = np.flatnonzero(levels > 0.01)
    if not len(loud):
        return 0.0, len(levels) * 0.05
    return float(loud[-1] - loud[0]) * 0.05, float(len(levels) - 1 - loud[-1]) * 0.05


def answer_session(
    card: VirtualCard, url: str, key: str, agent_id: str, work: Path, *extra: str, answer: float, limit: float
) -> SessionRun:
    """``vatel session`` with an agent whose first message is long, on ``card``, until the answer has
    played (``answer`` seconds from the first sound to the last, then 1.5 s of quiet: nobody
    interrupted it, or it resumed) or ``limit`` seconds; then Ctrl-C. The app's counters say
    whether the agent was interrupted."""
    stats = work / "session-stats.json"
    recorder = card.record(work / "speaker.raw")
    process = subprocess.Popen(
        [
            *VATEL,
            *["session", "--api-key", key, "--agent-id", agent_id, "--base-url", url],
            *["--stats-file", str(stats), *extra],
        ],
        env=card.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = time.monotonic()
    try:
        while time.monotonic() < started + limit and process.poll() is None:
            time.sleep(0.5)
            sound, quiet = played_so_far(recorder.path)
            if sound >= answer and quiet >= 1.5:
                break
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        recorder.stop()
        if process.poll() is None:
            process.kill()
            process.wait()
    return SessionRun(
        stats=orjson.loads(stats.read_bytes()) if stats.exists() else {},
        seconds=time.monotonic() - started,
        exit_code=process.returncode,
        stderr=stderr,
    )
