"""The microphone verdicts (``vatel.audio.mic_level``) on synthetic captures of known level."""

from __future__ import annotations

import numpy as np
import pytest

from vatel.audio.mic_level import (
    CLIPPED_SAMPLES,
    QUIET_DBFS,
    SILENT_DBFS,
    MicVerdict,
    dbfs,
    judge_capture,
)

pytestmark = pytest.mark.unit

RATE = 48_000


def noise(rms_dbfs: float, seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(round(RATE * seconds)) * 10 ** (rms_dbfs / 20)).astype(np.float32)


def burst(level_dbfs: float, floor_dbfs: float = -80.0) -> np.ndarray:
    """A noise floor with 0.3 s of 'speech' (noise at ``level_dbfs`` RMS) in the middle."""
    signal = noise(floor_dbfs, seed=1)
    signal[RATE // 3 : RATE // 3 + round(0.3 * RATE)] += noise(level_dbfs, 0.3, seed=2)
    return signal


def test_exact_zeros_are_no_signal_with_a_permission_fix() -> None:
    level = judge_capture(np.zeros(RATE, np.float32), RATE)
    assert level.verdict is MicVerdict.NO_SIGNAL and level.problem
    assert level.seconds == pytest.approx(1.0)
    assert "exact zeros" in level.summary()
    assert "Privacy & Security > Microphone" in (level.fix("darwin") or "")
    assert "Privacy & security > Microphone" in (level.fix("win32") or "")
    assert "pavucontrol" in (level.fix("linux") or "")
    assert judge_capture(np.zeros(0, np.float32), RATE).verdict is MicVerdict.NO_SIGNAL


def test_one_lsb_of_hiss_is_not_zeros_but_silent() -> None:
    hiss = np.zeros(RATE, np.float32)
    hiss[::7] = 1 / 32768
    level = judge_capture(hiss, RATE)
    assert level.verdict is MicVerdict.SILENT
    assert level.level_dbfs < SILENT_DBFS


@pytest.mark.parametrize(
    ("speech_dbfs", "verdict"),
    [
        (-75.0, MicVerdict.SILENT),
        (-62.0, MicVerdict.SILENT),
        (-55.0, MicVerdict.TOO_QUIET),
        (-43.0, MicVerdict.TOO_QUIET),
        (-37.0, MicVerdict.OK),
        (-20.0, MicVerdict.OK),
    ],
)
def test_the_loudest_window_decides_between_silent_quiet_and_ok(
    speech_dbfs: float, verdict: MicVerdict
) -> None:
    level = judge_capture(burst(speech_dbfs), RATE)
    assert level.verdict is verdict
    with_floor = 10 * np.log10(10 ** (speech_dbfs / 10) + 10 ** (-80.0 / 10))  # the powers add up
    assert level.level_dbfs == pytest.approx(with_floor, abs=0.5)
    assert level.floor_dbfs == pytest.approx(-80.0, abs=0.5)


def test_the_thresholds_are_where_the_docs_say() -> None:
    assert judge_capture(burst(SILENT_DBFS - 1.5), RATE).verdict is MicVerdict.SILENT
    assert judge_capture(burst(SILENT_DBFS + 1.5), RATE).verdict is MicVerdict.TOO_QUIET
    assert judge_capture(burst(QUIET_DBFS - 1.5), RATE).verdict is MicVerdict.TOO_QUIET
    assert judge_capture(burst(QUIET_DBFS + 1.5), RATE).verdict is MicVerdict.OK


def test_a_dc_offset_does_not_pass_for_loudness() -> None:
    offset = noise(-75.0) + np.float32(0.05)  # -26 dBFS of DC on a silent microphone
    assert judge_capture(offset, RATE).verdict is MicVerdict.SILENT


def test_clipping_needs_more_than_a_few_full_scale_samples() -> None:
    t = np.arange(RATE) / RATE
    loud = (0.9 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    assert judge_capture(loud, RATE).verdict is MicVerdict.OK
    few = loud.copy()
    few[100 : 100 + CLIPPED_SAMPLES] = 1.0
    assert judge_capture(few, RATE).verdict is MicVerdict.OK
    clipped = np.clip(1.6 * loud, -1.0, 1.0)
    level = judge_capture(clipped, RATE)
    assert level.verdict is MicVerdict.CLIPPING and level.problem
    assert level.clipped > 1000
    assert level.peak_dbfs == pytest.approx(0.0, abs=0.01)
    assert "lower the input gain" in (level.fix("linux") or "")
    int16_limits = loud.copy()
    int16_limits[:: RATE // 10] = -1.0  # ten samples at -32768: clipping on the negative side too
    assert judge_capture(int16_limits, RATE).verdict is MicVerdict.CLIPPING


def test_ok_reports_its_figures_and_needs_no_fix() -> None:
    level = judge_capture(burst(-20.0), RATE)
    assert not level.problem
    assert level.fix("linux") is None
    assert "loudest -20 dBFS" in level.summary()


def test_short_captures_and_bad_input() -> None:
    assert judge_capture(noise(-20.0, seconds=0.01), RATE).verdict is MicVerdict.OK  # under one window
    with pytest.raises(ValueError, match="mono"):
        judge_capture(np.zeros((10, 2), np.float32), RATE)
    with pytest.raises(ValueError, match="rate"):
        judge_capture(np.zeros(10, np.float32), 0)


def test_dbfs() -> None:
    assert dbfs(1.0) == 0.0
    assert dbfs(0.1) == pytest.approx(-20.0)
    assert dbfs(0.0) == -120.0
