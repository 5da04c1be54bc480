"""pocketsphinx 5 with the en-us model inside its wheel: the light streaming recogniser.

Its interim hypotheses let the session show what the user is saying while they speak, and its
8-16 ms tail (in the fast mode used here, ``fwdflat`` and ``bestpath`` off, about +3 WER points)
makes it the cheap engine for barge-in and smoke tests. It is far less accurate than Whisper
(8 % WER on clean neural voices, unusable on espeak-ng or noisy telephone audio), so Whisper
stays the default for finals.

A pocketsphinx ``Decoder`` holds one utterance at a time, so concurrent streams each borrow a
decoder from a small pool; the first is built at load, more only when calls overlap.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from vatel.audio.pcm import Float32, float_to_pcm16
from vatel.server.engines.samples import checked_samples

__all__ = ["SAMPLE_RATE", "SphinxRecognizer", "SphinxStream"]

SAMPLE_RATE = 16_000
_FAST = {"fwdflat": False, "bestpath": False}


PIECE_BYTES = 320
"""10 ms of PCM16 at 16 kHz (one recogniser frame): the most audio decoded while holding the GIL."""


class SphinxRecognizer:
    """A :class:`~vatel.server.engines.stt.StreamingRecognizer` (and a whole-utterance ``Recognizer``)."""

    name = "pocketsphinx-en-us"
    sample_rate = SAMPLE_RATE

    def __init__(self, *, fast: bool = True) -> None:
        self.fast = fast
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._idle.append(self._new_decoder())

    def start(self) -> SphinxStream:
        """A new utterance on a free decoder (building one when every decoder is busy)."""
        with self._lock:
            decoder = self._idle.pop() if self._idle else None
        return SphinxStream(self, decoder if decoder is not None else self._new_decoder())

    def transcribe(self, audio: Float32) -> str:
        stream = self.start()
        stream.feed(audio)
        return stream.finish()

    # --- the decoder pool ----------------------------------------------------------------------

    def _new_decoder(self) -> Any:
        from pocketsphinx import Decoder

        options: dict[str, Any] = {"samprate": SAMPLE_RATE, "loglevel": "FATAL"}
        if self.fast:
            options.update(_FAST)
        return Decoder(**options)

    def _give_back(self, decoder: Any) -> None:
        with self._lock:
            self._idle.append(decoder)


class SphinxStream:
    """One utterance (a :class:`~vatel.server.engines.stt.RecognizerStream`).

    ``finish`` returns the decoder to the pool; a stream dropped without ``finish`` (the call
    ended mid-utterance) returns it when garbage-collected.
    """

    def __init__(self, owner: SphinxRecognizer, decoder: Any) -> None:
        self._owner = owner
        self._decoder = decoder
        self._finished = False
        decoder.start_utt()
        self._release = weakref.finalize(self, _end_and_return, owner, decoder)

    def feed(self, audio: Float32) -> str:
        """Decode ``audio`` (float32, 16 kHz); the hypothesis so far (``""`` before any word)."""
        if self._finished:
            raise RuntimeError("this utterance is finished; start a new stream")
        pcm = float_to_pcm16(checked_samples(audio))
        # pocketsphinx holds the GIL while it decodes: fed in 10 ms pieces, it lets the event loop
        # (and every other call on it) run between pieces instead of stalling it for the whole
        # block (measured: 1 ms timers late by 145 ms p50 with 0.25 s blocks; benchmarks/density.py).
        for start in range(0, len(pcm), PIECE_BYTES):
            self._decoder.process_raw(pcm[start : start + PIECE_BYTES], False, False)
        return _text(self._decoder)

    def finish(self) -> str:
        """End of the utterance: the final hypothesis. Later calls return ``""``."""
        if self._finished:
            return ""
        self._finished = True
        self._decoder.end_utt()
        text = _text(self._decoder)
        self._release.detach()
        self._owner._give_back(self._decoder)
        return text


def _text(decoder: Any) -> str:
    hypothesis = decoder.hyp()
    return str(hypothesis.hypstr).strip() if hypothesis is not None else ""


def _end_and_return(owner: SphinxRecognizer, decoder: Any) -> None:
    try:
        decoder.end_utt()
    finally:
        owner._give_back(decoder)
