"""espeak-ng (the Debian package) as the light fallback voice: 13 MB, ≈10 ms to first audio.

It sounds robotic (Whisper tiny.en: 11 % WER on it) but needs no model and no Python package, so
it is the voice tests speak with and the announced fallback when hibari is not installed. One
``espeak-ng --stdout`` process per sentence: the first sentence plays while the next is made. The
text goes through stdin, never the command line, so no text can be read as an option.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from collections.abc import Generator, Sequence

import numpy as np

from vatel.audio.pcm import Float32, pcm16_to_float, resample
from vatel.server.engines.tts import Voice

__all__ = ["MAX_TEXT_CHARS", "OUTPUT_RATE", "EspeakSynthesizer", "installed_voices", "split_sentences"]

OUTPUT_RATE = 24_000
MAX_TEXT_CHARS = 20_000
_DEFAULT_WPM = 175
_WPM_RANGE = (80, 450)
_TIMEOUT = 30.0
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")


def split_sentences(text: str) -> list[str]:
    """Sentences (and lines) of ``text``, stripped, blanks dropped."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]


def installed_voices(executable: str = "espeak-ng", *, language: str = "en") -> tuple[Voice, ...]:
    """The ``language`` voices espeak-ng really has, without the mbrola ones (they need extra packages)."""
    listing = subprocess.run(
        [executable, f"--voices={language}"], capture_output=True, text=True, check=True, timeout=_TIMEOUT
    ).stdout
    voices: dict[str, Voice] = {}
    for line in listing.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 5 or fields[4].startswith("mb/") or not fields[1].startswith(language):
            continue
        code, name = fields[1], fields[3].replace("_", " ")
        voices.setdefault(
            code,
            Voice(
                id=f"espeak-{code}",
                name=f"espeak-ng {name}",
                description="espeak-ng (formant synthesis)",
                languages=(_bcp47(code),),
            ),
        )
    return tuple(voices.values())


def _bcp47(code: str) -> str:
    """espeak's ``en-gb-x-rp`` as a language tag: ``en-GB-x-rp`` (region upper-case)."""
    parts = code.split("-")
    return "-".join(
        part.upper() if index == 1 and len(part) == 2 else part for index, part in enumerate(parts)
    )


class EspeakSynthesizer:
    """A :class:`~vatel.server.engines.tts.Synthesizer` over the ``espeak-ng`` command, 24 kHz out."""

    name = "espeak-ng"
    sample_rate = OUTPUT_RATE

    def __init__(self, executable: str = "espeak-ng", *, default_voice: str = "espeak-en-us") -> None:
        found = shutil.which(executable)
        if found is None:
            raise FileNotFoundError(f"the {executable!r} command is not installed")
        self.executable = found
        self.voices: tuple[Voice, ...] = installed_voices(found)
        if not self.voices:
            raise RuntimeError("espeak-ng lists no English voice")
        ids = [voice.id for voice in self.voices]
        self.default_voice = default_voice if default_voice in ids else ids[0]
        # The default voice comes first: callers take ``voices[0]`` as the engine's default.
        self.voices = tuple(sorted(self.voices, key=lambda voice: voice.id != self.default_voice))

    def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> Generator[Float32, None, None]:
        """One chunk per sentence. An unknown ``voice`` falls back to the default; speed 1.0 = 175 wpm."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if len(text) > MAX_TEXT_CHARS:
            raise ValueError(f"text is {len(text)} characters; at most {MAX_TEXT_CHARS} per call")
        if not math.isfinite(speed) or speed <= 0:
            raise ValueError(f"speed must be a positive number, got {speed}")
        chosen = voice if voice in {v.id for v in self.voices} else self.default_voice
        wpm = int(min(max(_DEFAULT_WPM * speed, _WPM_RANGE[0]), _WPM_RANGE[1]))
        return self._chunks(split_sentences(text), chosen.removeprefix("espeak-"), wpm)

    def _chunks(self, sentences: Sequence[str], code: str, wpm: int) -> Generator[Float32, None, None]:
        for sentence in sentences:
            wav = subprocess.run(
                [self.executable, "-v", code, "-s", str(wpm), "--stdout", "--stdin"],
                input=sentence.encode(),
                capture_output=True,
                check=True,
                timeout=_TIMEOUT,
            ).stdout
            rate, samples = _read_wav(wav)
            if samples.size:
                yield resample(samples, rate, OUTPUT_RATE)


def _read_wav(data: bytes) -> tuple[int, Float32]:
    """Rate and samples of espeak-ng's mono PCM16 ``--stdout`` WAV (its sizes may be placeholders)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("espeak-ng did not write a WAV file")
    position, rate = 12, 0
    while position + 8 <= len(data):
        kind, size = (
            data[position : position + 4],
            int.from_bytes(data[position + 4 : position + 8], "little"),
        )
        body = position + 8
        if kind == b"fmt ":
            rate = int.from_bytes(data[body + 4 : body + 8], "little")
        elif kind == b"data":
            pcm = data[body : min(len(data), body + size)]
            return rate, pcm16_to_float(pcm[: len(pcm) // 2 * 2])
        position = body + size + (size & 1)
    return rate, np.zeros(0, dtype=np.float32)
