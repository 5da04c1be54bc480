"""Formats, resampling and wire framing (``vatel.audio.pcm``, ``vatel.audio.framing``)."""

from __future__ import annotations

import numpy as np
import pytest

from vatel.audio.framing import WireFramer
from vatel.audio.pcm import FRAME_SAMPLES, Resampler, float_to_pcm16, pcm16_to_float, resample, to_mono

pytestmark = pytest.mark.unit


def tone(freq: float, rate: int, seconds: float) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(signal: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[int(np.argmax(spectrum))])


def test_pcm16_round_trip_and_clipping() -> None:
    pcm = np.array([0, 1, -1, 32767, -32768], "<i2").tobytes()
    assert float_to_pcm16(pcm16_to_float(pcm)) == pcm
    assert float_to_pcm16(np.array([2.0, -2.0], np.float32)) == np.array([32767, -32768], "<i2").tobytes()
    with pytest.raises(ValueError, match="even number"):
        pcm16_to_float(b"\x00")


def test_to_mono_averages_channels() -> None:
    stereo = np.array([[1.0, 0.0], [0.5, 0.5]], np.float32)
    assert to_mono(stereo).tolist() == [0.5, 0.5]
    with pytest.raises(ValueError, match="shape"):
        to_mono(np.zeros((2, 2, 2)))


@pytest.mark.parametrize("rate", [8_000, 16_000, 22_050, 44_100, 48_000, 96_000])
def test_a_stream_resampled_in_odd_chunks_keeps_its_pitch_and_length(rate: int) -> None:
    signal = tone(440, rate, 1.0)
    resampler = Resampler(rate, 24_000)
    sizes = [1, 127, 441, 1000, 3]
    parts, pos, i = [], 0, 0
    while pos < len(signal):
        size = sizes[i % len(sizes)]
        parts.append(resampler.push(signal[pos : pos + size]))
        pos, i = pos + size, i + 1
    parts.append(resampler.finish())
    out = np.concatenate(parts)
    assert abs(len(out) - 24_000) <= 2
    assert abs(peak_hz(out, 24_000) - 440) < 2
    assert np.allclose(out[2400:-2400], resample(signal, rate, 24_000)[2400 : len(out) - 2400], atol=1e-3)


def test_equal_rates_pass_through() -> None:
    signal = tone(440, 24_000, 0.1)
    resampler = Resampler(24_000, 24_000)
    assert resampler.push(signal) is signal or np.array_equal(resampler.push(signal), signal)
    assert len(resampler.finish()) == 0


def test_any_rate_becomes_whole_20_ms_frames() -> None:
    framer = WireFramer(44_100)
    frames: list[bytes] = []
    block = tone(300, 44_100, 1.0)
    for start in range(0, len(block), 882):
        frames += framer.push(block[start : start + 882])
    frames += framer.finish()
    assert all(len(frame) == FRAME_SAMPLES * 2 for frame in frames)
    assert len(frames) in (50, 51)
    audio = pcm16_to_float(b"".join(frames))
    assert abs(peak_hz(audio[:24_000], 24_000) - 300) < 2


def test_stereo_blocks_are_mixed_down() -> None:
    framer = WireFramer(24_000)
    left = tone(500, 24_000, 0.02)
    frames = framer.push(np.stack([left, left], axis=1))
    assert len(frames) == 1
    assert np.allclose(pcm16_to_float(frames[0]), left, atol=1 / 16384)
