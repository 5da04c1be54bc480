"""The one check every engine runs on the audio it is handed, so garbage fails the same clear way.

Engines take float32 mono in [-1, 1]. A model fed NaN, a stereo block or raw int16 either crashes
in native code or silently returns nonsense (and a recurrent VAD keeps the NaN in its state for
the rest of the call), so the check happens here, before any model sees the samples.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vatel.audio.pcm import Float32

__all__ = ["checked_samples"]


def checked_samples(audio: Any, *, what: str = "audio") -> Float32:
    """``audio`` as a contiguous 1-D float32 array, or ``ValueError`` saying what is wrong with it.

    Integer samples are refused rather than guessed at (use ``vatel.audio.pcm.pcm16_to_float``);
    non-finite samples are refused because no model can use them. A zero-length array is fine.
    """
    array = np.asarray(audio)
    if array.dtype.kind != "f":
        hint = " (convert PCM16 with vatel.audio.pcm.pcm16_to_float)" if array.dtype.kind in "iu" else ""
        raise ValueError(f"{what} must be float samples in [-1, 1], got dtype {array.dtype}{hint}")
    if array.ndim == 2 and 1 in array.shape:
        array = array.reshape(-1)
    if array.ndim != 1:
        raise ValueError(f"{what} must be mono: a 1-D array of samples, got shape {array.shape}")
    if array.dtype == np.float32 and array.flags.c_contiguous:
        samples = array  # the usual case (every VAD frame): no copy, and no errstate (a few µs)
    else:
        with np.errstate(over="ignore"):  # a float64 too large for float32 becomes inf, refused below
            samples = np.ascontiguousarray(array, dtype=np.float32)
    if samples.size and not np.isfinite(samples).all():
        raise ValueError(f"{what} contains NaN or infinite samples")
    return samples
