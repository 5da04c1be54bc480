"""Barge-in on ``vatel serve``: how fast the agent stops when the user talks over it, and that a
cough or a click does not stop it.

Each trial is one session of a real server (the offline models). The agent opens with a long first
message; the harness (our SDK) streams the user's line at real-time pace in 20 ms frames from the
start, silent until ``at`` seconds after the agent's first audio arrived, then a fixture, then
silence. Times are on one monotonic clock: sample ``s`` of the user's stream counts as spoken at
``start + s / 24000`` (the frame holding it is sent then; voice_to_voice.py's convention).

- speech (espeak-ng, en-gb): from the onset of the user's speech (its first sample above -40 dBFS)
  to the last ``response_audio`` frame of the interrupted turn received; also to the
  ``interruption`` message. Target p95 <= 250 ms.
- noise: a 100 ms cough-like burst (shaped noise, -6 dBFS peak) and a 5 ms click over the agent;
  a false barge-in is an ``interruption`` (or any ``speech_started``) after it. Target 0.

    .venv/bin/python benchmarks/barge_in.py [--trials 12] [--noise-trials 6]

Writes benchmarks/results/barge_in.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import vatel  # noqa: E402
from support.caller_speech import caller_says  # noqa: E402
from support.serve_process import Serve  # noqa: E402
from vatel.protocol import ResponseAudio  # noqa: E402
from voice_to_voice import percentile  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
RATE = 24_000
FRAME_BYTES = 960
AFTER = 2.5
"""Seconds of silence streamed after the fixture, for the server to react (or not)."""
FIRST_MESSAGE = (
    "Thank you for calling the restaurant. Let me tell you about our menu today. "
    "We have a tomato soup, a green salad with walnuts, and fresh bread from the bakery next door. "
    "For the main course there is roast chicken with potatoes, a mushroom risotto, and grilled fish. "
    "For dessert we have chocolate cake, apple pie, and three kinds of ice cream. "
    "We are open every day from nine in the morning until ten in the evening."
)
SPEECH = "Sorry, can I stop you there?"


def cough(seconds: float = 0.1, peak: float = 0.5) -> bytes:
    """Noise with a fast attack and an exponential decay, low-passed a little: a cough's shape."""
    rng = np.random.default_rng(7)
    n = int(seconds * RATE)
    noise = np.convolve(rng.normal(0, 1, n), np.ones(4) / 4, mode="same")
    envelope = np.minimum(1.0, np.arange(n) / (0.005 * RATE)) * np.exp(-np.arange(n) / (0.03 * RATE))
    burst = noise * envelope
    pcm: bytes = (burst / np.abs(burst).max() * peak * 32767).astype("<i2").tobytes()
    return pcm


def click(seconds: float = 0.005, peak: float = 0.9) -> bytes:
    n = int(seconds * RATE)
    shape = np.exp(-np.arange(n) / (0.001 * RATE)) * np.sign(np.sin(np.arange(n) * 1.3))
    pcm: bytes = (shape * peak * 32767).astype("<i2").tobytes()
    return pcm


def first_loud(pcm: bytes) -> int:
    """Index of the first sample above -40 dBFS."""
    samples = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32))
    loud = np.flatnonzero(samples > 328)
    return int(loud[0]) if loud.size else 0


@dataclass
class Heard:
    turn: str | None = None
    first_audio: float | None = None
    last_audio: float | None = None
    interruption: float | None = None
    speech_started: list[float] = field(default_factory=list)
    frames_after_interruption: int = 0


