"""WAV files in and out: any rate, channel count and common sample format in; PCM16 mono out.

Read: PCM integers of 8, 16, 24 or 32 bits, IEEE float of 32 or 64 bits, plain or
``WAVE_FORMAT_EXTENSIBLE``; the result is float32 ``(frames, channels)`` and the file's rate.
Anything else (not RIFF/WAVE, truncated chunks, no ``fmt `` or ``data`` chunk, compressed
formats, zero channels) raises :class:`WavError` naming the file and what is wrong with it.

Write: :class:`WavWriter` streams PCM16 mono as it arrives (``--output-file``) and fixes the
header sizes on :meth:`WavWriter.close`.
"""

from __future__ import annotations

import struct
import wave
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np

from vatel.audio.errors import WavError
from vatel.audio.pcm import Float32

__all__ = ["WavAudio", "WavWriter", "read_wav", "write_wav"]

_PCM = 1
_FLOAT = 3
_EXTENSIBLE = 0xFFFE
_MAX_CHANNELS = 64


class WavAudio:
    """Samples as float32 ``(frames, channels)`` in [-1, 1], and their rate."""

    def __init__(self, samples: Float32, rate: int) -> None:
        self.samples = samples
        self.rate = rate

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate


def _chunks(data: bytes, where: str) -> dict[bytes, bytes]:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavError(f"{where} is not a WAV file (no RIFF/WAVE header)")
    chunks: dict[bytes, bytes] = {}
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8 : pos + 8 + size]
        # A data chunk cut short (a recording that was killed) keeps the whole frames it holds.
        if len(body) < size and cid != b"data":
            raise WavError(f"{where} is truncated: its {cid.decode('latin-1')!r} chunk is cut short")
        chunks.setdefault(cid, body)
        pos += 8 + size + (size & 1)
    return chunks


def _decode(fmt: bytes, body: bytes, where: str) -> tuple[Float32, int]:
    if len(fmt) < 16:
        raise WavError(f"{where} has a broken 'fmt ' chunk ({len(fmt)} bytes)")
    tag, channels, rate, _, align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack_from("<H", fmt, 24)[0]
    supported = (tag == _PCM and bits in (8, 16, 24, 32)) or (tag == _FLOAT and bits in (32, 64))
    if not supported:
        kind = {_PCM: "PCM", _FLOAT: "float"}.get(tag, f"format tag {tag:#06x}")
        raise WavError(f"{where} uses {kind} at {bits} bits, which is not supported: convert it to PCM16")
    if not 1 <= channels <= _MAX_CHANNELS:
        raise WavError(f"{where} declares {channels} channels")
    if rate <= 0:
        raise WavError(f"{where} declares a sample rate of {rate} Hz")
    width = bits // 8
    if align != width * channels:
        raise WavError(f"{where} has inconsistent sizes ({bits} bits, {channels} channels, block {align})")
    frames = len(body) // align
    raw = body[: frames * align]
    if tag == _PCM and width == 1:
        samples = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif tag == _PCM and width == 2:
        samples = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif tag == _PCM and width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        samples = (np.where(value >= 1 << 23, value - (1 << 24), value) / float(1 << 23)).astype(np.float32)
    elif tag == _PCM and width == 4:
        samples = (np.frombuffer(raw, "<i4") / float(1 << 31)).astype(np.float32)
    else:  # float, 32 or 64 bits
        samples = np.frombuffer(raw, "<f4" if width == 4 else "<f8").astype(np.float32)
        samples = np.nan_to_num(np.clip(samples, -1.0, 1.0))
    return samples.reshape(frames, channels), rate


def read_wav(path: str | Path) -> WavAudio:
    """The samples and rate of a WAV file (:class:`WavError` when it is missing or broken)."""
    where = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise WavError(f"cannot read {where}: {exc.strerror or exc}") from None
    chunks = _chunks(data, where)
    if b"fmt " not in chunks:
        raise WavError(f"{where} has no 'fmt ' chunk")
    if b"data" not in chunks:
        raise WavError(f"{where} has no 'data' chunk")
    samples, rate = _decode(chunks[b"fmt "], chunks[b"data"], where)
    return WavAudio(samples, rate)


class WavWriter:
    """A PCM16 mono WAV written as audio arrives; use ``with`` or call :meth:`close`."""

    def __init__(self, path: str | Path, rate: int) -> None:
        self.path = Path(path)
        self.rate = rate
        self.frames = 0
        try:
            self._raw = self.path.open("wb")  # closed in close()
        except OSError as exc:
            raise WavError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._file = wave.open(self._raw, "wb")  # noqa: SIM115
        self._file.setnchannels(1)
        self._file.setsampwidth(2)
        self._file.setframerate(rate)

    def write(self, pcm: bytes) -> None:
        """Append PCM16 little-endian mono bytes."""
        try:
            self._file.writeframes(pcm)
        except OSError as exc:
            raise WavError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self.frames += len(pcm) // 2

    def close(self) -> None:
        try:
            self._file.close()  # writes the final sizes into the header
        finally:
            self._raw.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def write_wav(path: str | Path, pcm: bytes, rate: int) -> None:
    """Write PCM16 mono bytes as a WAV file in one go."""
    with WavWriter(path, rate) as writer:
        writer.write(pcm)
