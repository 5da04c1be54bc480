"""hibari (bundled voice only): intelligible, streamed by sentence, and safe on odd text."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest

from vatel.audio.pcm import resample
from vatel.server.engines.hibari_tts import MAX_TEXT_CHARS, HibariSynthesizer
from vatel.server.engines.whisper import WhisperRecognizer

pytestmark = pytest.mark.models

SENTENCE = "Your table by the window is booked for tonight, see you then."


def test_only_the_bundled_voice_is_offered(hibari: HibariSynthesizer) -> None:
    assert [voice.id for voice in hibari.voices] == ["hibari-heart"]
    assert hibari.sample_rate == 24_000


def test_whisper_understands_what_it_says(
    hibari: HibariSynthesizer, whisper: WhisperRecognizer, wer: Callable[[str, str], float]
) -> None:
    chunks = list(hibari.synthesize(SENTENCE))
    assert all(chunk.dtype == np.float32 and np.isfinite(chunk).all() for chunk in chunks)
    assert max(float(np.abs(chunk).max()) for chunk in chunks) <= 1.0
    text = whisper.transcribe(resample(np.concatenate(chunks), 24_000, 16_000))
    assert wer(SENTENCE, text) <= 0.15, text


def test_first_audio_arrives_before_the_whole_text_is_synthesised(hibari: HibariSynthesizer) -> None:
    text = (
        "Thank you for calling the restaurant. We are open every day from noon until eleven at night, "
        "and the kitchen closes one hour before that. Would you like me to book a table for you?"
    )
    started = time.perf_counter()
    chunks = hibari.synthesize(text)
    first = next(chunks)
    first_at = time.perf_counter() - started
    rest = list(chunks)
    total = time.perf_counter() - started
    assert first.size > 0
    assert len(rest) >= 2  # one chunk per sentence
    assert first_at < 0.6 * total, (first_at, total)


def test_two_sentences_give_more_than_one_chunk(hibari: HibariSynthesizer) -> None:
    assert len(list(hibari.synthesize("Hello there. How can I help?"))) >= 2


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_blank_text_gives_no_audio(hibari: HibariSynthesizer, text: str) -> None:
    assert list(hibari.synthesize(text)) == []


def test_a_run_on_sentence_streams_in_bounded_pieces(hibari: HibariSynthesizer) -> None:
    chunks = hibari.synthesize("and then " * 400)  # 3,600 characters, no punctuation at all
    first, second = next(chunks), next(chunks)
    chunks.close()  # an interrupted turn stops pulling
    assert 0 < first.size < 30 * 24_000
    assert 0 < second.size < 30 * 24_000


def test_odd_input_gives_a_clear_error_or_audio(hibari: HibariSynthesizer) -> None:
    with pytest.raises(ValueError, match="characters"):
        hibari.synthesize("a" * (MAX_TEXT_CHARS + 1))
    with pytest.raises(ValueError, match="speed"):
        hibari.synthesize("Hello.", speed=float("nan"))
    with pytest.raises(TypeError):
        hibari.synthesize(b"Hello.")  # type: ignore[arg-type]
    # unknown voice: the only voice; out-of-range speed: clamped; symbols and emoji: no crash
    assert list(hibari.synthesize("Hello.", voice="emma", speed=9.0))
    list(hibari.synthesize("$%^&* 🙂 ½ \x00 ….."))
