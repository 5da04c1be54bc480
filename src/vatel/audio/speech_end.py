"""A small local voice activity detector on the microphone: when did the user stop speaking?

The server has its own VAD; this one only times turns on our side (the latency line: the user's
end of speech to the agent's first audible sample). Energy is enough for that: the RMS of each
20 ms frame in dBFS against an adaptive noise floor: the quietest frame of the last
:data:`FLOOR_SECONDS` (speech always pauses within that; a fan that starts becomes the floor once
it has run that long, so a steady noise never reads as endless speech). A frame is voiced when it is at least
:data:`MARGIN_DB` above the floor and above :data:`MIN_SPEECH_DBFS`. Speech starts after
:data:`START_FRAMES` voiced frames in a row and ends after :data:`END_FRAMES` quiet ones; the end
is placed at the end of the last voiced frame. Digital silence (a muted or push-to-talk frame)
leaves the floor alone.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

__all__ = ["SpeechEdge", "SpeechEnd", "frame_dbfs"]

MARGIN_DB = 12.0
MIN_SPEECH_DBFS = -50.0
START_FRAMES = 3
"""60 ms of voiced frames start speech (a click does not)."""
END_FRAMES = 15
"""300 ms of quiet end it (the pauses inside a sentence are shorter)."""
FLOOR_SECONDS = 3.0
_FLOOR_FRAMES = round(FLOOR_SECONDS / 0.02)
SILENT_DBFS = -120.0


def frame_dbfs(pcm: bytes) -> float:
    """RMS level of PCM16 audio in dBFS (:data:`SILENT_DBFS` for digital silence or nothing)."""
    samples = np.frombuffer(pcm, dtype="<i2")
    if samples.size == 0:
        return SILENT_DBFS
    power = float(np.dot(samples, samples.astype(np.float64))) / samples.size
    if power <= 0:
        return SILENT_DBFS
    return max(SILENT_DBFS, 10 * math.log10(power / 32768.0**2))


@dataclass(frozen=True)
class SpeechEdge:
    """Speech started (``started``) or ended at ``at`` (seconds, the caller's clock)."""

    started: bool
    at: float


class SpeechEnd:
    """Feed every frame with the time its last sample was captured; edges come back."""

    def __init__(self) -> None:
        self.floor: float | None = None
        self._recent: deque[float] = deque(maxlen=_FLOOR_FRAMES)
        self.speaking = False
        self.level = SILENT_DBFS
        """The last frame's RMS level (dBFS)."""
        self.peak = SILENT_DBFS
        """The last frame's peak level (dBFS), for a level meter."""
        self._voiced_run = 0
        self._quiet_run = 0
        self._last_voiced_at = 0.0

    def push(self, pcm: bytes, at: float) -> SpeechEdge | None:
        level = self.level = frame_dbfs(pcm)
        samples = np.frombuffer(pcm, dtype="<i2")
        top = int(np.max(np.abs(samples.astype(np.int32)))) if level > SILENT_DBFS else 0
        self.peak = max(SILENT_DBFS, 20 * math.log10(top / 32768.0)) if top else SILENT_DBFS
        if level <= SILENT_DBFS:
            voiced = False
        else:
            self._recent.append(level)
            self.floor = min(self._recent)
            voiced = level >= max(self.floor + MARGIN_DB, MIN_SPEECH_DBFS)
        if voiced:
            self._voiced_run += 1
            self._quiet_run = 0
            self._last_voiced_at = at
            if not self.speaking and self._voiced_run >= START_FRAMES:
                self.speaking = True
                return SpeechEdge(True, at)
            return None
        self._voiced_run = 0
        self._quiet_run += 1
        if self.speaking and self._quiet_run >= END_FRAMES:
            self.speaking = False
            return SpeechEdge(False, self._last_voiced_at)
        return None
