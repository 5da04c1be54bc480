"""WAV files in and out: any rate, channel count and common sample format in; PCM16 mono out.

Read: PCM integers of 8, 16, 24 or 32 bits, IEEE float of 32 or 64 bits, plain or
``WAVE_FORMAT_EXTENSIBLE``; the result is float32 ``(frames, channels)`` and the file's rate.
Anything else (not RIFF/WAVE, truncated chunks, no ``fmt `` or ``data`` chunk, compressed
formats, zero channels) raises :class:`WavError` naming the file and what is wrong with it.

Write: :class:`WavWriter` streams PCM16 mono as it arrives (``--output-file``) and fixes the
header sizes on :meth:`WavWriter.close`. :class:`StereoTimeline` writes two PCM16 channels on one
clock and keeps the header true at every flush, so a killed process leaves a file that plays (the
server's call recordings and ``vatel session --record``); :func:`repair_wav` fixes a header cut
mid-write.

This module and :mod:`vatel.audio.errors` use nothing but numpy and :mod:`vatel.audio.pcm`: the
server may import them (the import rule puts them beside ``audio.pcm``).
"""

from __future__ import annotations

import os
import struct
import wave
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np

from vatel.audio.errors import WavError
from vatel.audio.pcm import Float32

__all__ = ["StereoTimeline", "WavAudio", "WavWriter", "read_wav", "repair_wav", "write_wav"]

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


_WIDTH = 2
_HEADER_BYTES = 44


def _pcm16_header(rate: int, channels: int, data_bytes: int) -> bytes:
    align = channels * _WIDTH
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, _PCM, channels, rate, rate * align, align, _WIDTH * 8)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


Piece = tuple[int, bytes]
"""Audio placed on a channel: its first sample, and its PCM16."""


class StereoTimeline:
    """Two PCM16 channels on one clock (sample 0 is the start), written to a WAV as they go.

    ``left`` is a stream appended in order (audio that arrives or is sent); ``right`` is placed at
    a known sample (audio whose time is known). :meth:`flush` appends the frames up to a sample and
    rewrites the header's sizes, so a ``kill -9`` loses only what came after the last flush and
    the file still plays. Frames in the file are never rewritten: audio placed before the flushed
    point lands just after it. Only the unflushed part is kept in memory.
    """

    def __init__(self, path: str | Path, rate: int) -> None:
        self.path = Path(path)
        self.rate = rate
        try:
            # A raw descriptor: a flush is two pwrite calls (the frames, then the header's sizes),
            # with no buffer copy or seeks between them.
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            os.pwrite(self._fd, _pcm16_header(rate, 2, 0), 0)
        except OSError as exc:
            raise WavError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self.written = 0
        """Frames in the file; ``_left`` and ``_right`` hold the audio from here on."""
        self.left_end = 0
        self.right_end = 0
        # (first sample, PCM) as they came, laid out only when written: a call adds two pieces
        # every 20 ms, and a list append is the cheapest thing it can do then.
        self._left: list[Piece] = []
        self._right: list[Piece] = []

    def append_left(self, pcm: bytes, at: float | None = None) -> int:
        """Append ``pcm`` to the left channel; returns the sample it starts at.

        ``at`` (seconds on the timeline) is when its last sample was taken or sent: a stream that
        paused for more than 100 ms (nothing sent) resumes at its time, with silence in the gap.
        """
        start = max(self.left_end, self.written)
        samples = len(pcm) // _WIDTH
        if at is not None:
            wanted = round(at * self.rate) - samples
            if wanted > start + self.rate // 10:
                start = wanted
        self._left.append((start, pcm))
        self.left_end = start + samples
        return start

    def place_right(self, start: int, pcm: bytes) -> int:
        """Put ``pcm`` on the right channel from sample ``start`` (over what was there); returns the
        sample it really starts at (not before what is already in the file)."""
        start = max(start, self.written)
        self._right.append((start, pcm))
        self.right_end = max(self.right_end, start + len(pcm) // _WIDTH)
        return start

    def flush(self, up_to: int | None = None) -> None:
        """Write the frames up to sample ``up_to`` (default: the end of the left channel)."""
        self._write_up_to(self.left_end if up_to is None else up_to)

    def _write_up_to(self, up_to: int) -> None:
        frames = max(up_to, self.written)
        count = frames - self.written
        if count <= 0 or self._fd is None:
            return
        stereo = np.zeros((count, 2), dtype="<i2")
        self._left = self._lay(self._left, stereo[:, 0], frames)
        self._right = self._lay(self._right, stereo[:, 1], frames)
        try:
            os.pwrite(self._fd, stereo.data, _HEADER_BYTES + self.written * 2 * _WIDTH)
            self.written = frames
            os.pwrite(self._fd, _pcm16_header(self.rate, 2, self.written * 2 * _WIDTH), 0)
        except OSError as exc:
            raise WavError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def _lay(self, pieces: list[Piece], channel: np.ndarray, up_to: int) -> list[Piece]:
        """Copy the samples of ``pieces`` before ``up_to`` into ``channel`` (which starts at
        :attr:`written`), later pieces over earlier ones; the pieces (or parts) left for later."""
        rest: list[Piece] = []
        run: list[bytes] = []
        run_start = run_end = 0
        for start, whole in pieces:
            if start >= up_to:
                rest.append((start, whole))
                continue
            pcm, end = whole, start + len(whole) // _WIDTH
            if end > up_to:
                cut = (up_to - start) * _WIDTH
                rest.append((up_to, whole[cut:]))
                pcm, end = whole[:cut], up_to
            if run and start == run_end:  # the usual case: right after the last piece
                run.append(pcm)
                run_end = end
                continue
            self._copy_run(run, run_start, channel)
            run, run_start, run_end = [pcm], start, end
        self._copy_run(run, run_start, channel)
        return rest

    def _copy_run(self, run: list[bytes], start: int, channel: np.ndarray) -> None:
        if not run:
            return
        joined = b"".join(run)
        samples = np.frombuffer(joined, dtype="<i2", count=len(joined) // _WIDTH)
        at = start - self.written
        channel[at : at + samples.size] = samples

    def close(self) -> None:
        """Write everything placed on either channel and close the file."""
        if self._fd is None:
            return
        try:
            self._write_up_to(max(self.left_end, self.right_end))
        finally:
            os.close(self._fd)
            self._fd = None


def repair_wav(path: Path) -> bool:
    """Make the header of a PCM WAV cut mid-write (a 44-byte header, then data) match its data;
    ``True`` when it was changed. Anything else is left alone."""
    try:
        size = path.stat().st_size
        with path.open("r+b") as wav:
            header = wav.read(_HEADER_BYTES)
            if len(header) < _HEADER_BYTES or header[:4] != b"RIFF" or header[36:40] != b"data":
                return False
            align = struct.unpack_from("<H", header, 32)[0] or 1
            data = size - _HEADER_BYTES
            data -= data % align
            if (
                struct.unpack_from("<I", header, 40)[0] == data
                and struct.unpack_from("<I", header, 4)[0] == 36 + data
            ):
                return False
            wav.seek(4)
            wav.write(struct.pack("<I", 36 + data))
            wav.seek(40)
            wav.write(struct.pack("<I", data))
        return True
    except OSError:
        return False
