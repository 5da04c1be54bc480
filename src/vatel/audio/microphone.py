"""The microphone: a PortAudio input stream whose callback only copies the block and hands it over.

The callback runs in PortAudio's thread; it copies the block into a :class:`BlockHandoff` and
returns (no resampling, no encoding, no waiting there). The event loop side turns blocks into
the wire's 20 ms frames with :class:`WireFramer`, and, given an :class:`EchoCanceller`, cleans
each frame of the speaker's echo, using the block's capture time (PortAudio's
``inputBufferAdcTime``). If the loop falls more than ``backlog`` seconds behind, the oldest blocks
are dropped and counted. :attr:`Microphone.captured_until` says when the frame just yielded was
captured (its last sample, on the event loop's clock: the callback's ``time.monotonic()``, which
has none of PulseAudio's ADC timestamp jitter), so a turn's end of speech is timed at the
microphone, not when the loop got round to it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from vatel.audio.devices import Device, open_stream
from vatel.audio.echo import EchoCanceller
from vatel.audio.framing import WireFramer
from vatel.audio.handoff import BlockHandoff
from vatel.audio.pcm import FRAME_SAMPLES, WIRE_RATE
from vatel.audio.portaudio import sounddevice

__all__ = ["Microphone"]

_monotonic = time.monotonic  # the callback's ``time`` argument hides the module

BLOCK_SECONDS = 0.04
"""The capture period: two wire frames per callback. Half the callbacks and loop wake-ups of 20 ms
blocks (the listening CPU, issue 6), for 20 ms more capture latency, which nobody hears."""


class Microphone:
    """Open with :meth:`start`; iterate :meth:`frames` for PCM16 24 kHz frames; :meth:`close` at the end."""

    def __init__(self, device: Device, *, backlog: float = 2.0) -> None:
        self.device = device
        self.backlog = backlog
        self.rate = 0
        self.channels = 0
        self.overflows = 0
        """Blocks PortAudio flagged as overflowed (audio lost before it reached us)."""
        self._stream: Any = None
        self._handoff: BlockHandoff[tuple[float, float, bytes]] | None = None
        self.captured_until: float | None = None
        """When the last sample of the frame just yielded by :meth:`frames` was captured (loop clock)."""

    @property
    def dropped_blocks(self) -> int:
        return self._handoff.dropped if self._handoff is not None else 0

    def start(self) -> None:
        """Open the device at a rate it takes and start capturing (call from the event loop)."""
        loop = asyncio.get_running_loop()
        sd = sounddevice()

        def factory(rate: int, channels: int) -> Any:
            blocksize = max(1, round(rate * BLOCK_SECONDS))
            self._handoff = BlockHandoff(loop, capacity=max(1, round(self.backlog / BLOCK_SECONDS)))
            return sd.RawInputStream(  # raw: no numpy array built per callback (listening CPU, issue 6)
                device=self.device.index,
                samplerate=rate,
                channels=channels,
                dtype="float32",
                blocksize=blocksize,
                latency="low",
                callback=self._callback,
            )

        self._stream = open_stream(self.device, "input", factory)
        self.rate = round(self._stream.samplerate)
        self.channels = int(self._stream.channels)
        self._stream.start()

    def _callback(self, indata: Any, frames: int, time: Any, status: Any) -> None:
        """``indata`` is the device's raw float32 buffer; it is copied (``bytes``) and handed over
        with its capture time."""
        if status.input_overflow:
            self.overflows += 1
        handoff = self._handoff
        if handoff is not None:
            handoff.push((time.inputBufferAdcTime, _monotonic(), bytes(indata)))

    async def ready(self, limit: float) -> bool:
        """Wait (at most ``limit`` seconds) for the first block: a capture stream can take a second to
        deliver anything after it opens, and what is said meanwhile would be lost."""
        if self._handoff is None:
            raise RuntimeError("Microphone.ready() before start()")
        try:
            async with asyncio.timeout(limit):
                await self._handoff.wait_nonempty()
        except TimeoutError:
            return False
        return True

    async def frames(self, echo: EchoCanceller | None = None) -> AsyncIterator[bytes]:
        """20 ms PCM16 24 kHz mono frames, until :meth:`close`; cleaned by ``echo`` if given."""
        if self._handoff is None:
            raise RuntimeError("Microphone.frames() before start()")
        framer = WireFramer(self.rate)
        lost = 0
        while True:
            item = await self._handoff.get()
            if item is None:
                return
            captured_at, arrived_at, block = item
            if echo is not None and self.overflows + self.dropped_blocks != lost:
                lost = self.overflows + self.dropped_blocks
                echo.glitch()  # audio lost on the way in: the echo moved against its source
            samples = np.frombuffer(block, dtype=np.float32)
            frames = framer.push(samples.reshape(-1, self.channels) if self.channels > 1 else samples)
            if echo is not None and frames:
                # The frames end where the block ends, less what the framer holds back.
                end = captured_at + len(samples) / self.channels / self.rate - framer.held / WIRE_RATE
                start = end - len(frames) * FRAME_SAMPLES / WIRE_RATE
                frames = [
                    echo.process(frame, start + index * FRAME_SAMPLES / WIRE_RATE)
                    for index, frame in enumerate(frames)
                ]
            last_end = arrived_at - framer.held / WIRE_RATE  # the block's last samples wait in the framer
            for index, frame in enumerate(frames):
                self.captured_until = last_end - (len(frames) - 1 - index) * FRAME_SAMPLES / WIRE_RATE
                yield frame

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
            finally:
                stream.close()
        if self._handoff is not None:
            self._handoff.close()
