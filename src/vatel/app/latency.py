"""Turn latency as the user hears it: the end of their speech to the agent's first audible sample.

The end of speech comes from the local VAD (:mod:`vatel.audio.speech_end`) on what the user said;
the first audible sample from the speaker (PortAudio's output time of the first non-silent sample
of a turn), or, with no speaker, from when the turn's first chunk arrived. A turn counts once,
and only when its first sound follows an end of speech with no new speech in between. The VAD
declares an end only after some quiet, so a turn may be heard before its end of speech is known:
it is then held until the end is declared, and counts if it came after that end.
"""

from __future__ import annotations

__all__ = ["TurnLatency", "percentile"]


def percentile(values: list[float], share: float) -> float:
    """The ``share`` (0..1) percentile, linearly interpolated; ``values`` must not be empty."""
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class TurnLatency:
    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._speech_ended_at: float | None = None
        self._heard_turns: set[str] = set()
        self._held: float | None = None
        """When a turn was heard while the user still seemed to be speaking."""

    def speech_started(self) -> None:
        self._speech_ended_at = self._held = None

    def speech_ended(self, at: float) -> float | None:
        """The user's speech ended at ``at``: the latency of a turn heard meanwhile, if any."""
        held, self._held = self._held, None
        if held is not None:
            return self._measure(at, held)
        self._speech_ended_at = at
        return None

    def audible(self, turn_id: str, at: float, *, user_speaking: bool = False) -> float | None:
        """The turn's first sound is heard at ``at``: its latency, or ``None`` when it does not count
        (or not yet: while ``user_speaking``, it is held for :meth:`speech_ended`)."""
        if turn_id in self._heard_turns:
            return None
        self._heard_turns.add(turn_id)
        if user_speaking:
            self._held = at
            return None
        ended, self._speech_ended_at = self._speech_ended_at, None
        return None if ended is None else self._measure(ended, at)

    def _measure(self, ended: float, heard: float) -> float | None:
        if heard < ended:
            return None
        self.seconds.append(heard - ended)
        return heard - ended

    def summary(self) -> dict[str, float | int] | None:
        """``turns``, ``p50_ms`` and ``p95_ms``; ``None`` before the first measured turn."""
        if not self.seconds:
            return None
        return {
            "turns": len(self.seconds),
            "p50_ms": round(1000 * percentile(self.seconds, 0.5), 1),
            "p95_ms": round(1000 * percentile(self.seconds, 0.95), 1),
        }
