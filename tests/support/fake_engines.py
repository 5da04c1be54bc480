"""Small fake engines for the session-shell tests: they implement the real interfaces.

The VAD calls loud frames speech; the recogniser answers from a script (one text per utterance);
the synthesiser makes a tone per word. The real engines are exercised in ``tests/engines`` and in
the end-to-end test with real models.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import numpy as np

from vatel.audio.pcm import Float32
from vatel.server.engines.loading import Engines
from vatel.server.engines.scripted_brain import ScriptedBrain
from vatel.server.engines.tts import Voice
from vatel.server.live.services import LiveServices


class LoudnessVadStream:
    frame_samples = 512

    def probability(self, frame: Float32) -> float:
        return 1.0 if float(np.sqrt(np.mean(frame**2))) > 0.02 else 0.0

    def reset(self) -> None:
        pass


class LoudnessVad:
    sample_rate = 16_000

    def stream(self) -> LoudnessVadStream:
        return LoudnessVadStream()


class ScriptedRecognizer:
    name = "scripted"
    sample_rate = 16_000

    def __init__(self, texts: list[str] | None = None) -> None:
        self.texts = deque(texts or [])
        self.heard_seconds: list[float] = []

    def transcribe(self, audio: Float32) -> str:
        self.heard_seconds.append(audio.size / self.sample_rate)
        return self.texts.popleft() if self.texts else ""


class ToneSynthesizer:
    name = "tone"
    sample_rate = 24_000
    voices: tuple[Voice, ...] = (Voice("tone/a", "Tone A", "a 440 Hz tone per word", ("en",)),)

    def __init__(self, seconds_per_word: float = 0.1) -> None:
        self.seconds_per_word = seconds_per_word
        self.spoken: list[str] = []

    def synthesize(self, text: str, *, voice: str | None = None, speed: float = 1.0) -> Iterator[Float32]:
        self.spoken.append(text)
        samples = int(max(1, len(text.split())) * self.seconds_per_word * self.sample_rate)
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / self.sample_rate)).astype(np.float32)
        half = samples // 2
        yield tone[:half]
        yield tone[half:]


def fake_services(texts: list[str] | None = None) -> tuple[LiveServices, ScriptedRecognizer, ToneSynthesizer]:
    recognizer, synthesizer = ScriptedRecognizer(texts), ToneSynthesizer()
    engines = Engines(
        vad=LoudnessVad(),
        final_stt=recognizer,
        interim_stt=None,
        tts=synthesizer,
        synthesizers=(synthesizer,),
    )
    return LiveServices(engines, {"vatel/scripted": ScriptedBrain()}), recognizer, synthesizer
