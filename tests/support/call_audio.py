"""A caller on the session WebSocket, for the loopback call tests: tones as speech (the fake VAD
hears loudness), silence, real-time pacing, and reading messages up to a given type."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

import vatel

FRAME = 480
"""Samples in 20 ms at 24 kHz."""


def tone(seconds: float, amplitude: float = 0.3) -> bytes:
    samples = np.arange(int(seconds * 24_000))
    wave_ = amplitude * np.sin(2 * np.pi * 220 * samples / 24_000)
    return (wave_ * 32767).astype("<i2").tobytes()


def silence(seconds: float) -> bytes:
    return bytes(int(seconds * 24_000) * 2)


async def speak(conn: vatel.Connection, pcm: bytes) -> None:
    """Stream PCM at real-time pace in 20 ms frames."""
    started = time.monotonic()
    for index, offset in enumerate(range(0, len(pcm), FRAME * 2)):
        await conn.send_input_audio_bytes(pcm[offset : offset + FRAME * 2])
        delay = started + (index + 1) * 0.02 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


async def collect(conn: vatel.Connection, until: str, within: float = 15.0) -> list[Any]:
    """Messages up to and including the first of type ``until``."""
    seen: list[Any] = []
    async with asyncio.timeout(within):
        async for message in conn.stream_messages():
            seen.append(message)
            if message.type == until:
                break
    return seen
