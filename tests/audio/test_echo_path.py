"""Finding a played chirp in a capture (``vatel.audio.echo_path``): known delays, gains and noise."""

from __future__ import annotations

import numpy as np
import pytest

from vatel.audio.echo_path import Echo, chirp, find_echo

pytestmark = pytest.mark.unit

RATE = 24_000
PLAYED_AT = 0.2
"""Seconds into the capture when the chirp left the speaker."""


def capture_with_echo(
    delay_ms: float, gain: float, noise_dbfs: float | None = None, seconds: float = 1.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(the chirp, a capture holding it ``delay_ms`` after ``PLAYED_AT``, scaled by ``gain``)."""
    played = chirp(RATE)
    capture = np.zeros(round(RATE * seconds), np.float32)
    start = round((PLAYED_AT + delay_ms / 1000) * RATE)
    capture[start : start + len(played)] += gain * played
    if noise_dbfs is not None:
        rng = np.random.default_rng(seed)
        capture += (rng.standard_normal(len(capture)) * 10 ** (noise_dbfs / 20)).astype(np.float32)
    return played, capture


def test_the_chirp_sweeps_up_with_fades_and_its_level() -> None:
    sweep = chirp(RATE, seconds=0.3, low=200, high=4000, level=0.5)
    assert len(sweep) == round(0.3 * RATE)
    assert np.max(np.abs(sweep)) == pytest.approx(0.5, abs=0.01)
    assert abs(sweep[0]) < 1e-3 and abs(sweep[-1]) < 0.01  # faded in and out: no click
    # Its frequency rises: zero crossings are denser at the end than at the start.
    tenth = len(sweep) // 10
    crossings = [int(np.count_nonzero(np.diff(np.signbit(part)))) for part in (sweep[:tenth], sweep[-tenth:])]
    assert crossings[1] > 5 * crossings[0]
    assert len(chirp(8_000)) == 2_400  # the top is capped below Nyquist, the sweep still made
    with pytest.raises(ValueError, match="bad chirp"):
        chirp(RATE, low=500, high=400)


@pytest.mark.parametrize(("delay_ms", "gain"), [(0.0, 1.0), (30.0, 0.5), (87.5, 0.1), (250.0, 0.02)])
def test_delay_and_level_of_a_clean_echo(delay_ms: float, gain: float) -> None:
    played, capture = capture_with_echo(delay_ms, gain)
    echo = find_echo(played, capture, RATE, PLAYED_AT)
    assert echo.found
    assert echo.delay_ms == pytest.approx(delay_ms, abs=1000 / RATE)
    assert echo.level_db == pytest.approx(20 * np.log10(gain), abs=0.1)
    assert echo.correlation > 0.99


def test_an_echo_in_noise_and_an_inverted_one() -> None:
    played, capture = capture_with_echo(
        42.0, 0.05, noise_dbfs=-45.0
    )  # echo -26 dB, about 10 dB over the noise
    echo = find_echo(played, capture, RATE, PLAYED_AT)
    assert echo.found and echo.delay_ms == pytest.approx(42.0, abs=0.1)
    assert echo.level_db == pytest.approx(-26.0, abs=0.5)
    inverted = find_echo(played, -capture, RATE, PLAYED_AT)  # a speaker wired the other way round
    assert inverted.found and inverted.delay_ms == pytest.approx(42.0, abs=0.1)


@pytest.mark.parametrize("seed", range(5))
def test_noise_alone_is_not_an_echo(seed: int) -> None:
    played, capture = capture_with_echo(30.0, 0.0, noise_dbfs=-30.0, seed=seed)
    echo = find_echo(played, capture, RATE, PLAYED_AT)
    assert not echo.found and not echo.capture_silent
    assert echo.delay_ms is None and echo.level_db is None
    assert echo.prominence < 8


def test_an_echo_buried_far_under_the_noise_is_not_claimed() -> None:
    played, capture = capture_with_echo(30.0, 0.001, noise_dbfs=-20.0)
    assert not find_echo(played, capture, RATE, PLAYED_AT).found


def test_a_tone_or_speech_like_noise_in_the_room_is_not_an_echo() -> None:
    played = chirp(RATE)
    t = np.arange(round(1.2 * RATE)) / RATE
    tone = (0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    assert not find_echo(played, tone, RATE, PLAYED_AT).found
    rng = np.random.default_rng(7)
    spectrum = np.fft.rfft(rng.standard_normal(len(t)))
    spectrum[(np.fft.rfftfreq(len(t), 1 / RATE) < 200) | (np.fft.rfftfreq(len(t), 1 / RATE) > 3400)] = 0
    babble = np.fft.irfft(spectrum, len(t)).astype(np.float32)
    babble *= np.float32(0.3 / np.max(np.abs(babble)))
    assert not find_echo(played, babble, RATE, PLAYED_AT).found


def test_an_echo_over_a_talker_is_still_found() -> None:
    played, capture = capture_with_echo(30.0, 0.3)
    t = np.arange(len(capture)) / RATE
    capture += (0.1 * np.sin(2 * np.pi * 300 * t) * np.sin(2 * np.pi * 3 * t)).astype(np.float32)
    echo = find_echo(played, capture, RATE, PLAYED_AT)
    assert echo.found and echo.delay_ms == pytest.approx(30.0, abs=0.1)


def test_zeros_say_nothing_about_the_room() -> None:
    played = chirp(RATE)
    echo = find_echo(played, np.zeros(RATE, np.float32), RATE, PLAYED_AT)
    assert echo == Echo(False, None, None, 0.0, 0.0, capture_silent=True)


def test_without_timestamps_the_level_is_still_measured() -> None:
    played, capture = capture_with_echo(30.0, 0.5)
    echo = find_echo(played, capture, RATE, None)
    assert echo.found and echo.delay_ms is None
    assert echo.level_db == pytest.approx(-6.02, abs=0.1)


def test_a_peak_before_the_chirp_was_played_is_ignored() -> None:
    played, capture = capture_with_echo(30.0, 0.2)
    capture[: len(played)] += played  # "heard" before it was played: impossible, so not the echo
    echo = find_echo(played, capture, RATE, PLAYED_AT)
    assert echo.found and echo.delay_ms == pytest.approx(30.0, abs=0.1)


def test_a_capture_shorter_than_the_chirp_and_bad_input() -> None:
    played = chirp(RATE)
    assert not find_echo(played, played[:100] * 0.5, RATE, 0.0).capture_silent
    with pytest.raises(ValueError, match="mono"):
        find_echo(played, np.zeros((10, 2)), RATE, 0.0)
    with pytest.raises(ValueError, match="rate"):
        find_echo(played, played, 0, 0.0)
