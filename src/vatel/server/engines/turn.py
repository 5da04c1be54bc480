"""End of turn: has the user finished, or only paused? Silence alone cannot tell at 0.2 s.

A :class:`TurnModel` scores the audio of the user's utterance so far (ending in the pause) with
the probability that the turn is complete. The call core asks it when a pause reaches the agent's
``stop_secs``; an incomplete turn gets more time (until a longer silence ends it anyway).
"""

from __future__ import annotations

from typing import Protocol

from vatel.audio.pcm import Float32


class TurnModel(Protocol):
    sample_rate: int
    """The rate of the audio :meth:`complete_probability` takes (16 kHz)."""

    def complete_probability(self, audio: Float32) -> float:
        """0..1: how likely the speaker has finished (blocking, tens of milliseconds; thread-safe)."""
