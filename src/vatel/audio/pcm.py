"""Sample formats and rates: the pure helpers both sides share (the app now, ``vatel serve`` later).

The wire carries PCM16 little-endian mono at 24 kHz (protocol.md §3); devices and engines work in
float32 at their own rates. Everything here is pure numpy/soxr: no devices, no threads, no I/O.

Streams are resampled with one :class:`Resampler` per stream (soxr keeps its filter state between
chunks), never chunk by chunk with a fresh one-shot call, which would click at every boundary.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import soxr

__all__ = [
    "FRAME_SAMPLES",
    "WIRE_RATE",
    "Float32",
    "PolyphaseResampler",
    "Resampler",
    "float_to_pcm16",
    "pcm16_dbfs",
    "pcm16_to_float",
    "resample",
    "to_mono",
]

WIRE_RATE = 24_000
"""The only rate on the wire (kept here too: ``audio.pcm`` imports nothing else of ours)."""
FRAME_SAMPLES = WIRE_RATE // 50
"""One 20 ms frame at the wire rate (480 samples, 960 bytes)."""

Float32 = npt.NDArray[np.float32]

_PCM16_SCALE = 32768.0


def pcm16_to_float(pcm: bytes | bytearray | memoryview) -> Float32:
    """PCM16 little-endian bytes to float32 in [-1, 1) (``ValueError`` on an odd length)."""
    if len(pcm) % 2:
        raise ValueError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}")
    samples = np.frombuffer(pcm, dtype="<i2")
    return samples.astype(np.float32) / np.float32(_PCM16_SCALE)


def pcm16_dbfs(pcm: bytes | bytearray | memoryview) -> float:
    """The RMS level of PCM16 bytes in dBFS (a full-scale square wave is 0; silence is -120)."""
    samples = np.frombuffer(pcm, dtype="<i2", count=len(pcm) // 2).astype(np.float32)
    if not len(samples):
        return -120.0
    power = float(np.mean(np.square(samples / np.float32(_PCM16_SCALE))))
    return max(-120.0, 10.0 * float(np.log10(power)) if power > 0 else -120.0)


def float_to_pcm16(samples: npt.NDArray[Any]) -> bytes:
    """Float samples to PCM16 little-endian bytes, clipped (a hot microphone must not wrap around)."""
    scaled = np.clip(np.asarray(samples, dtype=np.float32) * np.float32(_PCM16_SCALE), -32768.0, 32767.0)
    pcm: bytes = np.rint(scaled).astype("<i2").tobytes()
    return pcm


def to_mono(samples: npt.NDArray[Any]) -> Float32:
    """A (frames,) or (frames, channels) array to float32 mono, by averaging the channels."""
    array = np.asarray(samples, dtype=np.float32)
    if array.ndim == 1:
        return array
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"expected (frames,) or (frames, channels) samples, got shape {array.shape}")
    if array.shape[1] == 1:
        return array[:, 0]
    mono: Float32 = array.mean(axis=1, dtype=np.float32)
    return mono


def resample(samples: npt.NDArray[Any], from_rate: int, to_rate: int) -> Float32:
    """A whole mono signal from one rate to another (for files; streams use :class:`Resampler`)."""
    mono = to_mono(samples)
    if from_rate == to_rate or mono.size == 0:
        return mono
    out: Float32 = soxr.resample(mono, from_rate, to_rate, quality="HQ").astype(np.float32, copy=False)
    return out


class Resampler:
    """One mono stream from ``from_rate`` to ``to_rate``, chunk by chunk, keeping the filter state.

    Call :meth:`push` for each chunk and :meth:`finish` once at the end of the stream, which
    returns the samples still held in the filter. With equal rates it passes samples through.
    """

    def __init__(self, from_rate: int, to_rate: int, *, quality: str = "HQ") -> None:
        if from_rate <= 0 or to_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
        self.from_rate = from_rate
        self.to_rate = to_rate
        # "HQ" keeps the filter delay of 24 kHz <-> 48 kHz under 1 ms; "VHQ" adds latency for nothing
        # that speech can hear. A stream holds back the filter's tail (HQ: 21 ms of 24 -> 16 kHz,
        # "LQ": 6 ms), which is latency where a detector waits for the samples (see vatel serve).
        self._stream: Any = (
            None
            if from_rate == to_rate
            else soxr.ResampleStream(from_rate, to_rate, 1, dtype="float32", quality=quality)
        )

    def push(self, samples: npt.NDArray[Any]) -> Float32:
        mono = to_mono(samples)
        if self._stream is None:
            return mono
        out: Float32 = self._stream.resample_chunk(mono)
        return out

    def finish(self) -> Float32:
        if self._stream is None:
            return np.zeros(0, dtype=np.float32)
        out: Float32 = self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        return out


_TAPS_PER_RATIO = 38
""":class:`PolyphaseResampler`'s filter has this many taps x the larger of up and down (so its
transition band is as wide for any ratio); 24 -> 16 kHz: 114 taps, 57 a phase."""
_STOPBAND_DB = 65.0


def _lowpass_phases(up: int, down: int, taps: int) -> Float32:
    """The anti-aliasing filter of ``up``/``down`` resampling, designed at ``up`` x the input rate
    (a Kaiser-windowed sinc: flat to 80 % of the lower Nyquist frequency, -6 dB at 90 %, 55 dB down
    at 100 % and 65 past it), split into ``up`` phases of ``taps`` each, gain 1 each."""
    length = up * taps
    cutoff = 0.9 / max(up, down)  # in units of the design rate's Nyquist frequency
    beta = 0.1102 * (_STOPBAND_DB - 8.7)
    n = np.arange(length) - (length - 1) / 2
    h = cutoff * np.sinc(cutoff * n) * np.kaiser(length, beta)
    phases = h.reshape(taps, up).T.copy()  # phase r: h[r], h[r + up], h[r + 2 up], ...
    phases /= phases.sum(axis=1, keepdims=True)
    result: Float32 = phases.astype(np.float32)
    return result


@functools.cache
def _block_filter(up: int, down: int) -> tuple[npt.NDArray[np.float32], int]:
    """A (window, up) matrix: each block of ``down`` input samples gives ``up`` outputs, the
    dot products of the window that ends with the block's last sample with its columns."""
    taps = -(-_TAPS_PER_RATIO * max(up, down) // up)
    phases = _lowpass_phases(up, down, taps)
    window = taps + down - 1
    matrix = np.zeros((window, up), dtype=np.float32)
    for r in range(up):
        # Output r of a block is at input position (r * down) / up of it: phase (r * down) % up,
        # newest sample the block's (r * down) // up.
        phase, newest = (r * down) % up, (r * down) // up
        end = window - down + newest  # index of the newest sample in the window
        matrix[end - taps + 1 : end + 1, r] = phases[phase][::-1]
    return (matrix / np.float32(_PCM16_SCALE)).astype(np.float32), window


class PolyphaseResampler:
    """One PCM16 stream from ``from_rate`` to ``to_rate`` by a polyphase FIR filter, chunk by chunk.

    For the server's hot path (every call's microphone, 24 -> 16 kHz, 50 chunks a second): soxr
    builds a filter per stream, and a few hundred streams' filters crowd the CPU cache, which made
    its ``resample_chunk`` 29 us a chunk under load against 4 us alone. Here all streams of a rate
    pair share one filter (-6 dB at 0.9 x the lower Nyquist frequency, 65 dB down above it), a chunk
    costs one matrix product, and a stream holds back 1.2 ms (soxr "LQ": 6 ms). The PCM16 to float
    scale is folded into the filter. Any chunk sizes give the same samples as one call.
    """

    def __init__(self, from_rate: int, to_rate: int) -> None:
        if from_rate <= 0 or to_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
        common = math.gcd(from_rate, to_rate)
        self.up, self.down = to_rate // common, from_rate // common
        if self.up > 16 or self.down > 16:
            raise ValueError(f"{from_rate} -> {to_rate} Hz is not a small ratio (use Resampler)")
        self._matrix, self._window = _block_filter(self.up, self.down)
        # Samples not used yet, after the window's history (zeros: the stream starts in silence).
        self._held = np.zeros(self._window - self.down, dtype=np.float32)

    def push(self, pcm: bytes | bytearray | memoryview) -> Float32:
        """The output samples (float32 in [-1, 1)) for one chunk of PCM16 little-endian bytes."""
        if len(pcm) % 2:
            raise ValueError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}")
        fresh = np.frombuffer(pcm, dtype="<i2")
        held = self._held
        samples = np.empty(held.size + fresh.size, dtype=np.float32)
        samples[: held.size] = held
        samples[held.size :] = fresh
        history = self._window - self.down
        blocks = (samples.size - history) // self.down
        if blocks <= 0:
            self._held = samples
            return np.zeros(0, dtype=np.float32)
        windows = np.ndarray(
            (blocks, self._window),
            dtype=np.float32,
            buffer=samples,
            strides=(self.down * 4, 4),
        )
        out: Float32 = np.dot(windows, self._matrix).reshape(-1)
        self._held = samples[blocks * self.down :]
        return out
