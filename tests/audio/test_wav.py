"""WAV files: every common format in, PCM16 out, and one clear error for each kind of broken file."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from vatel.audio.errors import WavError
from vatel.audio.wav import WavWriter, read_wav, write_wav

pytestmark = pytest.mark.unit


def riff(fmt: bytes | None, data: bytes | None, extra: bytes = b"") -> bytes:
    body = b"WAVE" + extra
    if fmt is not None:
        body += b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if data is not None:
        body += b"data" + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def fmt_chunk(tag: int, channels: int, rate: int, bits: int) -> bytes:
    align = channels * bits // 8
    return struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)


def test_pcm16_round_trip(tmp_path: Path) -> None:
    pcm = np.array([0, 1000, -1000, 32767, -32768], "<i2").tobytes()
    write_wav(tmp_path / "a.wav", pcm, 24_000)
    audio = read_wav(tmp_path / "a.wav")
    assert audio.rate == 24_000 and audio.channels == 1
    assert np.allclose(audio.samples[:, 0] * 32768, [0, 1000, -1000, 32767, -32768])


def test_a_streamed_writer_fixes_the_header_on_close(tmp_path: Path) -> None:
    with WavWriter(tmp_path / "b.wav", 24_000) as writer:
        for _ in range(3):
            writer.write(bytes(960))
    assert read_wav(tmp_path / "b.wav").samples.shape == (1440, 1)


@pytest.mark.parametrize(
    ("tag", "bits", "raw", "expected"),
    [
        (1, 8, bytes([128, 255, 0]), [0.0, 127 / 128, -1.0]),
        (1, 16, np.array([16384, -16384, 0], "<i2").tobytes(), [0.5, -0.5, 0.0]),
        (1, 24, b"\x00\x00\x40" + b"\x00\x00\xc0" + b"\x00\x00\x00", [0.5, -0.5, 0.0]),
        (1, 32, np.array([1 << 30, -(1 << 30), 0], "<i4").tobytes(), [0.5, -0.5, 0.0]),
        (3, 32, np.array([0.5, -0.5, 2.0], "<f4").tobytes(), [0.5, -0.5, 1.0]),
        (3, 64, np.array([0.5, -0.5, 0.0], "<f8").tobytes(), [0.5, -0.5, 0.0]),
    ],
)
def test_sample_formats(tmp_path: Path, tag: int, bits: int, raw: bytes, expected: list[float]) -> None:
    path = tmp_path / "f.wav"
    path.write_bytes(riff(fmt_chunk(tag, 1, 16_000, bits), raw))
    audio = read_wav(path)
    assert audio.rate == 16_000
    assert np.allclose(audio.samples[:, 0], expected, atol=1e-6)


def test_stereo_extensible_with_extra_chunks(tmp_path: Path) -> None:
    fmt = fmt_chunk(0xFFFE, 2, 44_100, 16) + struct.pack("<HHIH", 22, 16, 3, 1) + bytes(14)
    data = np.array([1000, -1000, 2000, -2000], "<i2").tobytes()
    path = tmp_path / "s.wav"
    path.write_bytes(riff(fmt, data, extra=b"LIST" + struct.pack("<I", 3) + b"abc\0"))
    audio = read_wav(path)
    assert audio.channels == 2 and audio.rate == 44_100
    assert np.allclose(audio.samples * 32768, [[1000, -1000], [2000, -2000]])


def test_a_data_chunk_cut_short_keeps_its_whole_frames(tmp_path: Path) -> None:
    whole = riff(fmt_chunk(1, 1, 8000, 16), bytes(100))
    path = tmp_path / "cut.wav"
    path.write_bytes(whole[:-51])  # half of the data and half a sample gone
    assert read_wav(path).samples.shape == (24, 1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is not a WAV file"),
        (b"ID3\x03 this is an mp3", "is not a WAV file"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "is not a WAV file"),
        (riff(None, bytes(4)), "has no 'fmt ' chunk"),
        (riff(fmt_chunk(1, 1, 8000, 16), None), "has no 'data' chunk"),
        (riff(b"\x01\x00", bytes(4)), "broken 'fmt ' chunk"),
        (riff(fmt_chunk(1, 0, 8000, 16), bytes(4)), "declares 0 channels"),
        (riff(fmt_chunk(1, 1, 0, 16), bytes(4)), "sample rate of 0 Hz"),
        (riff(fmt_chunk(2, 1, 8000, 4), bytes(4)), "not supported"),
        (riff(fmt_chunk(1, 1, 8000, 12), bytes(4)), "PCM at 12 bits, which is not supported"),
        (riff(fmt_chunk(1, 2, 8000, 16)[:12] + struct.pack("<HH", 2, 16), bytes(4)), "inconsistent sizes"),
        (riff(fmt_chunk(1, 1, 8000, 16), bytes(4))[:30], "truncated"),
    ],
)
def test_broken_files_give_one_clear_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(WavError, match=message) as info:
        read_wav(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_a_missing_file_and_an_unwritable_one(tmp_path: Path) -> None:
    with pytest.raises(WavError, match=r"cannot read .*absent\.wav"):
        read_wav(tmp_path / "absent.wav")
    with pytest.raises(WavError, match="cannot write"):
        WavWriter(tmp_path / "no-such-dir" / "out.wav", 24_000)
