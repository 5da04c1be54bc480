"""The playback jitter buffer: prebuffer, underruns, flush within one read, late chunks, threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from vatel.audio.jitter import JitterBuffer, PlayState

pytestmark = pytest.mark.unit

RATE = 48_000
BLOCK = 480  # 10 ms callback period
MS = RATE // 1000


def chunk(ms: int, value: float = 0.5) -> np.ndarray:
    return np.full(ms * MS, value, dtype=np.float32)


def read(buffer: JitterBuffer, n: int = BLOCK) -> np.ndarray:
    out = np.full(n, np.nan, dtype=np.float32)
    buffer.read(out)
    assert not np.isnan(out).any(), "read() must fill every sample"
    return out


def test_a_turn_waits_for_the_prebuffer() -> None:
    buffer = JitterBuffer(RATE, prebuffer=0.06)
    buffer.push("t1", chunk(40))
    assert not read(buffer).any()  # 40 ms < 60 ms: silence
    buffer.push("t1", chunk(20))
    assert (read(buffer) == 0.5).all()
    assert buffer.state is PlayState.PLAYING


def test_a_short_final_turn_plays_without_waiting() -> None:
    buffer = JitterBuffer(RATE, prebuffer=0.06)
    buffer.push("t1", chunk(5), final=True)
    out = read(buffer)
    assert (out[: 5 * MS] == 0.5).all() and not out[5 * MS :].any()
    assert buffer.finished_turns() == ["t1"]
    assert buffer.underruns == 0
    assert buffer.state is PlayState.IDLE


def test_running_dry_before_the_final_chunk_is_an_underrun_and_prebuffers_again() -> None:
    buffer = JitterBuffer(RATE, prebuffer=0.06)
    buffer.push("t1", chunk(65))
    for _ in range(6):
        read(buffer)
    out = read(buffer)  # 5 ms left of 65: then dry
    assert (out[: 5 * MS] == 0.5).all() and not out[5 * MS :].any()
    assert buffer.underruns == 1
    assert buffer.state is PlayState.PREBUFFERING
    buffer.push("t1", chunk(30))
    assert not read(buffer).any()  # 30 ms < 60 ms again
    assert buffer.underruns == 1  # waiting for the prebuffer is not another underrun


def test_flush_silences_the_next_read_and_drops_late_chunks() -> None:
    buffer = JitterBuffer(RATE, prebuffer=0.02)
    buffer.push("t1", chunk(500))
    assert read(buffer).all()
    buffer.flush("t1")
    assert not read(buffer).any()  # within one callback period
    buffer.push("t1", chunk(100), final=True)  # a late chunk of the interrupted turn
    assert not read(buffer).any()
    assert buffer.is_flushed("t1")
    assert buffer.dropped_samples == 490 * MS
    assert buffer.buffered_seconds == 0


def test_flush_keeps_the_other_turns() -> None:
    buffer = JitterBuffer(RATE, prebuffer=0.0)
    buffer.push("t1", chunk(100, 0.5))
    buffer.push("t2", chunk(100, 0.25), final=True)
    read(buffer)
    buffer.flush("t1")
    assert (read(buffer) == 0.25).all()


def test_turns_play_back_to_back_and_report_their_end() -> None:
    buffer = JitterBuffer(RATE, prebuffer=0.0)
    buffer.push("t1", chunk(5, 0.5), final=True)
    buffer.push("t2", chunk(5, 0.25), final=True)
    out = read(buffer)
    assert (out[: 5 * MS] == 0.5).all() and (out[5 * MS :] == 0.25).all()
    assert buffer.finished_turns() == ["t1", "t2"]
    assert buffer.finished_turns() == []


def test_empty_chunks_are_ignored_and_an_empty_final_ends_the_turn() -> None:
    buffer = JitterBuffer(RATE, prebuffer=0.06)
    buffer.push("t1", chunk(0))
    assert buffer.pushed_samples == 0
    buffer.push("t1", chunk(20))
    buffer.push("t1", chunk(0), final=True)
    out = read(buffer, 30 * MS)
    assert (out[: 20 * MS] == 0.5).all() and not out[20 * MS :].any()
    assert buffer.underruns == 0
    assert buffer.finished_turns() == ["t1"]


def test_a_prebuffer_over_60_ms_is_refused() -> None:
    with pytest.raises(ValueError, match="prebuffer"):
        JitterBuffer(RATE, prebuffer=0.1)


def test_a_writer_thread_and_a_reader_thread_lose_nothing() -> None:
    buffer = JitterBuffer(RATE, prebuffer=0.0)
    chunks = 2000
    done = threading.Event()

    def write() -> None:
        for i in range(chunks):
            buffer.push("t1", chunk(1, 1.0), final=i == chunks - 1)
        done.set()

    played = 0
    writer = threading.Thread(target=write)
    writer.start()
    out = np.zeros(BLOCK, dtype=np.float32)
    while not (done.is_set() and buffer.buffered_seconds == 0):
        buffer.read(out)
        played += int(np.count_nonzero(out))
    writer.join()
    assert played == chunks * MS
    assert buffer.played_samples == chunks * MS


def silent(buffer: JitterBuffer) -> bool:
    return buffer.silent  # a call: mypy does not narrow it from one assert to the next


def test_silent_is_true_only_when_read_would_write_silence_and_change_nothing() -> None:
    buffer = JitterBuffer(RATE, prebuffer=0.06)
    assert silent(buffer)
    buffer.push("t1", chunk(40))
    assert not silent(buffer)  # in the inbox: read() must take it
    assert not read(buffer).any()
    assert not silent(buffer)  # queued, waiting for the prebuffer
    buffer.push("t1", chunk(20), final=True)
    while buffer.state is PlayState.PLAYING or not silent(buffer):
        assert not silent(buffer)
        read(buffer)
    assert buffer.finished_turns() == ["t1"]
    assert silent(buffer)
    buffer.flush("t2")  # a flush request is seen by read() even with nothing queued
    assert not silent(buffer)
    read(buffer)
    assert silent(buffer)
