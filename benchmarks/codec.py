"""Cost of one 20 ms audio frame through the wire models, against stdlib json + base64.

Encode: raw PCM16 (480 samples, 960 bytes) -> the ``input_audio`` frame's bytes.
Decode: a ``response_audio`` frame's bytes -> a typed message -> PCM16 bytes.
Each is timed as the best of several repeats (``timeit``), in the same run as the baseline.
Target (issue 3): <= 2 us each way on a 2-core machine. Writes benchmarks/results/codec.json.

    .venv/bin/python benchmarks/codec.py [--number N] [--repeat R]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import timeit
from collections.abc import Callable
from pathlib import Path

import orjson
import pybase64

from vatel.protocol import (
    SAMPLE_RATE,
    InputAudio,
    ResponseAudio,
    ResponseAudioData,
    decode_client_message,
    decode_server_message,
    encode_input_audio,
)

FRAME_SAMPLES = SAMPLE_RATE // 50  # 20 ms
TARGET_US = 2.0
RESULTS = Path(__file__).resolve().parent / "results"


def best_us(fn: Callable[[], object], number: int, repeat: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--number", type=int, default=50_000, help="calls per repeat")
    parser.add_argument("--repeat", type=int, default=7, help="repeats (the best is kept)")
    args = parser.parse_args()

    pcm = os.urandom(FRAME_SAMPLES * 2)
    reply = ResponseAudio(
        data=ResponseAudioData(turn_id="turn-1", audio=base64.b64encode(pcm).decode(), is_final=False)
    )
    reply_frame = reply.to_json()
    sent_frame = encode_input_audio(pcm)

    # Every path must give the same bytes before it is timed.
    assert decode_server_message(reply_frame).data.pcm == pcm  # type: ignore[union-attr]
    assert base64.b64decode(json.loads(reply_frame)["data"]["audio"]) == pcm
    assert json.loads(InputAudio.from_pcm(pcm).to_json()) == json.loads(sent_frame)

    cases: dict[str, Callable[[], object]] = {
        "encode.stdlib": lambda: json.dumps(
            {"type": "input_audio", "data": {"audio": base64.b64encode(pcm).decode("ascii")}}
        ).encode(),
        "encode.orjson_pybase64": lambda: orjson.dumps(
            {"type": "input_audio", "data": {"audio": pybase64.b64encode(pcm).decode("ascii")}}
        ),
        "encode.vatel_frame": lambda: encode_input_audio(pcm),
        "encode.vatel_model": lambda: InputAudio.from_pcm(pcm).to_json(),
        "decode.stdlib": lambda: base64.b64decode(json.loads(reply_frame)["data"]["audio"]),
        "decode.orjson_pybase64": lambda: pybase64.b64decode(orjson.loads(reply_frame)["data"]["audio"]),
        "decode.vatel_model": lambda: decode_server_message(reply_frame).data.pcm,  # type: ignore[union-attr]
        "decode.vatel_client_model": lambda: decode_client_message(sent_frame).data.pcm,  # type: ignore[union-attr]
    }
    timings = {name: best_us(fn, args.number, args.repeat) for name, fn in cases.items()}

    print(f"one 20 ms frame ({FRAME_SAMPLES} samples, {len(pcm)} bytes PCM, {len(reply_frame)} bytes JSON)")
    print(f"{'path':<28}{'us/frame':>10}{'vs stdlib':>12}")
    for name, value in timings.items():
        base = timings[name.split(".")[0] + ".stdlib"]
        print(f"{name:<28}{value:>10.2f}{base / value:>11.1f}x")
    verdict = {way: timings[f"{way}.vatel_model"] <= TARGET_US for way in ("encode", "decode")}
    print(
        f"target <= {TARGET_US} us through the models: encode {'met' if verdict['encode'] else 'MISSED'}"
        f" ({timings['encode.vatel_model']:.2f}), decode {'met' if verdict['decode'] else 'MISSED'}"
        f" ({timings['decode.vatel_model']:.2f})"
    )

    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "codec.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "codec",
                "machine": {
                    "python": platform.python_version(),
                    "cpu_count": os.cpu_count(),
                    "platform": platform.platform(),
                },
                "frame": {"samples": FRAME_SAMPLES, "pcm_bytes": len(pcm), "json_bytes": len(reply_frame)},
                "us_per_frame": timings,
                "speedup_vs_stdlib": {
                    name: timings[name.split(".")[0] + ".stdlib"] / value for name, value in timings.items()
                },
                "target_us": TARGET_US,
                "target_met": verdict,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
