"""Audio at any rate to the wire's 20 ms frames: resampled to 24 kHz mono, cut into PCM16 frames.

Used for the microphone (blocks at the device rate) and for ``--input-file`` alike, so both send
exactly the same frames: 480 samples (960 bytes) each, the size the old official CLI example used.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from vatel.audio.pcm import FRAME_SAMPLES, WIRE_RATE, Float32, Resampler, float_to_pcm16

__all__ = ["WireFramer"]


class WireFramer:
    """Push blocks at ``rate`` (mono or multi-channel float); get whole 20 ms PCM16 frames back."""

    def __init__(self, rate: int, frame_samples: int = FRAME_SAMPLES) -> None:
        self.rate = rate
        self.frame_samples = frame_samples
        self._resampler = Resampler(rate, WIRE_RATE)
        self._pending: Float32 = np.zeros(0, dtype=np.float32)

    def push(self, block: npt.NDArray[Any]) -> list[bytes]:
        return self._cut(self._resampler.push(block))

    @property
    def held(self) -> int:
        """Samples (at the wire rate) waiting for a whole frame."""
        return len(self._pending)

    def finish(self) -> list[bytes]:
        """The frames still held, the last one padded with silence."""
        frames = self._cut(self._resampler.finish())
        if len(self._pending):
            pad = np.zeros(self.frame_samples - len(self._pending), dtype=np.float32)
            frames.append(float_to_pcm16(np.concatenate([self._pending, pad])))
            self._pending = np.zeros(0, dtype=np.float32)
        return frames

    def _cut(self, samples: Float32) -> list[bytes]:
        if len(self._pending):
            samples = np.concatenate([self._pending, samples])
        whole = len(samples) // self.frame_samples * self.frame_samples
        self._pending = samples[whole:].copy()
        if whole == 0:
            return []
        pcm = float_to_pcm16(samples[:whole])
        step = self.frame_samples * 2
        return [pcm[i : i + step] for i in range(0, len(pcm), step)]
