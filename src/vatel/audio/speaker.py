"""The speaker: agent audio from the wire (24 kHz PCM16 per ``turn_id``) to a PortAudio output stream.

The event loop side converts and resamples each chunk to the device rate (one resampler per turn,
so chunk boundaries do not click) and pushes it into a :class:`JitterBuffer`; the callback only
copies out of the buffer. An ``interruption`` becomes :meth:`Speaker.flush`, which the callback
honours at its next period. Each block is read with the time it will be heard (on the event
loop's clock: PortAudio's DAC time less its current time, plus ``time.monotonic()``), so the
buffer knows the playout position and each turn's first audible sample. With a
:attr:`Speaker.tap` (echo cancellation), the callback also hands each block it wrote, with its DAC
time, to the canceller (``vatel.audio.echo``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from vatel.audio.devices import Device, open_stream
from vatel.audio.echo import FarEndTap
from vatel.audio.jitter import JitterBuffer
from vatel.audio.pcm import WIRE_RATE, Float32, Resampler, pcm16_to_float
from vatel.audio.portaudio import sounddevice

__all__ = ["Speaker"]

_monotonic = time.monotonic  # the callback's ``time`` argument hides the module
MAX_OUTPUT_DELAY = 1.0
"""An output latency beyond this (or below 0) is a bad timestamp: the block is placed at now."""

BLOCK_SECONDS = 0.01
"""The callback period: a flush is heard within this (plus the device's own latency)."""


class Speaker:
    """Open with :meth:`start`; :meth:`play` chunks, :meth:`flush` turns; :meth:`close` at the end."""

    def __init__(self, device: Device, *, prebuffer: float = 0.06) -> None:
        self.device = device
        self.prebuffer = prebuffer
        self.rate = 0
        self.channels = 0
        self.device_underflows = 0
        """Callbacks PortAudio flagged as output underflow (the device itself ran dry)."""
        self.buffer: JitterBuffer | None = None
        self.tap: FarEndTap | None = None
        """Set before playing to feed an echo canceller with what is played."""
        self._stream: Any = None
        self._resamplers: dict[str, Resampler] = {}
        self._mono: Float32 = np.zeros(0, dtype=np.float32)
        self._silence = b""

    def start(self) -> None:
        sd = sounddevice()

        def factory(rate: int, channels: int) -> Any:
            return sd.RawOutputStream(  # raw: no numpy array built per callback (listening CPU, issue 6)
                device=self.device.index,
                samplerate=rate,
                channels=channels,
                dtype="float32",
                blocksize=max(1, round(rate * BLOCK_SECONDS)),
                latency="low",
                callback=self._callback,
            )

        stream = open_stream(self.device, "output", factory)
        self.rate = round(stream.samplerate)
        self.channels = int(stream.channels)
        self.buffer = JitterBuffer(self.rate, self.prebuffer)
        self._mono = np.zeros(max(1, round(self.rate * BLOCK_SECONDS)), dtype=np.float32)
        self._silence = bytes(4 * self.channels * len(self._mono))
        self._stream = stream
        stream.start()

    def _callback(self, outdata: Any, frames: int, time: Any, status: Any) -> None:
        """``outdata`` is the device's raw float32 buffer (``frames * channels`` samples)."""
        tap = self.tap
        if status.output_underflow:
            self.device_underflows += 1
            if tap is not None:
                tap.glitch()
        buffer = self.buffer
        size = len(outdata)
        if buffer is None or buffer.silent:
            if len(self._silence) < size:
                self._silence = bytes(size)
            outdata[:] = self._silence[:size]  # the usual case while listening: one memcpy, no numpy
            if tap is not None:
                tap.push(time.outputBufferDacTime, frames, None)
            return
        if len(self._mono) < frames:
            self._mono = np.zeros(frames, dtype=np.float32)
        mono = self._mono[:frames]
        delay = time.outputBufferDacTime - time.currentTime
        buffer.read(mono, _monotonic() + (delay if 0 <= delay < MAX_OUTPUT_DELAY else 0.0))
        np.frombuffer(outdata, dtype=np.float32).reshape(frames, self.channels)[:] = mono[:, None]
        if tap is not None:
            tap.push(time.outputBufferDacTime, frames, mono.tobytes())

    # --- the event loop side ----------------------------------------------------------------------

    def play(self, turn_id: str, pcm: bytes, final: bool = False) -> None:
        """Queue a wire chunk (PCM16 24 kHz mono) of ``turn_id``."""
        buffer = self._require()
        if buffer.is_flushed(turn_id):
            return
        resampler = self._resamplers.get(turn_id)
        if resampler is None:
            resampler = self._resamplers[turn_id] = Resampler(WIRE_RATE, self.rate)
        samples = resampler.push(pcm16_to_float(pcm)) if pcm else np.zeros(0, dtype=np.float32)
        if final:
            samples = np.concatenate([samples, resampler.finish()])
            del self._resamplers[turn_id]
        buffer.push(turn_id, samples, final)

    def flush(self, turn_id: str) -> None:
        self._require().flush(turn_id)
        self._resamplers.pop(turn_id, None)

    def finished_turns(self) -> list[str]:
        return self._require().finished_turns()

    async def drain(self, limit: float) -> None:
        """Wait until everything queued has been played, at most ``limit`` seconds.

        Polled: the callback thread cannot set an asyncio event without a wake-up per block.
        """
        buffer = self._require()
        deadline = time.monotonic() + limit
        while buffer.buffered_seconds > 0 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
            finally:
                stream.close()

    def _require(self) -> JitterBuffer:
        if self.buffer is None:
            raise RuntimeError("Speaker used before start()")
        return self.buffer
