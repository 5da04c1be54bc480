"""espeak-ng as the light fallback voice: installed voices, 24 kHz chunks per sentence, odd text."""

from __future__ import annotations

import numpy as np
import pytest

from vatel.server.engines.espeak import (
    MAX_TEXT_CHARS,
    EspeakSynthesizer,
    _read_wav,
    installed_voices,
    split_sentences,
)


@pytest.mark.unit
def test_sentences_are_split_at_end_punctuation_and_lines() -> None:
    assert split_sentences("Hi there. How are you?\nFine!  ") == ["Hi there.", "How are you?", "Fine!"]
    assert split_sentences("  ") == []


@pytest.mark.unit
@pytest.mark.parametrize("data", [b"", b"not a wav file at all", b"RIFF\x00\x00\x00\x00WAVE"])
def test_a_broken_wav_is_an_error_or_empty(data: bytes) -> None:
    try:
        _rate, samples = _read_wav(data)
    except ValueError:
        return
    assert samples.size == 0


@pytest.mark.models
def test_installed_english_voices_without_mbrola(espeak: EspeakSynthesizer) -> None:
    ids = [voice.id for voice in espeak.voices]
    assert ids[0] == "espeak-en-us"  # the default first
    assert "espeak-en-gb" in ids
    assert not any("mbrola" in voice.name for voice in espeak.voices)
    assert espeak.voices == tuple(sorted(installed_voices(), key=lambda v: v.id != "espeak-en-us"))
    assert {voice.languages[0] for voice in espeak.voices} >= {"en-US", "en-GB"}


@pytest.mark.models
def test_one_24khz_chunk_per_sentence(espeak: EspeakSynthesizer) -> None:
    chunks = list(espeak.synthesize("Hello there. How can I help you today?", voice="espeak-en-gb"))
    assert len(chunks) == 2
    for chunk in chunks:
        assert chunk.dtype == np.float32
        assert 0.3 * 24_000 < chunk.size < 5 * 24_000
        assert 0.05 < float(np.abs(chunk).max()) <= 1.0


@pytest.mark.models
def test_voice_and_speed_change_the_audio(espeak: EspeakSynthesizer) -> None:
    default = np.concatenate(list(espeak.synthesize("Good morning.")))
    unknown = np.concatenate(list(espeak.synthesize("Good morning.", voice="no-such-voice")))
    fast = np.concatenate(list(espeak.synthesize("Good morning.", speed=2.0)))
    assert np.array_equal(default, unknown)  # an unknown voice falls back to the default
    assert fast.size < 0.7 * default.size


@pytest.mark.models
def test_odd_text_is_spoken_or_refused(espeak: EspeakSynthesizer) -> None:
    assert list(espeak.synthesize("")) == []
    assert list(espeak.synthesize("--help -v xx")), "text must never be read as options"
    list(espeak.synthesize("$%^&* 🙂 ½ \x00 ….."))
    with pytest.raises(ValueError, match="characters"):
        espeak.synthesize("a" * (MAX_TEXT_CHARS + 1))
    with pytest.raises(ValueError, match="speed"):
        espeak.synthesize("Hello.", speed=0)
