"""What of an interrupted agent answer was heard: its text cut where the playout stopped.

There is no word timing on the wire, so the cut is proportional: the share of the turn's audio
that was heard is the share of its text, moved back to the start of the word it falls in (a word
half heard counts as not heard).
"""

from __future__ import annotations

__all__ = ["CHARS_PER_SECOND", "split_heard"]

CHARS_PER_SECOND = 14.0
"""Speech runs at about this many characters a second: the length of an answer whose audio has not
all arrived yet is estimated from its text."""


def split_heard(text: str, heard_seconds: float, audio_seconds: float, *, complete: bool) -> tuple[str, str]:
    """``(heard, not_heard)`` of ``text`` after ``heard_seconds`` of ``audio_seconds`` received
    (``complete``: the turn's last chunk arrived, so that is all of its audio)."""
    total = audio_seconds if complete else max(audio_seconds, len(text) / CHARS_PER_SECOND)
    if total <= 0 or heard_seconds >= total:
        return text, ""
    cut = round(len(text) * max(0.0, heard_seconds) / total)
    while 0 < cut < len(text) and not text[cut - 1].isspace() and not text[cut].isspace():
        cut -= 1  # back to the start of the word the cut fell in
    heard, rest = text[:cut].rstrip(), text[cut:].lstrip()
    return heard, rest
