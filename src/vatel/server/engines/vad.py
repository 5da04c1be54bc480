"""Voice activity detection: the probability that a short frame holds speech.

One :class:`VadModel` is loaded per process; each call opens its own :class:`VadStream`, which
keeps the model's recurrent state for that call only.
"""

from __future__ import annotations

from typing import Protocol

from vatel.audio.pcm import Float32


class VadStream(Protocol):
    """Consecutive frames of one call, ``frame_samples`` long at ``VadModel.sample_rate``."""

    frame_samples: int

    def probability(self, frame: Float32) -> float:
        """Speech probability of the next frame, 0..1 (blocking, well under a millisecond)."""

    def reset(self) -> None:
        """Forget the state (a new utterance after a long pause, or a new call)."""


class VadModel(Protocol):
    sample_rate: int

    def stream(self) -> VadStream: ...
