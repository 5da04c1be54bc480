"""hibari-tts with its bundled voice "heart": the default agent voice (24 kHz, RTF ≈0.01).

Only "heart" ships in the wheel; naming any other voice makes hibari download it from a hub, so
the voice is never named: the model file is located with ``download_missing=False`` and passed by
path. Synthesis streams by sentence (each sentence is phonemised only when its turn comes, so the
first audio does not wait for the whole answer), and over-long sentences are cut at word
boundaries so no single model call grows without bound.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Generator, Iterator
from typing import Any

import numpy as np

from vatel.audio.pcm import Float32
from vatel.server.engines.tts import Voice

__all__ = ["HEART", "MAX_TEXT_CHARS", "HibariSynthesizer"]

HEART = Voice(
    id="hibari-heart",
    name="Heart",
    description="hibari (Kokoro-82M distilled), American English, female; bundled with hibari-tts",
    languages=("en-US",),
)
MAX_TEXT_CHARS = 20_000
"""Longer text is refused: nothing the agent says in one turn comes near it."""
_MAX_PHONEMES = 400
"""hibari's own split point for long sentences; pieces longer than this are cut at spaces."""
_MAX_TEXT_PIECE = 300
"""Characters of text phonemised at once (a long sentence is about 80 to 150)."""
_SPEED_RANGE = (0.5, 2.0)


class HibariSynthesizer:
    """A :class:`~vatel.server.engines.tts.Synthesizer` with one voice; one per process.

    The ONNX session is thread-safe; the grapheme-to-phoneme step is guarded by a lock (it is a
    few milliseconds per sentence and not documented as thread-safe).
    """

    name = "hibari"
    voices: tuple[Voice, ...] = (HEART,)

    def __init__(self, *, threads: int = 1) -> None:
        from hibari import Hibari
        from hibari.voices import DEFAULT, VOICES, voice_path

        if not VOICES.get(DEFAULT, {}).get("bundled"):
            raise RuntimeError(f"hibari's default voice {DEFAULT!r} is not bundled in this version")
        model = voice_path(DEFAULT, download_missing=False)
        self._tts: Any = Hibari(model=model, threads=threads)
        self.sample_rate: int = int(self._tts.sample_rate)
        self._g2p_lock = threading.Lock()
        with self._g2p_lock:
            _ = self._tts.g2p  # load the lexicons now, not in the first call's time to first audio

    def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> Generator[Float32, None, None]:
        """One float32 chunk per sentence (or piece of a long one); nothing for blank text.

        ``voice`` is ignored: there is only one. ``speed`` is clamped to 0.5 to 2.0.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if len(text) > MAX_TEXT_CHARS:
            raise ValueError(f"text is {len(text)} characters; at most {MAX_TEXT_CHARS} per call")
        if not math.isfinite(speed):
            raise ValueError(f"speed must be a finite number, got {speed}")
        return self._chunks(text, min(max(speed, _SPEED_RANGE[0]), _SPEED_RANGE[1]))

    def _chunks(self, text: str, speed: float) -> Generator[Float32, None, None]:
        rng = np.random.default_rng()
        for sentence in self._tts.split_sentences(text):
            for part in _text_pieces(sentence):
                yield from self._speak(part, speed, rng)

    def _speak(self, sentence: str, speed: float, rng: np.random.Generator) -> Iterator[Float32]:
        with self._g2p_lock:
            phonemes = self._tts.phonemize(sentence)
        for chunk in phonemes:
            for piece in _pieces(chunk):
                audio = self._tts.from_ids(self._tts.ids(piece), speed, rng)
                if audio.size:
                    yield np.asarray(audio, dtype=np.float32)


def _text_pieces(sentence: str) -> Iterator[str]:
    """A sentence cut at spaces into pieces of about ``_MAX_TEXT_PIECE`` characters at most.

    Without it a run-on sentence of thousands of words would be phonemised whole before its
    first audio.
    """
    while len(sentence) > _MAX_TEXT_PIECE:
        cut = sentence.rfind(", ", 0, _MAX_TEXT_PIECE) + 1  # after a comma in the second half, if any
        if cut <= _MAX_TEXT_PIECE // 2:
            cut = sentence.rfind(" ", 0, _MAX_TEXT_PIECE)
        if cut <= 0:
            cut = _MAX_TEXT_PIECE
        yield sentence[:cut].strip()
        sentence = sentence[cut:].strip()
    if sentence:
        yield sentence


def _pieces(phonemes: str) -> Iterator[str]:
    """``phonemes`` cut at spaces into pieces of at most ``_MAX_PHONEMES`` characters."""
    if len(phonemes) <= _MAX_PHONEMES:
        yield phonemes
        return
    piece = ""
    for word in phonemes.split():
        for part in (word[i : i + _MAX_PHONEMES] for i in range(0, len(word), _MAX_PHONEMES)):
            if piece and len(piece) + 1 + len(part) > _MAX_PHONEMES:
                yield piece
                piece = part
            else:
                piece = f"{piece} {part}" if piece else part
    if piece:
        yield piece
