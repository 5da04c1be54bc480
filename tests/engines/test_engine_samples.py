"""The shared input check: every engine refuses garbage the same clear way."""

from __future__ import annotations

import numpy as np
import pytest

from vatel.server.engines.samples import checked_samples

pytestmark = pytest.mark.unit


def test_float_mono_passes_through_as_contiguous_float32() -> None:
    samples = checked_samples(np.linspace(-1, 1, 10, dtype=np.float64)[::2])
    assert samples.dtype == np.float32
    assert samples.flags.c_contiguous
    assert samples.shape == (5,)


def test_a_single_channel_column_is_mono() -> None:
    assert checked_samples(np.zeros((7, 1), dtype=np.float32)).shape == (7,)


def test_zero_length_is_fine() -> None:
    assert checked_samples(np.zeros(0, dtype=np.float32)).size == 0


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (np.zeros(10, dtype=np.int16), "pcm16_to_float"),
        (np.array(["a", "b"]), "float samples"),
        (np.zeros((10, 2), dtype=np.float32), "mono"),
        (np.zeros((2, 2, 2), dtype=np.float32), "mono"),
        (np.array([0.0, np.nan], dtype=np.float32), "NaN"),
        (np.array([0.0, np.inf], dtype=np.float32), "infinite"),
        (np.array([1e300]), "infinite"),  # finite in float64, not in float32
    ],
)
def test_garbage_is_refused_with_a_clear_message(audio: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        checked_samples(audio)
