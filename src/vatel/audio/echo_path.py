"""Does the speaker come back into the microphone, how late and how loud? A chirp and a matched filter.

Pure (numpy only). ``vatel doctor`` plays :func:`chirp` on the output device while capturing the
input, then asks :func:`find_echo` where the chirp shows up in the capture:

* the **delay** is where the cross-correlation peaks, minus when the chirp left the speaker
  (``played_at``, from PortAudio's timestamps): the output→input latency an echo canceller must
  cover;
* the **level** is the least-squares gain of the chirp at that lag, in dB relative to what was
  played (0 dB: it comes back as loud as it went out);
* the echo is **found** only when the peak stands out: at least :data:`MIN_PROMINENCE` robust
  standard deviations above the correlation at other lags (noise alone peaks at about 5 over a
  second of lags) and a normalised correlation of at least :data:`MIN_CORRELATION`, so noise, hum
  or someone talking over the probe is not mistaken for an echo.

An exponential sweep is used because its autocorrelation is one sharp peak: the lag is exact to a
sample, and speech or tones in the room correlate with it only weakly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vatel.audio.pcm import Float32

__all__ = ["MIN_CORRELATION", "MIN_PROMINENCE", "Echo", "chirp", "find_echo"]

MIN_PROMINENCE = 10.0
MIN_CORRELATION = 0.2
EARLIEST = 0.05
"""Seconds before ``played_at`` still searched: the two streams' timestamps may disagree a little."""


def chirp(
    rate: int, seconds: float = 0.3, low: float = 200.0, high: float = 4000.0, level: float = 0.5
) -> Float32:
    """An exponential sine sweep from ``low`` to ``high`` Hz (capped below Nyquist), peak ``level``,
    with 5 ms fades so the speaker does not click."""
    if rate <= 0 or seconds <= 0 or not 0 < low < high or not 0 < level <= 1:
        raise ValueError(f"bad chirp: rate={rate} seconds={seconds} low={low} high={high} level={level}")
    high = min(high, 0.45 * rate)
    n = max(2, round(rate * seconds))
    t = np.arange(n, dtype=np.float64) / rate
    growth = math.log(high / low)
    phase = 2 * math.pi * low * seconds / growth * (np.exp(t / seconds * growth) - 1)
    sweep = level * np.sin(phase)
    fade = min(n // 2, max(1, round(rate * 0.005)))
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, math.pi, fade))
    sweep[:fade] *= ramp
    sweep[n - fade :] *= ramp[::-1]
    out: Float32 = sweep.astype(np.float32)
    return out


@dataclass(frozen=True)
class Echo:
    """Where (and whether) the played signal came back in the capture."""

    found: bool
    delay_ms: float | None
    """Output→input delay; ``None`` when not found or when ``played_at`` was unknown."""
    level_db: float | None
    """The echo's level relative to what was played; ``None`` when not found."""
    prominence: float
    """The correlation peak in robust standard deviations of the other lags."""
    correlation: float
    """The normalised correlation at the peak (1.0: an exact, scaled copy)."""
    capture_silent: bool
    """The capture was exact zeros: "not found" then proves nothing about the room."""


Samples = npt.NDArray[np.float64]


def _correlate(recording: Samples, reference: Samples) -> Samples:
    """``out[k] = sum(recording[k + i] * reference[i])`` for every lag where the reference fits."""
    n, m = len(reference), len(recording)
    size = 1 << (n + m - 1).bit_length()
    spectrum = np.fft.rfft(recording, size) * np.conj(np.fft.rfft(reference, size))
    out: Samples = np.fft.irfft(spectrum, size)[: m - n + 1]
    return out


def find_echo(
    played: npt.NDArray[np.floating], recorded: npt.NDArray[np.floating], rate: int, played_at: float | None
) -> Echo:
    """Look for ``played`` inside ``recorded`` (both mono at ``rate``).

    ``played_at`` is when the first played sample left the speaker, in seconds from the first
    recorded sample; ``None`` when the devices gave no timestamps (the level is still measured, and
    every lag is searched).
    """
    reference = np.asarray(played, dtype=np.float64)
    recording = np.asarray(recorded, dtype=np.float64)
    if reference.ndim != 1 or recording.ndim != 1 or len(reference) == 0:
        raise ValueError("find_echo takes two mono signals, the played one not empty")
    if rate <= 0:
        raise ValueError(f"the rate must be positive, got {rate}")
    if not np.any(recording):
        return Echo(False, None, None, 0.0, 0.0, capture_silent=True)
    if len(recording) < len(reference):
        recording = np.concatenate([recording, np.zeros(len(reference) - len(recording))])
    corr = _correlate(recording, reference)
    first = 0 if played_at is None else max(0, min(len(corr) - 1, math.floor((played_at - EARLIEST) * rate)))
    lag = first + int(np.argmax(np.abs(corr[first:])))
    peak = float(abs(corr[lag]))
    spread = 1.4826 * float(np.median(np.abs(corr - np.median(corr))))
    prominence = peak / spread if spread > 0 else (math.inf if peak > 0 else 0.0)
    energy = float(np.dot(reference, reference))
    window = recording[lag : lag + len(reference)]
    heard = math.sqrt(energy * float(np.dot(window, window)))
    correlation = peak / heard if heard > 0 else 0.0
    found = prominence >= MIN_PROMINENCE and correlation >= MIN_CORRELATION
    if not found:
        return Echo(False, None, None, _finite(prominence), correlation, capture_silent=False)
    gain = peak / energy
    delay = None if played_at is None else (lag / rate - played_at) * 1000.0
    return Echo(True, delay, 20.0 * math.log10(gain), _finite(prominence), correlation, capture_silent=False)


def _finite(value: float) -> float:
    """Prominence for reports (JSON has no infinity): capped at a million."""
    return min(value, 1e6)
