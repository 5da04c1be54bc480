"""The call's stereo WAV (left: the user as received, right: the agent as sent), written as it goes.

Both channels are placed on one timeline (24 kHz from the start of the call). Every flush appends
the frames up to a point and rewrites the header's sizes, so a ``kill -9`` loses at most the last
second and the file still plays; :func:`repair` fixes the header of a file cut mid-write.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

RATE = 24_000
CHANNELS = 2
WIDTH = 2
HEADER_BYTES = 44


def _header(data_bytes: int) -> bytes:
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, CHANNELS, RATE, RATE * CHANNELS * WIDTH, CHANNELS * WIDTH, WIDTH * 8)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


class StereoRecorder:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("w+b")
        self._file.write(_header(0))
        self._user = bytearray()
        self._agent = bytearray()
        self._written = 0
        """Frames already in the file."""

    def add_user(self, pcm: bytes, at: float | None = None) -> None:
        """The user's audio, in order as received, whose last sample arrived ``at`` seconds into
        the call. Audio carries its own clock, but a client may pause sending (no microphone, push
        to talk): a gap of more than 100 ms is filled with silence so later speech lands in time."""
        if at is not None:
            start = max(0, round(at * RATE) - len(pcm) // WIDTH)
            current = len(self._user) // WIDTH
            if start > current + RATE // 10:
                self._user += bytes((start - current) * WIDTH)
        floor = self._written * WIDTH
        if len(self._user) < floor:  # never behind what is already in the file
            self._user += bytes(floor - len(self._user))
        self._user += pcm

    def add_agent(self, at: float, pcm: bytes) -> None:
        """Agent audio whose playout starts ``at`` seconds into the call."""
        start = max(round(at * RATE) * WIDTH, self._written * WIDTH)
        end = start + len(pcm)
        if len(self._agent) < end:
            self._agent += bytes(end - len(self._agent))
        self._agent[start:end] = pcm[: end - start]

    def flush(self, up_to: float | None = None) -> None:
        """Write the frames up to ``up_to`` seconds (default: all the user audio received)."""
        frames = len(self._user) // WIDTH if up_to is None else int(up_to * RATE)
        frames = max(frames, self._written)
        count = frames - self._written
        if count <= 0:
            return
        user = self._channel(self._user, count)
        agent = self._channel(self._agent, count)
        stereo = np.empty(count * 2, dtype="<i2")
        stereo[0::2], stereo[1::2] = user, agent
        self._file.seek(0, os.SEEK_END)
        self._file.write(stereo.tobytes())
        self._written = frames
        self._file.seek(0)
        self._file.write(_header(self._written * CHANNELS * WIDTH))
        self._file.flush()

    def _channel(self, buffer: bytearray, count: int) -> np.ndarray:
        start = self._written * WIDTH
        piece = bytes(buffer[start : start + count * WIDTH])
        piece += bytes(count * WIDTH - len(piece))
        return np.frombuffer(piece, dtype="<i2")

    def close(self) -> None:
        if self._file.closed:
            return
        self.flush(max(len(self._user), len(self._agent)) / (RATE * WIDTH))
        self._file.close()


def repair(path: Path) -> bool:
    """Make the header of a WAV cut mid-write match its data; ``True`` when it was changed."""
    try:
        size = path.stat().st_size
        with path.open("r+b") as wav:
            header = wav.read(HEADER_BYTES)
            if len(header) < HEADER_BYTES or header[:4] != b"RIFF":
                return False
            data = size - HEADER_BYTES
            data -= data % (CHANNELS * WIDTH)
            if struct.unpack("<I", header[40:44])[0] == data:
                return False
            wav.seek(0)
            wav.write(_header(data))
        return True
    except OSError:
        return False
