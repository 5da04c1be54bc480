"""When the user's turn starts and ends, from VAD decisions and the agent's ``vad_settings``.

Speech must last ``start_secs`` before a turn starts (a click or a cough does not), and silence
must last ``stop_secs`` before it ends (a breath does not). Short gaps inside the start window
(``GAP_SECS``) are forgiven. Pure: decisions come with their own times.

With an end-of-turn model (``max_stop_secs`` set), ``check_secs`` of silence (less than
``stop_secs``, so the answer is in before it is needed) raises :class:`PauseReached`: the caller
asks the model whether the user has finished and answers with :meth:`Endpointer.require`, which
sets how much silence this pause needs (``stop_secs`` when the model is sure, more when it is
not). Without an answer the turn ends at ``max_stop_secs``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Literal

GAP_SECS = 0.1
LATE_AUDIO_SECS = 0.3
"""A pause also ends by the clock, this long after its silence would have ended it by the audio:
a client that stops sending (push-to-talk, a file that ran out) must not hold a turn open for ever,
and audio that is merely late (network jitter) gets this long to arrive first."""


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
class PauseReached:
    """Silence has lasted ``check_secs`` (end-of-turn model in use): is the user done, or pausing?"""

    at: float
    """When the silence began (it names the pause in :meth:`Endpointer.require`)."""


@dataclass(frozen=True)
class TurnEnded:
    at: float
    """When the silence began."""


Boundary = TurnStarted | SilenceBegan | PauseReached | TurnEnded


class Endpointer:
    def __init__(
        self,
        start_secs: float,
        stop_secs: float,
        max_stop_secs: float | None = None,
        check_secs: float | None = None,
    ) -> None:
        self.start_secs = max(0.0, start_secs)
        self.stop_secs = max(0.0, stop_secs)
        self.max_stop_secs = None if max_stop_secs is None else max(self.stop_secs, max_stop_secs)
        self.check_secs = self.stop_secs if check_secs is None else min(max(0.0, check_secs), self.stop_secs)
        self._needed = self.stop_secs
        """The silence the current pause needs to end the turn."""
        self._paused = False
        """:class:`PauseReached` has been raised for the current pause."""
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
    ) -> Boundary | None:
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
                self._needed = self.stop_secs if self.max_stop_secs is None else self.max_stop_secs
                self._paused = False
                return self._check_end() or SilenceBegan(start)
            return None
        # MAYBE_QUIET
        if speech:
            self._phase = _Phase.SPEECH
            return None
        self._gap += duration
        return self._check_end()

    @property
    def deadline(self) -> float | None:
        """When the current pause ends the turn by the clock (``None``: no pause under way)."""
        if self._phase is not _Phase.MAYBE_QUIET:
            return None
        return self._silence_began + self._needed + LATE_AUDIO_SECS

    def due(self, now: float) -> TurnEnded | None:
        """The turn's end when the audio stopped coming and :attr:`deadline` has passed."""
        deadline = self.deadline
        if deadline is None or now < deadline:
            return None
        self._phase = _Phase.QUIET
        return TurnEnded(self._silence_began)

    def require(self, pause: float, silence: float) -> TurnEnded | None:
        """The model's answer for the pause that began at ``pause``: it needs ``silence`` seconds.

        Ends the turn now when that much silence has already passed; ignored when the user has
        spoken again since (the answer is about a pause that is over).
        """
        if self._phase is not _Phase.MAYBE_QUIET or pause != self._silence_began:
            return None
        self._needed = max(self.stop_secs, silence)
        if self.max_stop_secs is not None:
            self._needed = min(self._needed, self.max_stop_secs)
        boundary = self._check_end()
        return boundary if isinstance(boundary, TurnEnded) else None

    def _check_end(self) -> PauseReached | TurnEnded | None:
        if self._gap >= self._needed:
            self._phase = _Phase.QUIET
            return TurnEnded(self._silence_began)
        if self.max_stop_secs is not None and not self._paused and self._gap >= self.check_secs:
            self._paused = True
            return PauseReached(self._silence_began)
        return None


TRAILING_WORDS = frozenset(
    "and or but because if than the a an my your our their to of with um uh er erm".split()  # noqa: SIM905
)
"""Words no finished sentence ends on, even when whisper has put a full stop after them."""
OPEN_WORDS = TRAILING_WORDS | frozenset(
    """so then while although though some any every for from at by into onto as is are was were am be
    been have has had do does did can could will would should may might must i we he she they just
    very hmm""".split()  # noqa: SIM905
)
"""Words a sentence seldom ends on: without a full stop after them, the speaker is mid-sentence."""

TextVerdict = Literal["complete", "incomplete", "unsure"]


def text_verdict(transcript: str) -> TextVerdict:
    """What the words so far say about the end of the turn (whisper punctuates what it hears).

    ``incomplete``: the text trails off (a comma, a dash, an ellipsis, or a word such as "and",
    "the", "um"; without final punctuation also "for", "is", "can" ...); ``complete``: it ends a
    sentence (``.``, ``?``, ``!``); ``unsure`` otherwise (no text, or no punctuation).
    """
    text = transcript.strip()
    if not text:
        return "unsure"
    words = re.findall(r"[a-z']+", text.lower())
    last = words[-1] if words else ""
    if text.endswith((",", "-", "…", "...", ";", ":")) or last in TRAILING_WORDS:
        return "incomplete"
    if text.endswith((".", "?", "!")):
        return "complete"
    return "incomplete" if last in OPEN_WORDS else "unsure"
