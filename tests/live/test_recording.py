"""The call recording: both channels on one timeline, playable at every flush, repairable."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from vatel.server.live.recording import StereoRecorder, repair

pytestmark = pytest.mark.unit

RATE = 24_000


def read(path: Path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, RATE, 2)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)


def pcm(value: int, seconds: float) -> bytes:
    return np.full(int(seconds * RATE), value, dtype="<i2").tobytes()


def test_channels_land_at_their_times(tmp_path: Path) -> None:
    recorder = StereoRecorder(tmp_path / "call.wav")
    recorder.add_user(pcm(100, 0.5), at=0.5)  # user speaks 0.0-0.5
    recorder.add_agent(1.0, pcm(200, 0.5))  # agent plays 1.0-1.5
    recorder.add_user(pcm(300, 0.5), at=3.0)  # after a pause in sending: lands at 2.5-3.0
    recorder.close()
    frames = read(tmp_path / "call.wav")
    assert len(frames) == 3 * RATE
    assert (frames[: RATE // 2, 0] == 100).all() and (frames[: RATE // 2, 1] == 0).all()
    assert (frames[RATE : RATE * 3 // 2, 1] == 200).all()
    assert (frames[RATE * 5 // 2 :, 0] == 300).all()
    assert (frames[RATE * 3 // 2 : RATE * 5 // 2, 0] == 0).all()


def test_every_flush_leaves_a_playable_file_and_nothing_is_rewritten(tmp_path: Path) -> None:
    recorder = StereoRecorder(tmp_path / "call.wav")
    recorder.add_user(pcm(7, 1.0), at=1.0)
    recorder.flush(0.5)
    assert len(read(tmp_path / "call.wav")) == RATE // 2
    recorder.add_agent(0.2, pcm(9, 0.1))  # too late for the part already written: clipped to after it
    recorder.flush(1.0)
    frames = read(tmp_path / "call.wav")
    assert len(frames) == RATE and (frames[:, 0] == 7).all()
    assert (frames[RATE // 2 : RATE // 2 + RATE // 10, 1] == 9).all()


def test_repair_fixes_a_header_cut_mid_write(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    recorder = StereoRecorder(path)
    recorder.add_user(pcm(5, 1.0), at=1.0)
    recorder.flush(1.0)
    with path.open("ab") as tail:  # frames written after the last header update (a kill -9)
        tail.write(np.full(RATE, 5, dtype="<i2").tobytes() + b"\x01")
    assert repair(path) is True
    assert len(read(path)) == RATE + RATE // 2
    assert repair(path) is False  # already right
    assert repair(tmp_path / "missing.wav") is False
    (tmp_path / "junk.wav").write_bytes(b"not a wav at all, nothing to fix here" * 3)
    assert repair(tmp_path / "junk.wav") is False
