"""Voice-to-voice latency of ``vatel serve``: the user's true end of speech to the agent's first audio.

A harness client on our SDK streams fixture speech (piper's joe voice, or espeak-ng en-gb with
``--voice espeak``; never the agent's hibari voice) at
real-time pace into a session, with the true end of speech known to the sample, and notes on the
same clock when the first ``response_audio`` with sound arrives (a client plays it at once). Each
utterance runs in its own session (no greeting, so nothing else is playing). Figures: p50/p95 of
voice-to-voice, the same minus the configured endpoint silence (``stop_secs``), and the word error
rate of the transcripts, so speed is never bought with accuracy silently.

    .venv/bin/python benchmarks/voice_to_voice.py [--rounds 2] [--stop-secs 0.2]

A second set says each sentence with a natural mid-sentence pause (``--pause``, 0.4 s: longer
than stop_secs); a turn the server ends inside the pause is a false cut, counted beside the
latency. ``--turn-model none`` runs the server without its end-of-turn model, for comparison.
The split per stage is seen from the client: endpoint (end of speech -> speech_stopped), STT tail
(-> final transcript), brain (-> first response_text), TTS and send (-> first audio).

Targets (issue "Fast and scalable live calls"): p50 <= 400 ms, p95 <= 600 ms at 0.2 s stop_secs.
Writes benchmarks/results/<name>.json and a PNG (latency distributions, one turn's stages).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
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
from support.caller_speech import (  # noqa: E402
    caller_pauses_naturally,
    caller_says,
    caller_says_naturally,
)
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


PAUSED = [
    ("Hello,", "can you hear me clearly?"),
    ("I would like to book a table,", "for four people."),
    ("My name is Anna,", "and I live in Oslo."),
    ("Could you tell me,", "what time you open on Saturday?"),
    ("So, um,", "do you have parking near the restaurant?"),
]
"""Utterances with a natural mid-sentence pause (``--pause`` s, longer than stop_secs): a turn that
ends in the pause is a false cut."""


def paused_speech(first: str, rest: str, pause: float, voice: str = "natural") -> bytes:
    """``first``, a ``pause`` of silence, ``rest``: in the natural voice, one sentence whose own pause
    is stretched (its tone says it goes on); with espeak, two pieces said apart."""
    if voice == "natural":
        return caller_pauses_naturally(first, rest, pause)
    head = caller_says(first)
    head = head[: round(voiced_end(head) * 24_000) * 2]
    return head + bytes(round(pause * 24_000) * 2) + caller_says(rest)


@functools.cache
def speech_of(text: str, voice: str) -> bytes:
    """The caller saying ``text`` (cached: synthesis blocks, and callers share the event loop)."""
    return caller_says_naturally(text) if voice == "natural" else caller_says(text)


async def one_turn(
    client: vatel.Client,
    agent_id: str,
    text: str,
    *,
    hear_out: bool = False,
    speech: bytes | None = None,
) -> dict[str, Any]:
    """One utterance in its own session; ``hear_out`` keeps the call (streaming silence) until the
    answer's last audio chunk, as a caller would, instead of hanging up at its first sound.
    ``speech`` replaces the spoken ``text`` (a fixture with a pause in it)."""
    speech = caller_says(text) if speech is None else speech
    token = (await client.session.generate_token_async(agent_id)).token
    async with client.connect(token) as conn:
        first = await conn.receive()
        assert first.type == "session_started"
        heard: dict[str, Any] = {"finals": [], "stops": []}

        async def listen() -> None:
            async for message in conn.stream_messages():
                now = time.monotonic()
                if message.type == "speech_stopped":
                    heard["stops"].append(now)
                if message.type == "input_audio_transcript" and message.data.is_final:  # type: ignore[union-attr]
                    heard["transcript"] = message.data.transcript  # type: ignore[union-attr]
                    heard["transcript_at"] = now
                    heard["finals"].append((now, message.data.transcript))  # type: ignore[union-attr]
                if message.type == "response_text" and "transcript_at" in heard and "text_at" not in heard:
                    heard["text_at"] = now
                if message.type == "input_audio_transcript" and now < end_at:
                    heard.pop("text_at", None)  # a false cut's answer: wait for the real one
                if message.type != "response_audio":
                    continue
                # The answer to the whole utterance: sound after its true end (a false cut's early
                # answer to half a sentence is not it).
                if message.data.audio and "audio_at" not in heard and now >= end_at:  # type: ignore[union-attr]
                    heard["audio_at"] = now
                    if not hear_out:
                        return
                if "audio_at" in heard and message.data.is_final:  # type: ignore[union-attr]
                    return

        started = time.monotonic()
        end_at = started + voiced_end(speech)
        listener = asyncio.create_task(listen())
        audio = speech + bytes(int(1.5 * 24_000) * 2)
        silence = bytes(FRAME_BYTES)
        index = 0
        while not listener.done() and index < 3000:  # a microphone streams until the answer comes
            offset = index * FRAME_BYTES
            await conn.send_input_audio_bytes(
                audio[offset : offset + FRAME_BYTES] if offset < len(audio) else silence
            )
            index += 1
            delay = started + index * 0.02 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await asyncio.wait_for(listener, 20)
    speech_end = end_at
    audio_at = heard["audio_at"]
    stopped = max(
        (at for at in heard["stops"] if at <= heard.get("transcript_at", audio_at)), default=audio_at
    )
    transcript_at = heard.get("transcript_at", audio_at)
    text_at = heard.get("text_at", audio_at)
    return {
        "text": text,
        "transcript": " ".join(t for _, t in heard["finals"]) or heard.get("transcript", ""),
        "voice_to_voice_ms": (audio_at - speech_end) * 1000,
        "transcript_ms": (transcript_at - speech_end) * 1000,
        # A turn ended before the user had finished: a final transcript before the true end of speech.
        "false_cut": any(at < speech_end for at, _ in heard["finals"]),
        "stages_ms": {
            "endpoint": (stopped - speech_end) * 1000,
            "stt_tail": (transcript_at - stopped) * 1000,
            "brain": (text_at - transcript_at) * 1000,
            "tts_and_send": (audio_at - text_at) * 1000,
        },
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


async def measure(
    url: str, key: str, rounds: int, stop_secs: float, pause: float, voice: str = "natural"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the plain utterances, the ones with a mid-sentence pause), ``rounds`` times each."""
    async with vatel.Client(api_key=key, base_url=url) as client:
        agent = await client.agents.create_async(
            {"name": "bench", "prompt": PROMPT, "vad_settings": {"stop_secs": stop_secs}}
        )
        assert agent.id is not None
        await one_turn(client, agent.id, "Hello.")  # warm-up, not counted
        plain = [
            await one_turn(client, agent.id, text, speech=speech_of(text, voice))
            for _ in range(rounds)
            for text in UTTERANCES
        ]
        paused = [
            await one_turn(
                client, agent.id, f"{first} {rest}", speech=paused_speech(first, rest, pause, voice)
            )
            for _ in range(rounds)
            for first, rest in PAUSED
        ]
        return plain, paused


