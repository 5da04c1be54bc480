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
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from support.session_server import LiveSession, SessionServer
from support.signals import RATE, best_match, speech, to_pcm16
from support.virtual_card import VirtualCard

__all__ = ["EchoRun", "answer_speech", "erle_run"]

VATEL = [sys.executable, "-c", "from vatel.cli import entry_point; entry_point()"]
PASSAGE = (
    "Thank you for calling. Our shop is open from nine in the morning until six in the evening, "
    "Monday to Saturday. We sell fresh bread, cakes and pastries, and we bake everything on the "
    "premises every morning. If you would like to order a birthday cake, please call us two days "
    "ahead, and tell us the size, the flavour and the name to write on it. "
)
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
