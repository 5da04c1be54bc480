"""When the user's turn starts and ends, from VAD decisions and the agent's ``vad_settings``.

Speech must last ``start_secs`` before a turn starts (a click or a cough does not), and silence
must last ``stop_secs`` before it ends (a breath does not). Short gaps inside the start window
(``GAP_SECS``) are forgiven. Pure: decisions come with their own times.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

GAP_SECS = 0.1


class _Phase(Enum):
    QUIET = "quiet"
    MAYBE_SPEECH = "maybe_speech"
    SPEECH = "speech"
    MAYBE_QUIET = "maybe_quiet"


@dataclass(frozen=True)
class TurnStarted:
    at: float
    """When the speech began (the first speech frame's start)."""


@dataclass(frozen=True)
class SilenceBegan:
    """Silence began inside a turn (it may still go on): recognition can start early on what was said."""

    at: float


@dataclass(frozen=True)
class TurnEnded:
    at: float
    """When the silence began."""


class Endpointer:
    def __init__(self, start_secs: float, stop_secs: float) -> None:
        self.start_secs = max(0.0, start_secs)
        self.stop_secs = max(0.0, stop_secs)
        self._phase = _Phase.QUIET
        self._began = 0.0
        self._run = 0.0
        self._gap = 0.0
        self._silence_began = 0.0

    @property
    def in_turn(self) -> bool:
        return self._phase in (_Phase.SPEECH, _Phase.MAYBE_QUIET)

    def reset(self) -> None:
        self._phase = _Phase.QUIET

    def feed(
        self, at: float, speech: bool, duration: float, *, start_secs: float | None = None
    ) -> TurnStarted | SilenceBegan | TurnEnded | None:
        """One decision for the frame ``[at - duration, at]``; a turn boundary when one is crossed.

        ``start_secs`` replaces the configured one for this frame (the call core asks for less
        speech when the user talks over the agent)."""
        start = at - duration
        if self._phase is _Phase.QUIET:
            if not speech:
                return None
            self._phase, self._began, self._run, self._gap = _Phase.MAYBE_SPEECH, start, 0.0, 0.0
        if self._phase is _Phase.MAYBE_SPEECH:
            if speech:
                self._run += duration
                self._gap = 0.0
                if self._run >= (self.start_secs if start_secs is None else max(0.0, start_secs)):
                    self._phase = _Phase.SPEECH
                    return TurnStarted(self._began)
            else:
                self._gap += duration
                if self._gap > GAP_SECS:
                    self._phase = _Phase.QUIET
            return None
        if self._phase is _Phase.SPEECH:
            if not speech:
                self._phase, self._silence_began, self._gap = _Phase.MAYBE_QUIET, start, duration
                return self._check_end() or SilenceBegan(start)
            return None
        # MAYBE_QUIET
        if speech:
            self._phase = _Phase.SPEECH
            return None
        self._gap += duration
        return self._check_end()

    def _check_end(self) -> TurnEnded | None:
        if self._gap >= self.stop_secs:
            self._phase = _Phase.QUIET
            return TurnEnded(self._silence_began)
        return None
