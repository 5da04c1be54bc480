"""StereoTimeline: two channels on one clock, offsets as placed, a header true at every flush."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from vatel.audio.errors import WavError
from vatel.audio.wav import StereoTimeline, repair_wav

pytestmark = pytest.mark.unit

RATE = 24_000


def pcm(value: int, samples: int) -> bytes:
    return np.full(samples, value, dtype="<i2").tobytes()


def frames(path: Path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, RATE, 2)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)


def test_offsets_are_where_the_audio_lands(tmp_path: Path) -> None:
    timeline = StereoTimeline(tmp_path / "s.wav", RATE)
    assert timeline.append_left(pcm(1, 480), at=0.02) == 0
    assert timeline.append_left(pcm(2, 480), at=0.05) == 480  # 10 ms late: still in order
    assert timeline.append_left(pcm(3, 480), at=1.0) == RATE - 480  # after a pause: at its time
    assert timeline.place_right(100, pcm(9, 200)) == 100
    timeline.close()
    got = frames(tmp_path / "s.wav")
    assert len(got) == RATE
    assert (
        (got[:480, 0] == 1).all() and (got[480:960, 0] == 2).all() and (got[960 : RATE - 480, 0] == 0).all()
    )
    assert (got[RATE - 480 :, 0] == 3).all()
    assert (got[100:300, 1] == 9).all() and got[:100, 1].sum() == 0 and got[300:, 1].sum() == 0


def test_flushed_frames_stay_and_only_the_unflushed_part_is_in_memory(tmp_path: Path) -> None:
    timeline = StereoTimeline(tmp_path / "s.wav", RATE)
    timeline.append_left(pcm(4, RATE))
    timeline.place_right(RATE // 2, pcm(5, RATE))  # reaches past the left channel
    timeline.flush(RATE // 4)
    assert len(frames(tmp_path / "s.wav")) == RATE // 4  # the header is right after every flush
    assert sum(len(piece) for _, piece in timeline._left) == (RATE - RATE // 4) * 2
    assert timeline.place_right(0, pcm(6, 10)) == RATE // 4  # too late for the file: right after it
    timeline.flush()
    assert len(frames(tmp_path / "s.wav")) == RATE
    timeline.close()
    got = frames(tmp_path / "s.wav")
    assert len(got) == RATE * 3 // 2
    assert (got[RATE // 4 : RATE // 4 + 10, 1] == 6).all() and (got[RATE // 2 :, 1] == 5).all()


def test_a_killed_writer_leaves_a_playable_file_and_repair_fixes_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "s.wav"
    timeline = StereoTimeline(path, RATE)
    timeline.append_left(pcm(7, RATE))
    timeline.flush(RATE // 2)
    with path.open("ab") as tail:  # written after the last header update, then killed mid-frame
        tail.write(pcm(7, 1000) + b"\x01")
    assert len(frames(path)) == RATE // 2
    assert repair_wav(path) is True
    assert len(frames(path)) == RATE // 2 + 500
    assert repair_wav(path) is False
    assert repair_wav(tmp_path / "missing.wav") is False
    (tmp_path / "junk.wav").write_bytes(b"junk" * 20)
    assert repair_wav(tmp_path / "junk.wav") is False


def test_an_unwritable_path_is_a_wav_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(WavError, match="cannot write"):
        StereoTimeline(tmp_path / "file" / "s.wav", RATE)


def test_later_audio_lands_over_earlier_audio_and_pieces_split_at_a_flush(tmp_path: Path) -> None:
    timeline = StereoTimeline(tmp_path / "s.wav", RATE)
    timeline.place_right(0, pcm(1, 300))
    timeline.place_right(100, pcm(2, 100))  # over the middle of the first piece
    timeline.place_right(300, pcm(3, 300))  # right after it: one run
    timeline.append_left(pcm(8, 600))
    timeline.flush(450)  # inside the third piece: its first 150 samples now, the rest later
    timeline.place_right(500, pcm(4, 50))  # over the part of the third piece not yet written
    timeline.close()
    right = frames(tmp_path / "s.wav")[:, 1]
    assert len(right) == 600
    assert (right[:100] == 1).all() and (right[100:200] == 2).all() and (right[200:300] == 1).all()
    assert (right[300:500] == 3).all() and (right[500:550] == 4).all() and (right[550:] == 3).all()
