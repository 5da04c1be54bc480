"""Turn latency as the user hears it: the end of their speech to the agent's first audible sample.

The end of speech comes from the local VAD (:mod:`vatel.audio.speech_end`) on what the user said;
the first audible sample from the speaker (PortAudio's output time of the first non-silent sample
of a turn), or, with no speaker, from when the turn's first chunk arrived. A turn counts once,
and only when its first sound follows an end of speech with no new speech in between.
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

    def speech_started(self) -> None:
        self._speech_ended_at = None

    def speech_ended(self, at: float) -> None:
        self._speech_ended_at = at

    def audible(self, turn_id: str, at: float) -> float | None:
        """The turn's first sound is heard at ``at``: its latency, or ``None`` when it does not count."""
        if turn_id in self._heard_turns:
            return None
        self._heard_turns.add(turn_id)
        ended, self._speech_ended_at = self._speech_ended_at, None
        if ended is None or at < ended:
            return None
        self.seconds.append(at - ended)
        return at - ended

    def summary(self) -> dict[str, float | int] | None:
        """``turns``, ``p50_ms`` and ``p95_ms``; ``None`` before the first measured turn."""
        if not self.seconds:
            return None
        return {
            "turns": len(self.seconds),
            "p50_ms": round(1000 * percentile(self.seconds, 0.5), 1),
            "p95_ms": round(1000 * percentile(self.seconds, 0.95), 1),
        }
