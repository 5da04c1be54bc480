"""Text-to-speech: sentence-streamed synthesis, so the first audio leaves before the answer ends.

Voices are what the server really has installed; ``/v1/voices`` lists exactly these.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from vatel.audio.pcm import Float32


@dataclass(frozen=True)
class Voice:
    id: str
    name: str
    description: str
    languages: tuple[str, ...]


class Synthesizer(Protocol):
    name: str
    sample_rate: int
    voices: tuple[Voice, ...]

    def synthesize(self, text: str, *, voice: str | None = None, speed: float = 1.0) -> Iterator[Float32]:
        """Audio chunks (float32 mono at ``sample_rate``), one or more per sentence, in order.

        Blocking generator: the session pulls it from a worker thread and stops pulling when the
        turn is interrupted. An unknown ``voice`` falls back to the default voice.
        """