async def trial(client: vatel.Client, agent_id: str, fixture: bytes, at: float) -> dict[str, Any]:
    token = (await client.session.generate_token_async(agent_id)).token
    heard = Heard()
    async with client.connect(token) as conn:
        first = await conn.receive()
        assert first.type == "session_started"

        async def listen() -> None:
            async for message in conn.stream_messages():
                now = time.monotonic()
                if isinstance(message, ResponseAudio):
                    data = message.data
                    heard.turn = heard.turn or data.turn_id
                    if data.turn_id == heard.turn and data.audio:
                        heard.first_audio = heard.first_audio or now
                        heard.last_audio = now
                        if heard.interruption is not None:
                            heard.frames_after_interruption += 1
                elif message.type == "interruption" and heard.interruption is None:
                    heard.interruption = now
                elif message.type == "speech_started":
                    heard.speech_started.append(now)

        listener = asyncio.create_task(listen())
        started = time.monotonic()
        silence = bytes(FRAME_BYTES)
        stream = bytearray()
        begin: int | None = None
        index = 0
        try:
            while index < 3000:
                if begin is None and heard.first_audio is not None:
                    # The fixture starts on the first frame boundary ``at`` s after the first audio.
                    frame = int(np.ceil((heard.first_audio + at - started) / 0.02))
                    begin = frame * FRAME_BYTES
                    padded = fixture + bytes(int(AFTER * RATE) * 2)
                    stream = bytearray(bytes(begin) + padded)
                offset = index * FRAME_BYTES
                if begin is not None and offset >= len(stream):
                    break
                chunk = bytes(stream[offset : offset + FRAME_BYTES]) if begin is not None else silence
                await conn.send_input_audio_bytes(chunk.ljust(FRAME_BYTES, b"\0"))
                index += 1
                delay = started + index * 0.02 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        finally:
            listener.cancel()
    if begin is None or heard.first_audio is None:
        raise RuntimeError("the agent never spoke")
    onset = started + (begin // 2 + first_loud(fixture)) / RATE
    return {
        "at": at,
        "interrupted": heard.interruption is not None,
        "speech_started": len(heard.speech_started),
        "last_agent_frame_ms": (heard.last_audio - onset) * 1000 if heard.last_audio else None,
        "interruption_ms": (heard.interruption - onset) * 1000 if heard.interruption else None,
        "frames_after_interruption": heard.frames_after_interruption,
    }


async def measure(url: str, key: str, trials: int, noise_trials: int) -> dict[str, list[dict[str, Any]]]:
    speech = caller_says(SPEECH)
    fixtures = {
        "speech": (speech, trials),
        "cough": (cough(), noise_trials),
        "click": (click(), noise_trials),
    }
    out: dict[str, list[dict[str, Any]]] = {}
    async with vatel.Client(api_key=key, base_url=url) as client:
        agent = await client.agents.create_async(
            {"name": "barge-in", "prompt": "default: Of course, go ahead.", "first_message": FIRST_MESSAGE}
        )
        assert agent.id is not None
        await trial(client, agent.id, speech, 1.0)  # warm-up, not counted
        for name, (fixture, count) in fixtures.items():
            out[name] = []
            for k in range(count):
                at = 1.0 + (2.0 * k / max(1, count - 1))  # spread over 1..3 s into the answer
                result = await trial(client, agent.id, fixture, at)
                out[name].append(result)
                print(f"  {name:6s} at {at:4.2f} s: {result}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--noise-trials", type=int, default=6)
    args = parser.parse_args()

    load = float(Path("/proc/loadavg").read_text().split()[0])
    with tempfile.TemporaryDirectory() as data:
        server = Serve(Path(data) / "data", live=True, args=["--log-level", "error"])
        try:
            key = (Path(data) / "data" / "api-key").read_text().strip()
            results = asyncio.run(measure(server.url, key, args.trials, args.noise_trials))
        finally:
            server.stop(signal.SIGTERM)

    speech = results["speech"]
    stops = [r["last_agent_frame_ms"] for r in speech if r["interrupted"]]
    notices = [r["interruption_ms"] for r in speech if r["interrupted"]]
    missed = sum(not r["interrupted"] for r in speech)
    false = {
        name: sum(r["interrupted"] or r["speech_started"] > 0 for r in results[name])
        for name in ("cough", "click")
    }

    def spread(values: list[float]) -> dict[str, float] | None:
        return {"p50": statistics.median(values), "p95": percentile(values, 0.95)} if values else None

    summary = {
        "speech_trials": len(speech),
        "missed_barge_ins": missed,
        "last_agent_frame_ms": spread(stops),
        "interruption_message_ms": spread(notices),
        "false_barge_ins": false,
        "noise_trials": args.noise_trials,
        "loadavg_before": load,
    }
    print(f"{len(speech)} speech trials, {missed} missed; load {load}")
    for label, values in (("last agent frame", stops), ("interruption", notices)):
        if values:
            p50, p95 = statistics.median(values), percentile(values, 0.95)
            print(f"onset -> {label:17s} p50 {p50:5.0f} ms   p95 {p95:5.0f} ms")
    print("target: onset -> last agent frame p95 <= 250 ms")
    noise = args.noise_trials
    print(f"false barge-ins: cough {false['cough']}/{noise}, click {false['click']}/{noise} (target 0)")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "barge_in.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "barge_in",
                "command": " ".join(["benchmarks/barge_in.py", *sys.argv[1:]]),
                "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
                "summary": summary,
                "trials": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
