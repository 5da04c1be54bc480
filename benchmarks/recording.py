"""Cost of ``--record`` on the event loop: what one message, one agent chunk and one tick add.

A 20 ms microphone frame sent (``sent``: log line + left channel), an agent chunk played and
received (``played`` + ``received``: right channel + log line), a control message, and the
100 ms tick (the WAV written up to half a second ago), each timed as the best of several repeats
into a real directory (the disk's page cache, not fsync). A live session has 50 frames and up
to 50 agent chunks a second, so the per-second figure is the event loop's share of the recording.
Writes benchmarks/results/recording.json.

    .venv/bin/python benchmarks/recording.py [--number N] [--repeat R]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson

from vatel.app.recording import SessionRecorder
from vatel.protocol import InputAudio, encode_pcm, parse_server_message

RESULTS = Path(__file__).resolve().parent / "results"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def best_us(fn: Callable[[], object], number: int, repeat: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    pcm = (rng.standard_normal(480) * 3000).astype("<i2").tobytes()
    frame = InputAudio.from_pcm(pcm)
    chunk = parse_server_message(
        {"type": "response_audio", "data": {"turn_id": "t1", "audio": encode_pcm(pcm), "is_final": False}}
    )
    text = parse_server_message({"type": "response_text", "data": {"turn_id": "t1", "text": "Hello there."}})
    with tempfile.TemporaryDirectory() as directory:
        clock = Clock()
        recorder = SessionRecorder.open(Path(directory) / "rec", clock, print)

        def send() -> None:
            clock.now += 0.02
            recorder.sent(frame)

        def play() -> None:
            recorder.played(pcm)
            recorder.received(chunk)

        def tick() -> None:
            clock.now += 0.1  # 100 ms of both channels to write each time
            recorder._wav.append_left(bytes(4800))
            recorder.tick(dict)

        figures = {
            "sent_input_audio_us": best_us(send, args.number, args.repeat),
            "played_and_received_chunk_us": best_us(play, args.number, args.repeat),
            "received_text_us": best_us(lambda: recorder.received(text), args.number, args.repeat),
            "tick_100ms_us": best_us(tick, max(1, args.number // 10), args.repeat),
        }
        recorder.close({})
    per_second = 50 * figures["sent_input_audio_us"] + 50 * figures["played_and_received_chunk_us"]
    per_second += 10 * figures["tick_100ms_us"]
    figures["loop_ms_per_second_talking_both_ways"] = per_second / 1000
    for name, value in figures.items():
        print(f"{name:<40}{value:10.2f}")
    RESULTS.mkdir(exist_ok=True)
    out = {"figures": figures, "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
    (RESULTS / "recording.json").write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
