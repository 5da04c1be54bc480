"""The jitter buffer's playout position, first audible sample, level and speaker mute."""

from __future__ import annotations

import numpy as np
import pytest

from vatel.audio.jitter import JitterBuffer

pytestmark = pytest.mark.unit

RATE = 48_000
BLOCK = 480  # 10 ms


def read_at(buffer: JitterBuffer, at: float) -> np.ndarray:
    out = np.zeros(BLOCK, dtype=np.float32)
    buffer.read(out, at)
    return out


def test_the_first_audible_sample_is_placed_in_time_after_leading_silence() -> None:
    buffer = JitterBuffer(RATE, prebuffer=0.0)
    turn = np.zeros(RATE // 10, dtype=np.float32)
    turn[720:] = 0.3  # 15 ms of silence first (the voice's own lead-in)
    buffer.push("t1", turn, final=True)
    assert buffer.audible_turns() == []
    read_at(buffer, 10.0)  # samples 0..479: silent
    assert buffer.audible_turns() == []
    read_at(buffer, 10.01)
    [(turn_id, at)] = buffer.audible_turns()
    assert turn_id == "t1" and at == pytest.approx(10.015)
    read_at(buffer, 10.02)
    assert buffer.audible_turns() == []  # once per turn


def test_heard_seconds_count_only_what_has_reached_the_ear() -> None:
    buffer = JitterBuffer(RATE, prebuffer=0.0)
    buffer.push("t1", np.full(RATE, 0.2, dtype=np.float32))
    for index in range(10):  # 100 ms handed to the device, heard 50 ms after each read
        read_at(buffer, 1.05 + index * 0.01)
    assert buffer.heard_seconds("t1", 1.15) == pytest.approx(0.1)
    assert buffer.heard_seconds("t1", 1.10) == pytest.approx(0.05)
    assert buffer.heard_seconds("t1", 1.0) == 0.0
    assert buffer.heard_seconds("t2", 1.2) == 0.0


def test_a_muted_buffer_plays_silence_with_the_same_accounting() -> None:
    loud = np.full(BLOCK * 4, 0.25, dtype=np.float32)
    played = []
    for muted in (False, True):
        buffer = JitterBuffer(RATE, prebuffer=0.0)
        buffer.muted = muted
        buffer.push("t1", loud, final=True)
        out = read_at(buffer, 0.0)
        assert (out == (0.0 if muted else 0.25)).all()
        assert buffer.peak == pytest.approx(0.25)  # the meter still shows the agent
        played.append((buffer.played_samples, buffer.heard_seconds("t1", 1.0), buffer.audible_turns()))
    assert played[0] == played[1]


def test_reads_without_a_time_keep_working() -> None:
    buffer = JitterBuffer(RATE, prebuffer=0.0)
    buffer.push("t1", np.full(BLOCK, 0.5, dtype=np.float32), final=True)
    out = np.zeros(BLOCK, dtype=np.float32)
    buffer.read(out)
    assert (out == 0.5).all() and buffer.audible_turns() == [] and buffer.finished_turns() == ["t1"]
