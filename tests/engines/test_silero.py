"""Silero VAD v6 (ONNX, no torch): high on speech, low on silence and noise, one state per stream."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import numpy as np
import pytest

from vatel.server.engines.silero import FRAME_SAMPLES, SileroVad, bundled_model_path

pytestmark = pytest.mark.models

Speak = Callable[..., np.ndarray]
"""The ``user_says`` fixture (tests/engines/conftest.py)."""


def frames(audio: np.ndarray) -> list[np.ndarray]:
    return [audio[i : i + FRAME_SAMPLES] for i in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES)]


def test_torch_is_not_installed() -> None:
    assert importlib.util.find_spec("torch") is None
    assert bundled_model_path().name == "silero_vad.onnx"


def test_speech_scores_high_and_silence_and_noise_low(vad: SileroVad, user_says: Speak) -> None:
    speech = user_says("Could you book me a table by the window for tonight?", pad=0.0)
    noise = (np.random.default_rng(1).standard_normal(16_000) * 0.05).astype(np.float32)
    stream = vad.stream()
    silence = [stream.probability(f) for f in frames(np.zeros(16_000, dtype=np.float32))]
    talk = [stream.probability(f) for f in frames(speech)]
    stream.reset()
    hiss = [stream.probability(f) for f in frames(noise)]
    assert max(silence) < 0.1
    assert max(hiss) < 0.3
    assert np.median(talk) > 0.9
    assert np.mean(np.array(talk) > 0.5) > 0.8


def test_streams_keep_their_own_state(vad: SileroVad, user_says: Speak) -> None:
    speech = frames(user_says("Hello there, this is a test.", pad=0.1))
    alone = vad.stream()
    expected = [alone.probability(f) for f in speech]
    first, second = vad.stream(), vad.stream()
    got = []
    for frame in speech:
        got.append(first.probability(frame))
        second.probability(np.zeros(FRAME_SAMPLES, dtype=np.float32))
    assert got == pytest.approx(expected, abs=1e-5)
    first.reset()
    assert [first.probability(f) for f in speech] == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros(FRAME_SAMPLES - 1, dtype=np.float32),
        np.zeros(0, dtype=np.float32),
        np.zeros(FRAME_SAMPLES, dtype=np.int16),
        np.zeros((FRAME_SAMPLES, 2), dtype=np.float32),
        np.full(FRAME_SAMPLES, np.nan, dtype=np.float32),
        np.full(FRAME_SAMPLES, np.inf, dtype=np.float32),
    ],
    ids=["short", "empty", "int16", "stereo", "nan", "inf"],
)
def test_garbage_is_refused_and_does_not_poison_the_state(vad: SileroVad, frame: np.ndarray) -> None:
    stream = vad.stream()
    with pytest.raises(ValueError, match=r"samples|frame|mono"):
        stream.probability(frame)
    assert stream.probability(np.zeros(FRAME_SAMPLES, dtype=np.float32)) < 0.1
