"""Known signals for the audio tests, and the measurements that find them again.

Signals are 24 kHz float32 (the wire's rate). :func:`best_match` is a normalised cross-correlation
over every lag (a recording starts at an unknown offset), so a level change does not matter and
a peak near 1.0 means "this signal is there, undistorted".
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soxr

__all__ = [
    "RATE",
    "best_match",
    "loud_seconds",
    "noise_burst",
    "rms_windows",
    "segments_found",
    "speech",
    "to_pcm16",
]

RATE = 24_000
Signal = npt.NDArray[np.float32]


def noise_burst(seconds: float, seed: int, level: float = 0.3) -> Signal:
    """Band-limited noise (about 200-3400 Hz, like speech): sharp correlation peaks, no aliasing."""
    rng = np.random.default_rng(seed)
    n = round(seconds * RATE)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    spectrum[(freqs < 200) | (freqs > 3400)] = 0
    signal = np.fft.irfft(spectrum, n)
    fade = min(n // 2, RATE // 100)  # 10 ms ramps: no clicks at the ends
    ramp = np.linspace(0, 1, fade)
    signal[:fade] *= ramp
    signal[n - fade :] *= ramp[::-1]
    out: Signal = (signal / np.max(np.abs(signal)) * level).astype(np.float32)
    return out


def speech(path: Path, text: str) -> Signal:
    """``text`` spoken by espeak-ng into ``path`` (its own rate); returned at 24 kHz.

    Without espeak-ng (a machine set up by hand), a noise burst stands in: the checks only need a
    broadband signal to find again.
    """
    from vatel.audio.wav import read_wav, write_wav

    if shutil.which("espeak-ng"):
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True, timeout=30, capture_output=True)
        audio = read_wav(path)
        resampled: Signal = soxr.resample(audio.samples[:, 0], audio.rate, RATE).astype(np.float32)
        return resampled
    signal = noise_burst(2.0, seed=99)
    write_wav(path, to_pcm16(signal), RATE)
    return signal


def to_pcm16(signal: Signal) -> bytes:
    return bytes(np.clip(np.rint(signal * 32768), -32768, 32767).astype("<i2").tobytes())


def best_match(reference: Signal, recording: Signal) -> tuple[float, int]:
    """(peak normalised correlation, lag in samples) of ``reference`` inside ``recording``."""
    n, m = len(reference), len(recording)
    if m < n:
        recording = np.concatenate([recording, np.zeros(n - m, dtype=np.float32)])
        m = n
    size = 1 << (n + m - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(recording, size) * np.conj(np.fft.rfft(reference, size)), size)[
        : m - n + 1
    ]
    energy = np.concatenate([[0.0], np.cumsum(recording.astype(np.float64) ** 2)])
    reference_norm = np.sqrt(np.sum(reference.astype(np.float64) ** 2)) + 1e-12
    # A window far quieter than the reference cannot hold it (and would divide by almost zero).
    window = np.sqrt(np.maximum(energy[n:] - energy[: m - n + 1], (0.01 * reference_norm) ** 2))
    score = corr / (window * reference_norm)
    lag = int(np.argmax(score))
    return float(score[lag]), lag


def segments_found(
    reference: Signal, recording: Signal, segment: float = 0.1, threshold: float = 0.9
) -> tuple[float, int | None]:
    """(share of ``reference``'s ``segment``-second pieces found in ``recording``, where it starts).

    Piece by piece, so a glitch of a busy machine (a dropped block shifts everything after it)
    costs one piece, not the whole match. The start is the median of the pieces' lags minus their
    offsets (``None`` when no piece was found).
    """
    size = round(segment * RATE)
    starts = []
    pieces = range(0, len(reference) - size + 1, size)
    for offset in pieces:
        score, lag = best_match(reference[offset : offset + size], recording)
        if score > threshold:
            starts.append(lag - offset)
    share = len(starts) / max(1, len(pieces))
    return share, int(np.median(starts)) if starts else None


def rms_windows(signal: Signal, window: float = 0.01) -> Signal:
    """The RMS level of each ``window`` seconds."""
    size = round(window * RATE)
    usable = len(signal) // size * size
    blocks = signal[:usable].reshape(-1, size).astype(np.float64)
    levels: Signal = np.sqrt(np.mean(blocks**2, axis=1)).astype(np.float32)
    return levels


def loud_seconds(signal: Signal, threshold: float = 0.01, window: float = 0.01) -> float:
    """How long ``signal`` is above ``threshold`` RMS, in seconds."""
    return float(np.count_nonzero(rms_windows(signal, window) > threshold)) * window