def summary(turns: list[dict[str, Any]], stop_secs: float) -> dict[str, Any]:
    latencies = [turn["voice_to_voice_ms"] for turn in turns]
    errors = [word_errors(turn["text"], turn["transcript"]) for turn in turns]
    stages = {
        stage: statistics.median(turn["stages_ms"][stage] for turn in turns)
        for stage in turns[0]["stages_ms"]
    }
    return {
        "turns": len(turns),
        "p50_ms": statistics.median(latencies),
        "p95_ms": percentile(latencies, 0.95),
        "p50_minus_stop_ms": statistics.median(latencies) - stop_secs * 1000,
        "transcript_p50_ms": statistics.median(t["transcript_ms"] for t in turns),
        "word_error_rate": sum(e for e, _ in errors) / max(1, sum(n for _, n in errors)),
        "words": sum(n for _, n in errors),
        "false_cuts": sum(t["false_cut"] for t in turns),
        "stages_p50_ms": stages,
    }


def draw(path: Path, plain: list[dict[str, Any]], paused: list[dict[str, Any]], title: str) -> None:
    """Latency distributions (plain and paused utterances) and the stage timeline of the median turn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for turns, label in ((plain, "plain"), (paused, "with a mid-sentence pause")):
        values = sorted(t["voice_to_voice_ms"] for t in turns)
        shares = np.arange(0, len(values) + 1) / len(values)
        left.step([values[0], *values], shares, where="post", label=label)
    for target, style in ((400, ":"), (600, "--")):
        left.axvline(target, color="grey", linestyle=style, linewidth=1)
    left.set_xlabel("voice-to-voice, ms (end of speech -> first agent audio)")
    left.set_ylabel("share of turns")
    left.set_title("latency distribution (targets p50 400, p95 600)")
    left.legend(loc="lower right")
    median = sorted(plain, key=lambda t: t["voice_to_voice_ms"])[len(plain) // 2]
    begin = 0.0
    for index, (stage, ms) in enumerate(median["stages_ms"].items()):
        right.barh(0, max(ms, 0.0), left=begin, color=f"C{index}", label=f"{stage} {ms:.0f} ms")
        begin += max(ms, 0.0)
    right.set_yticks([])
    right.set_xlabel("ms after the true end of speech")
    right.set_title(f"one turn, stage by stage: {median['text']!r}", fontsize=9)
    right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--stop-secs", type=float, default=0.2)
    parser.add_argument("--pause", type=float, default=0.4, help="mid-sentence pause of the paused set, s")
    parser.add_argument("--turn-model", choices=["smart-turn", "none"], default="smart-turn")
    parser.add_argument(
        "--voice",
        choices=["natural", "espeak"],
        default="natural",
        help="the caller: piper's joe (natural prosody) or espeak-ng en-gb (flat; fools end-of-turn models)",
    )
    parser.add_argument("--name", default="voice_to_voice", help="results file name (without .json)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data:
        server = Serve(Path(data) / "data", live=True, args=["--turn-model", args.turn_model])
        try:
            key = (Path(data) / "data" / "api-key").read_text().strip()
            plain, paused = asyncio.run(
                measure(server.url, key, args.rounds, args.stop_secs, args.pause, args.voice)
            )
        finally:
            server.stop(signal.SIGTERM)

    ours, hesitant = summary(plain, args.stop_secs), summary(paused, args.stop_secs)
    print(
        f"{len(plain)} + {len(paused)} turns, caller {args.voice}, stop_secs {args.stop_secs} s, "
        f"turn model {args.turn_model}, "
        f"on {os.cpu_count()} cores"
    )
    print(
        f"voice-to-voice   p50 {ours['p50_ms']:6.0f} ms   p95 {ours['p95_ms']:6.0f} ms   (targets 400 / 600)"
    )
    print(f"minus stop_secs  p50 {ours['p50_minus_stop_ms']:6.0f} ms   (target 150)")
    print(f"transcript ready p50 {ours['transcript_p50_ms']:6.0f} ms after the end of speech")
    stages = "  ".join(f"{stage} {ms:.0f}" for stage, ms in ours["stages_p50_ms"].items())
    print(f"stages p50 (ms)  {stages}")
    print(f"word error rate  {ours['word_error_rate']:.1%} over {ours['words']} words")
    print(
        f"paused set ({args.pause} s mid-sentence pause): false cuts {hesitant['false_cuts']}/{len(paused)}, "
        f"voice-to-voice p50 {hesitant['p50_ms']:.0f} ms p95 {hesitant['p95_ms']:.0f} ms, "
        f"WER {hesitant['word_error_rate']:.1%}"
    )
    print(f"false cuts on the plain set: {ours['false_cuts']}/{len(plain)}")
    for turn in plain + paused:
        cut = "  FALSE CUT" if turn["false_cut"] else ""
        print(f"  {turn['voice_to_voice_ms']:6.0f} ms  {turn['text']!r} -> {turn['transcript']!r}{cut}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{args.name}.json"
    title = (
        f"vatel serve, {os.cpu_count()} cores, stop_secs {args.stop_secs} s, "
        f"turn model {args.turn_model}, caller {args.voice}"
    )
    draw(RESULTS / f"{args.name}.png", plain, paused, title)
    out.write_text(
        json.dumps(
            {
                "benchmark": "voice_to_voice",
                "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
                "stop_secs": args.stop_secs,
                "turn_model": args.turn_model,
                "caller_voice": args.voice,
                "pause_secs": args.pause,
                **{k: v for k, v in ours.items() if k != "turns"},
                "paused": hesitant,
                "turns": plain,
                "paused_turns": paused,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
