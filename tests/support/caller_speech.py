"""The caller's voice in end-to-end tests: espeak-ng (en-gb), a different voice from the agent's.

Returns PCM16 at the wire's 24 kHz, with the exact number of speech samples known, so a test
knows where the user's speech truly ends.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave

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
