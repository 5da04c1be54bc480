"""``--input-file in.wav``: a WAV file as the microphone, sent at real-time pace.

Any rate and channel count: the file goes through the same :class:`WireFramer` as the microphone,
so the server receives the same 20 ms frames. Frames leave on a fixed schedule (frame *i* at
``start + i * 20 ms``, so sleeping late never adds up), then silence follows until the session
ends, because a server's voice activity detection needs the quiet after speech to end the turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from vatel.audio.framing import WireFramer
from vatel.audio.pcm import FRAME_SAMPLES
from vatel.audio.wav import read_wav

__all__ = ["FRAME_SECONDS", "file_frames", "paced_frames"]

FRAME_SECONDS = 0.02
_SILENCE = bytes(FRAME_SAMPLES * 2)


def file_frames(path: str | Path) -> list[bytes]:
    """The whole file as wire frames (raises :class:`~vatel.audio.errors.WavError`)."""
    audio = read_wav(path)
    framer = WireFramer(audio.rate)
    return framer.push(audio.samples) + framer.finish()


async def paced_frames(frames: list[bytes], *, then_silence: bool = True) -> AsyncIterator[bytes]:
    """``frames`` at real-time pace, then (optionally) silence frames for ever."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    index = 0
    while index < len(frames) or then_silence:
        delay = start + index * FRAME_SECONDS - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield frames[index] if index < len(frames) else _SILENCE
        index += 1
