"""Streamed text to whole sentences, so speech synthesis can start on the first one.

A model streams a few characters at a time; the voice needs sentences. ``SentenceStream`` keeps
what has arrived and hands back each sentence as soon as it surely ended: at once after ``!``,
``?`` or a full stop that is no abbreviation and follows no digit, else when the next sentence
has begun ("Dr." and "3." may go on), and the rest when the stream ends. Sentences
are cut the way the scripted brain cuts its replies (``split_sentences``).
"""

from __future__ import annotations

import re

from vatel.server.engines.scripted_brain import split_sentences

_MARKUP = re.compile(r"[*`]+|^\s*#+\s*|^\s*[-•]\s+", re.MULTILINE)
_SPACES = re.compile(r"\s+")


def speakable(text: str) -> str:
    """Text as it should be spoken: markdown emphasis, headings and bullets dropped."""
    return _SPACES.sub(" ", _MARKUP.sub("", text)).strip()


def _ends_sentence(text: str) -> bool:
    """Whether ``text`` surely ends a sentence already, so speech need not wait for the next token:
    it ends in ``!``, ``?`` or a full stop that ``split_sentences`` would cut after (not an
    abbreviation such as "Dr.") and that follows no digit (``3.`` may go on as ``3.5``)."""
    tail = text.rstrip()
    if not tail or tail[-1] not in _ENDS or (tail[-1] == "." and tail[-2:-1].isdigit()):
        return False
    return split_sentences(tail + " Next")[-1] == "Next"


_ENDS = frozenset(".!?…\"'\u201d\u2019)]")


class SentenceStream:
    def __init__(self) -> None:
        self._pending = ""

    def feed(self, text: str) -> list[str]:
        """The sentences that ``text`` completed (often none)."""
        self._pending += text
        if _ends_sentence(self._pending):
            return self.flush()
        pieces = split_sentences(self._pending)
        if len(pieces) < 2:
            return []
        tail = self._pending.rfind(pieces[-1])
        if tail < 0:  # the last piece was rejoined (an abbreviation across a line break): wait
            return []
        self._pending = self._pending[tail:]
        return [said for said in (speakable(piece) for piece in pieces[:-1]) if said]

    def flush(self) -> list[str]:
        """The rest, at the end of the stream."""
        pending, self._pending = self._pending, ""
        return [said for said in (speakable(piece) for piece in split_sentences(pending)) if said]


class ThinkingFilter:
    """Drops ``<think>...</think>``: reasoning models (Qwen3, DeepSeek-R1) may write their
    reasoning inline, and it must not be read to the caller. Tags split across stream pieces are
    recognised (a possible partial tag is held back until the next piece)."""

    OPEN = "<think>"
    CLOSE = "</think>"

    def __init__(self) -> None:
        self._held = ""
        self._thinking = False

    def feed(self, text: str) -> str:
        """The part of ``text`` to speak."""
        text, self._held = self._held + text, ""
        spoken: list[str] = []
        while text:
            tag = self.CLOSE if self._thinking else self.OPEN
            at = text.find(tag)
            if at >= 0:
                if not self._thinking:
                    spoken.append(text[:at])
                text, self._thinking = text[at + len(tag) :], not self._thinking
                continue
            keep = next((k for k in range(len(tag) - 1, 0, -1) if text.endswith(tag[:k])), 0)
            if not self._thinking:
                spoken.append(text[: len(text) - keep])
            self._held = text[len(text) - keep :]
            break
        return "".join(spoken)

    def flush(self) -> str:
        """What was held back, at the end of the stream (nothing if it ended mid-thought)."""
        held, self._held = ("" if self._thinking else self._held), ""
        return held
