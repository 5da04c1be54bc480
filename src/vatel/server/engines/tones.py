"""The engine set with no models: for transport benchmarks and for developing clients offline.

``vatel serve --engines tones`` runs the real session path (decode, resample, VAD, the call core,
pacing, encode) with engines that cost next to nothing: a loudness VAD, a recogniser that hears
every utterance as "N seconds" (so the brain still answers, e.g. the scripted brain's
``default: I heard {said}.``), and a voice that is one quiet tone per word. Nothing is loaded from
disk, so it starts at once and measures the server itself rather than its models.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from vatel.audio.pcm import Float32
from vatel.server.engines.loading import Engines
from vatel.server.engines.samples import checked_samples
from vatel.server.engines.tts import Voice

__all__ = ["LoudnessVad", "LoudnessVadStream", "SecondsRecognizer", "ToneSynthesizer", "tone_engines"]

SAMPLE_RATE = 16_000
FRAME_SAMPLES = 512
SPEECH_RMS = 0.02
"""About -34 dBFS: a quiet voice is above it, a silent line or faint hiss below."""


class LoudnessVadStream:
    """Speech probability 1.0 for a frame louder than ``SPEECH_RMS``, else 0.0 (no state)."""

    frame_samples = FRAME_SAMPLES

    def probability(self, frame: Float32) -> float:
        samples = checked_samples(frame, what="VAD frame")
        if samples.size != FRAME_SAMPLES:
            raise ValueError(f"a VAD frame is {FRAME_SAMPLES} samples at 16 kHz, got {samples.size}")
        power = float(np.dot(samples, samples)) / FRAME_SAMPLES  # the mean square, without np.mean's overhead
        return 1.0 if power > SPEECH_RMS * SPEECH_RMS else 0.0

    def reset(self) -> None:
        pass


class LoudnessVad:
    sample_rate = SAMPLE_RATE
    name = "loudness"

    def stream(self) -> LoudnessVadStream:
        return LoudnessVadStream()


_NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


class SecondsRecognizer:
    """Hears any utterance as its length in words ("two seconds"); empty audio as nothing."""

    name = "seconds"
    sample_rate = SAMPLE_RATE

    def transcribe(self, audio: Float32) -> str:
        samples = checked_samples(audio)
        if samples.size == 0:
            return ""
        seconds = max(1, round(samples.size / SAMPLE_RATE))
        number = _NUMBERS[seconds] if seconds < len(_NUMBERS) else str(seconds)
        return f"{number} second{'s' if seconds > 1 else ''}"


class ToneSynthesizer:
    """One quiet 440 Hz tone of ``seconds_per_word`` per word, at the wire's rate (no resampling)."""

    name = "tones"
    sample_rate = 24_000
    voices: tuple[Voice, ...] = (Voice("tones/a", "Tone", "a quiet 440 Hz tone per word", ("en",)),)

    def __init__(self, seconds_per_word: float = 0.25, amplitude: float = 0.1) -> None:
        samples = np.arange(int(seconds_per_word * self.sample_rate))
        self._word = (amplitude * np.sin(2 * np.pi * 440 * samples / self.sample_rate)).astype(np.float32)

    def synthesize(self, text: str, *, voice: str | None = None, speed: float = 1.0) -> Iterator[Float32]:
        """One chunk per sentence (the session asks for one sentence at a time): one pool hop each."""
        yield np.tile(self._word, max(1, len(text.split())))


def tone_engines() -> Engines:
    """The whole set; nothing to load, so no progress to show and nothing that can be missing."""
    synthesizer = ToneSynthesizer()
    return Engines(
        vad=LoudnessVad(),
        final_stt=SecondsRecognizer(),
        interim_stt=None,
        tts=synthesizer,
        synthesizers=(synthesizer,),
    )
