"""Voice-to-voice latency of ``vatel serve``: the user's true end of speech to the agent's first audio.

A harness client on our SDK streams fixture speech (espeak-ng, en-gb: not the agent's voice) at
real-time pace into a session, with the true end of speech known to the sample, and notes on the
same clock when the first ``response_audio`` with sound arrives (a client plays it at once). Each
utterance runs in its own session (no greeting, so nothing else is playing). Figures: p50/p95 of
voice-to-voice, the same minus the configured endpoint silence (``stop_secs``), and the word error
rate of the transcripts, so speed is never bought with accuracy silently.

    .venv/bin/python benchmarks/voice_to_voice.py [--rounds 2] [--stop-secs 0.2]

Targets (issue "Fast and scalable live calls"): p50 <= 400 ms, p95 <= 600 ms at 0.2 s stop_secs.
Writes benchmarks/results/voice_to_voice.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import vatel  # noqa: E402
from support.caller_speech import caller_says  # noqa: E402
from support.serve_process import Serve  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
FRAME_BYTES = 960
UTTERANCES = [
    "What are your opening hours?",
    "I would like to book a table for four people.",
    "Can you tell me where you are located?",
    "Do you have parking near the restaurant?",
    "Thank you very much for your help.",
]
PROMPT = """
when "hours": We are open from nine to five.
when "book" or "table": Sure, a table.
when "located" or "where": We are on the main street.
when "parking": Yes, there is parking.
default: You are welcome.
"""


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1], len(ref)


async def one_turn(
    client: vatel.Client, agent_id: str, text: str, *, hear_out: bool = False
) -> dict[str, Any]:
    """One utterance in its own session; ``hear_out`` keeps the call (streaming silence) until the
    answer's last audio chunk, as a caller would, instead of hanging up at its first sound."""
    speech = caller_says(text)
    token = (await client.session.generate_token_async(agent_id)).token
    async with client.connect(token) as conn:
        first = await conn.receive()
        assert first.type == "session_started"
        heard: dict[str, Any] = {}

        async def listen() -> None:
            async for message in conn.stream_messages():
                now = time.monotonic()
                if message.type == "input_audio_transcript" and message.data.is_final:  # type: ignore[union-attr]
                    heard["transcript"] = message.data.transcript  # type: ignore[union-attr]
                    heard["transcript_at"] = now
                if message.type != "response_audio":
                    continue
                if message.data.audio and "audio_at" not in heard:  # type: ignore[union-attr]
                    heard["audio_at"] = now
                    if not hear_out:
                        return
                if "audio_at" in heard and message.data.is_final:  # type: ignore[union-attr]
                    return

        listener = asyncio.create_task(listen())
        started = time.monotonic()
        audio = speech + bytes(int(1.5 * 24_000) * 2)
        silence = bytes(FRAME_BYTES)
        index = 0
        while not listener.done() and (hear_out or index * FRAME_BYTES < len(audio)) and index < 3000:
            offset = index * FRAME_BYTES
            await conn.send_input_audio_bytes(
                audio[offset : offset + FRAME_BYTES] if offset < len(audio) else silence
            )
            index += 1
            delay = started + index * 0.02 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await asyncio.wait_for(listener, 20)
    speech_end = started + voiced_end(speech)
    return {
        "text": text,
        "transcript": heard.get("transcript", ""),
        "voice_to_voice_ms": (heard["audio_at"] - speech_end) * 1000,
        "transcript_ms": (heard.get("transcript_at", heard["audio_at"]) - speech_end) * 1000,
    }


def voiced_end(pcm: bytes) -> float:
    """Seconds from the start to the last sample above -40 dBFS: the true end of speech (espeak's
    WAV ends with some silence of its own, which must not count as the user still speaking)."""
    samples = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32))
    loud = np.flatnonzero(samples > 328)
    return (int(loud[-1]) + 1) / 24_000 if loud.size else 0.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def measure(url: str, key: str, rounds: int, stop_secs: float) -> list[dict[str, Any]]:
    async with vatel.Client(api_key=key, base_url=url) as client:
        agent = await client.agents.create_async(
            {"name": "bench", "prompt": PROMPT, "vad_settings": {"stop_secs": stop_secs}}
        )
        assert agent.id is not None
        await one_turn(client, agent.id, "Hello.")  # warm-up, not counted
        return [await one_turn(client, agent.id, text) for _ in range(rounds) for text in UTTERANCES]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--stop-secs", type=float, default=0.2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data:
        server = Serve(Path(data) / "data", live=True)
        try:
            key = (Path(data) / "data" / "api-key").read_text().strip()
            turns = asyncio.run(measure(server.url, key, args.rounds, args.stop_secs))
        finally:
            server.stop(signal.SIGTERM)

    latencies = [turn["voice_to_voice_ms"] for turn in turns]
    errors = [word_errors(turn["text"], turn["transcript"]) for turn in turns]
    wer = sum(e for e, _ in errors) / max(1, sum(n for _, n in errors))
    p50, p95 = statistics.median(latencies), percentile(latencies, 0.95)
    print(f"{len(turns)} turns, stop_secs {args.stop_secs} s, on {os.cpu_count()} cores")
    print(f"voice-to-voice   p50 {p50:6.0f} ms   p95 {p95:6.0f} ms   (targets 400 / 600)")
    print(f"minus stop_secs  p50 {p50 - args.stop_secs * 1000:6.0f} ms   (target 150)")
    ready = statistics.median(t["transcript_ms"] for t in turns)
    print(f"transcript ready p50 {ready:6.0f} ms after the end of speech")
    print(f"word error rate  {wer:.1%} over {sum(n for _, n in errors)} words")
    for turn in turns:
        print(f"  {turn['voice_to_voice_ms']:6.0f} ms  {turn['text']!r} -> {turn['transcript']!r}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "voice_to_voice.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "voice_to_voice",
                "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
                "stop_secs": args.stop_secs,
                "p50_ms": p50,
                "p95_ms": p95,
                "p50_minus_stop_ms": p50 - args.stop_secs * 1000,
                "word_error_rate": wer,
                "turns": turns,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
