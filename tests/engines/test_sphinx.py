"""pocketsphinx 5 streaming: interim text while audio arrives, a final at the end, no crash on garbage."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from vatel.audio.pcm import resample
from vatel.server.engines.hibari_tts import HibariSynthesizer
from vatel.server.engines.sphinx import SphinxRecognizer

pytestmark = pytest.mark.models

Speak = Callable[..., np.ndarray]
"""The ``user_says`` fixture (tests/engines/conftest.py)."""

SENTENCE = "Could you please book a table by the window for my family tonight"
CHUNK = 320  # 20 ms at 16 kHz


def feed_in_chunks(sphinx: SphinxRecognizer, audio: np.ndarray) -> tuple[list[str], str]:
    stream = sphinx.start()
    interims = [stream.feed(audio[i : i + CHUNK]) for i in range(0, len(audio), CHUNK)]
    return interims, stream.finish()


def test_interims_while_speaking_then_a_final_close_to_them(
    sphinx: SphinxRecognizer, user_says: Speak
) -> None:
    # pocketsphinx cannot really read espeak-ng (≈70 % WER in models.md): this checks the streaming
    # mechanics on the caller's voice; accuracy is checked on a neural voice below.
    interims, final = feed_in_chunks(sphinx, user_says(SENTENCE))
    heard = [text for text in interims if text]
    assert heard, "no interim hypothesis"
    assert final
    last, final_words = heard[-1].split(), final.split()
    shared = len(set(last) & set(final_words))
    assert shared >= 0.5 * len(final_words), (heard[-1], final)


def test_final_is_close_to_what_a_clear_voice_said(
    sphinx: SphinxRecognizer, hibari: HibariSynthesizer, wer: Callable[[str, str], float]
) -> None:
    audio = resample(np.concatenate(list(hibari.synthesize(SENTENCE + "."))), 24_000, 16_000)
    _, final = feed_in_chunks(sphinx, audio)
    assert wer(SENTENCE, final) <= 0.35, final


def test_empty_utterance_and_repeated_finish(sphinx: SphinxRecognizer) -> None:
    stream = sphinx.start()
    assert stream.feed(np.zeros(0, dtype=np.float32)) == ""
    assert stream.finish() == ""
    assert stream.finish() == ""
    with pytest.raises(RuntimeError, match="finished"):
        stream.feed(np.zeros(CHUNK, dtype=np.float32))


def test_overlapping_streams_get_their_own_decoders(sphinx: SphinxRecognizer, user_says: Speak) -> None:
    audio = user_says("Hello, how are you?")
    first, second = sphinx.start(), sphinx.start()
    for i in range(0, len(audio), CHUNK):
        first.feed(audio[i : i + CHUNK])
        second.feed(np.zeros(CHUNK, dtype=np.float32))
    assert first.finish()
    assert second.finish() == ""


def test_a_dropped_stream_gives_its_decoder_back(sphinx: SphinxRecognizer) -> None:
    stream = sphinx.start()
    stream.feed(np.zeros(CHUNK, dtype=np.float32))
    idle = len(sphinx._idle)
    del stream
    assert len(sphinx._idle) == idle + 1


@pytest.mark.parametrize(
    "audio",
    [
        np.zeros(CHUNK, dtype=np.int16),
        np.zeros((CHUNK, 2), dtype=np.float32),
        np.full(CHUNK, np.inf, dtype=np.float32),
    ],
    ids=["int16", "stereo", "inf"],
)
def test_garbage_is_refused_and_the_stream_goes_on(sphinx: SphinxRecognizer, audio: np.ndarray) -> None:
    stream = sphinx.start()
    with pytest.raises(ValueError, match=r"samples|frame|mono"):
        stream.feed(audio)
    stream.feed(np.zeros(CHUNK, dtype=np.float32))
    assert stream.finish() == ""
