"""Formats, resampling and wire framing (``vatel.audio.pcm``, ``vatel.audio.framing``)."""

from __future__ import annotations

import numpy as np
import pytest

from vatel.audio.framing import WireFramer
from vatel.audio.pcm import (
    FRAME_SAMPLES,
    PolyphaseResampler,
    Resampler,
    float_to_pcm16,
    pcm16_to_float,
    resample,
    to_mono,
)

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


# --- PolyphaseResampler (the server's 24 -> 16 kHz input path) ------------------------------------


def _tone_pcm(frequency: float, rate: int, seconds: float = 1.0, amplitude: float = 0.5) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return float_to_pcm16(amplitude * np.sin(2 * np.pi * frequency * t))


def _level_db(samples: np.ndarray, amplitude: float = 0.5) -> float:
    body = samples[len(samples) // 4 :]  # past the filter's start
    return float(20 * np.log10(np.sqrt(np.mean(body**2)) / (amplitude / np.sqrt(2)) + 1e-12))


def test_polyphase_chunks_of_any_size_give_the_samples_of_one_push() -> None:
    pcm = float_to_pcm16(np.random.default_rng(3).normal(0, 0.2, 24_000))
    whole = PolyphaseResampler(24_000, 16_000).push(pcm)
    stream = PolyphaseResampler(24_000, 16_000)
    sizes = [1, 2, 479, 480, 481, 3, 960, 7]  # in samples: blocks of 3 are cut anywhere
    parts, at, n = [], 0, 0
    while at < len(pcm):
        size = sizes[n % len(sizes)] * 2
        parts.append(stream.push(pcm[at : at + size]))
        at, n = at + size, n + 1
    pieces = np.concatenate(parts)
    assert whole.dtype == np.float32
    assert whole.size == pieces.size == 16_000
    np.testing.assert_allclose(pieces, whole, atol=1e-6)


@pytest.mark.parametrize(("from_rate", "to_rate"), [(24_000, 16_000), (48_000, 16_000), (16_000, 24_000)])
def test_polyphase_passes_speech_and_stops_what_would_alias(from_rate: int, to_rate: int) -> None:
    nyquist = min(from_rate, to_rate) / 2
    for frequency in (300.0, 1000.0, 3000.0, 0.8 * nyquist):
        out = PolyphaseResampler(from_rate, to_rate).push(_tone_pcm(frequency, from_rate))
        assert out.size == to_rate
        assert abs(_level_db(out)) < 0.5, frequency
    if from_rate > to_rate:  # above the new Nyquist frequency: it would fold back into speech
        for frequency in (1.05 * nyquist, 1.5 * nyquist, 0.95 * from_rate / 2):
            out = PolyphaseResampler(from_rate, to_rate).push(_tone_pcm(frequency, from_rate))
            assert _level_db(out) < -60, frequency


def test_polyphase_holds_back_little_and_keeps_the_pitch() -> None:
    impulse = np.zeros(2_400, dtype=np.int16)
    impulse[1_200] = 20_000
    out = PolyphaseResampler(24_000, 16_000).push(impulse.tobytes())
    delay_ms = (int(np.argmax(out)) - 800) / 16
    assert 0.5 <= delay_ms <= 2.0  # soxr "LQ" holds back 6 ms, "HQ" 21 ms
    tone = PolyphaseResampler(24_000, 16_000).push(_tone_pcm(440.0, 24_000))
    spectrum = np.abs(np.fft.rfft(tone[4_000:12_000]))
    assert abs(np.argmax(spectrum) * 16_000 / 8_000 - 440.0) <= 2.0


def test_polyphase_refuses_what_it_cannot_do() -> None:
    with pytest.raises(ValueError, match="even number of bytes"):
        PolyphaseResampler(24_000, 16_000).push(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="positive"):
        PolyphaseResampler(0, 16_000)
    with pytest.raises(ValueError, match="not a small ratio"):
        PolyphaseResampler(44_100, 16_000)
    assert PolyphaseResampler(24_000, 16_000).push(b"").size == 0
