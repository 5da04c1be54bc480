"""Speech-to-text: whole-utterance recognisers (Whisper) and streaming ones (pocketsphinx).

Audio is float32 mono at the recogniser's ``sample_rate`` (16 kHz for both). All calls block:
the session runs them in worker threads.
"""

from __future__ import annotations

from typing import Protocol

from vatel.audio.pcm import Float32


class Recognizer(Protocol):
    """Decodes a whole utterance at once: the accurate final transcript."""

    name: str
    sample_rate: int

    def transcribe(self, audio: Float32) -> str:
        """The text of ``audio`` (empty when nothing was said)."""


class RecognizerStream(Protocol):
    """One utterance fed as it is spoken: interim text while the user talks."""

    def feed(self, audio: Float32) -> str:
        """Add audio; the partial hypothesis so far."""

    def finish(self) -> str:
        """End of the utterance; the final hypothesis."""


class StreamingRecognizer(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def sample_rate(self) -> int: ...

    def start(self) -> RecognizerStream: ...
