"""Real engines, loaded once per test session (through ``load_engines``, so its cache is shared),
and the speech helpers the engine tests share: espeak-ng as the "user" and a word error rate."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest

from vatel.audio.pcm import Float32, resample
from vatel.server.engines.espeak import EspeakSynthesizer
from vatel.server.engines.hibari_tts import HibariSynthesizer
from vatel.server.engines.loading import EngineConfig, Engines, LoadProgress, load_engines
from vatel.server.engines.silero import SileroVad
from vatel.server.engines.sphinx import SphinxRecognizer
from vatel.server.engines.whisper import WhisperRecognizer

USER_VOICE = "espeak-en-gb"
"""The caller's voice in these tests: not the agent's (hibari heart, or espeak's default en-us)."""


@pytest.fixture(scope="session")
def load_steps() -> list[LoadProgress]:
    return []


@pytest.fixture(scope="session")
def engines(load_steps: list[LoadProgress]) -> Engines:
    return load_engines(EngineConfig(), progress=load_steps.append)


@pytest.fixture(scope="session")
def vad(engines: Engines) -> SileroVad:
    assert isinstance(engines.vad, SileroVad)
    return engines.vad


@pytest.fixture(scope="session")
def whisper(engines: Engines) -> WhisperRecognizer:
    assert isinstance(engines.final_stt, WhisperRecognizer)
    return engines.final_stt


@pytest.fixture(scope="session")
def sphinx() -> SphinxRecognizer:
    """pocketsphinx in this process (the server runs it in a child: test_recognizer_process.py)."""
    return SphinxRecognizer()


@pytest.fixture(scope="session")
def hibari(engines: Engines) -> HibariSynthesizer:
    assert isinstance(engines.tts, HibariSynthesizer)
    return engines.tts


@pytest.fixture(scope="session")
def espeak(engines: Engines) -> EspeakSynthesizer:
    found = engines.synthesizer_for(USER_VOICE)
    assert isinstance(found, EspeakSynthesizer)
    return found


Speak = Callable[..., Float32]


@pytest.fixture(scope="session")
def user_says(espeak: EspeakSynthesizer) -> Speak:
    """``user_says(text, rate=16000, pad=0.3)``: the caller's voice, padded with silence both sides."""

    def speak(text: str, rate: int = 16_000, pad: float = 0.3) -> Float32:
        audio = resample(np.concatenate(list(espeak.synthesize(text, voice=USER_VOICE))), 24_000, rate)
        silence = np.zeros(int(pad * rate), dtype=np.float32)
        return np.concatenate([silence, audio, silence])

    return speak


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word edit distance over the reference's length, after lower-casing and dropping punctuation."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        previous, row[0] = row[:], i
        for j, h in enumerate(hyp, start=1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (r != h))
    return row[-1] / max(len(ref), 1)


@pytest.fixture(scope="session")
def wer() -> Callable[[str, str], float]:
    return word_error_rate
