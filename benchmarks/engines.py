"""Cost of each speech engine on this machine: what one session spends per frame, turn and sentence.

- VAD: Silero ms per 32 ms frame (p50, p99).
- STT tail: time from the last sample to the final text, for a 3 s utterance (espeak-ng en-gb):
  whisper at 1 and 2 threads (whole decode after the end); pocketsphinx after feeding 20 ms chunks
  as they would arrive (only ``finish`` is on the tail).
- TTS: time to first audio (TTFA) and real-time factor (RTF = synthesis time / audio length) for a
  10-word sentence and a 3-sentence answer, hibari and espeak-ng.
Medians of ``--repeat`` runs after one warm-up. Writes benchmarks/results/engines.json.

    .venv/bin/python benchmarks/engines.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from vatel.audio.pcm import Float32, resample
from vatel.server.engines.espeak import EspeakSynthesizer
from vatel.server.engines.hibari_tts import HibariSynthesizer
from vatel.server.engines.silero import FRAME_SAMPLES, SileroVad
from vatel.server.engines.sphinx import SphinxRecognizer
from vatel.server.engines.tts import Synthesizer
from vatel.server.engines.whisper import WhisperRecognizer

RESULTS = Path(__file__).resolve().parent / "results"
UTTERANCE = "I would like to book a table for four people tonight, by the window if you can."
SENTENCE = "Your table for four is booked for seven thirty tonight."
ANSWER = (
    "Thank you for calling. We are open every day from noon until eleven at night. "
    "Would you like me to book a table for you?"
)


def ms(seconds: float) -> float:
    return round(seconds * 1e3, 3)


def median_of(repeat: int, run: Callable[[], float]) -> float:
    run()  # warm-up
    return statistics.median(run() for _ in range(repeat))


def bench_vad(audio: Float32) -> dict[str, float]:
    stream = SileroVad().stream()
    frames = [audio[i : i + FRAME_SAMPLES] for i in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES)]
    times = []
    for _ in range(5):
        stream.reset()
        for frame in frames:
            started = time.perf_counter()
            stream.probability(frame)
            times.append(time.perf_counter() - started)
    return {
        "frame_ms": FRAME_SAMPLES / 16,
        "p50_ms": ms(float(np.percentile(times, 50))),
        "p99_ms": ms(float(np.percentile(times, 99))),
        "core_share_percent": round(100 * float(np.median(times)) / (FRAME_SAMPLES / 16_000), 2),
    }


def bench_whisper(audio: Float32, threads: int, repeat: int) -> dict[str, Any]:
    whisper = WhisperRecognizer(cpu_threads=threads)
    text = ""

    def run() -> float:
        nonlocal text
        started = time.perf_counter()
        text = whisper.transcribe(audio)
        return time.perf_counter() - started

    return {"threads": threads, "tail_ms": ms(median_of(repeat, run)), "text": text}


def bench_sphinx(audio: Float32, repeat: int) -> dict[str, Any]:
    sphinx = SphinxRecognizer()
    text, feed_total = "", 0.0

    def run() -> float:
        nonlocal text, feed_total
        stream = sphinx.start()
        started = time.perf_counter()
        for i in range(0, len(audio), 320):
            stream.feed(audio[i : i + 320])
        feed_total = time.perf_counter() - started
        started = time.perf_counter()
        text = stream.finish()
        return time.perf_counter() - started

    tail = median_of(repeat, run)
    return {
        "tail_ms": ms(tail),
        "rtf_while_speaking": round(feed_total / (len(audio) / 16_000), 3),
        "text": text,
    }


def bench_tts(synthesizer: Synthesizer, repeat: int) -> dict[str, float]:
    def first_audio(text: str) -> Callable[[], float]:
        def run() -> float:
            chunks: Iterator[Float32] = synthesizer.synthesize(text)
            started = time.perf_counter()
            next(chunks)
            elapsed = time.perf_counter() - started
            for _ in chunks:
                pass
            return elapsed

        return run

    def rtf(text: str) -> float:
        started = time.perf_counter()
        audio = sum(chunk.size for chunk in synthesizer.synthesize(text))
        return (time.perf_counter() - started) / (audio / synthesizer.sample_rate)

    return {
        "ttfa_sentence_ms": ms(median_of(repeat, first_audio(SENTENCE))),
        "ttfa_answer_ms": ms(median_of(repeat, first_audio(ANSWER))),
        "rtf_answer": round(median_of(repeat, lambda: rtf(ANSWER)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    espeak = EspeakSynthesizer()
    spoken = resample(
        np.concatenate(list(espeak.synthesize(UTTERANCE, voice="espeak-en-gb"))), 24_000, 16_000
    )
    # Exactly 3 s: the utterance, cut or padded.
    utterance = np.zeros(48_000, dtype=np.float32)
    utterance[: min(48_000, spoken.size)] = spoken[:48_000]
    noise = (np.random.default_rng(0).standard_normal(16_000) * 0.01).astype(np.float32)

    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "vad_silero": bench_vad(np.concatenate([utterance, noise])),
        "stt_whisper": [bench_whisper(utterance, threads, args.repeat) for threads in (1, 2)],
        "stt_pocketsphinx": bench_sphinx(utterance, args.repeat),
        "tts_hibari": bench_tts(HibariSynthesizer(threads=1), args.repeat),
        "tts_espeak": bench_tts(espeak, args.repeat),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "engines.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
