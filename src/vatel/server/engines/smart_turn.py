"""Smart Turn v3.2: an audio end-of-turn model (8 s of 16 kHz speech -> probability of "complete").

The 8.3 MB ONNX file ships in the ``pipecat-ai`` wheel; only the file is used (the package is
located, never imported, and pyproject declares its dependencies empty). The model takes Whisper's
80-bin log-mel features of the last 8 s, left-padded with silence; they are computed here with
numpy (faster-whisper's mel filter bank, which is Whisper's), so no ``transformers`` is needed.
Measured in ``../shared/models.md``: about 46 ms per call on one thread of this machine.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vatel.audio.pcm import Float32
from vatel.server.engines.samples import checked_samples

__all__ = ["SAMPLE_RATE", "WINDOW_SAMPLES", "SmartTurn", "bundled_model_path", "log_mel_features"]

SAMPLE_RATE = 16_000
WINDOW_SAMPLES = 8 * SAMPLE_RATE
"""The model sees the last 8 s of the utterance."""
_N_FFT = 400
_HOP = 160
_NORM_EPS = 1e-7
_MODEL_FILE = ("audio", "turn", "smart_turn", "data", "smart-turn-v3.2-cpu.onnx")


def bundled_model_path() -> Path:
    """The ``.onnx`` inside the installed ``pipecat-ai`` wheel, found without importing pipecat."""
    spec = importlib.util.find_spec("pipecat")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("pipecat", name="pipecat")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*_MODEL_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"the pipecat-ai package has no {path.name} at {path}")
    return path


class _Features:
    """Whisper's log-mel front end for an 8 s window, with its constants computed once."""

    def __init__(self) -> None:
        from faster_whisper.feature_extractor import FeatureExtractor

        self.filters: npt.NDArray[np.float64] = np.asarray(
            FeatureExtractor(feature_size=80, n_fft=_N_FFT, hop_length=_HOP).mel_filters, dtype=np.float64
        )
        # Periodic Hann window, as torch.hann_window and Whisper use.
        self.window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(_N_FFT) / _N_FFT)

    def __call__(self, window: Float32) -> Float32:
        x = window.astype(np.float32)
        x = (x - x.mean()) / np.sqrt(x.var() + _NORM_EPS)  # zero mean, unit variance over the window
        padded = np.pad(x.astype(np.float64), _N_FFT // 2, mode="reflect")  # centred frames
        frames = np.lib.stride_tricks.sliding_window_view(padded, _N_FFT)[::_HOP]
        power = np.abs(np.fft.rfft(frames * self.window, axis=-1)) ** 2
        mel = np.log10(np.maximum(self.filters @ power.T, 1e-10))[:, :-1]  # Whisper drops the last frame
        mel = np.maximum(mel, mel.max() - 8.0)
        features: Float32 = ((mel + 4.0) / 4.0).astype(np.float32)
        return features


@functools.cache
def _front_end() -> _Features:
    return _Features()


def log_mel_features(audio: Float32) -> Float32:
    """``(80, 800)`` features of the last 8 s of ``audio`` (16 kHz mono), left-padded with zeros."""
    samples = np.asarray(audio, dtype=np.float32).reshape(-1)[-WINDOW_SAMPLES:]
    if samples.size < WINDOW_SAMPLES:
        samples = np.pad(samples, (WINDOW_SAMPLES - samples.size, 0))
    return _front_end()(samples)


class SmartTurn:
    """The loaded model (a :class:`~vatel.server.engines.turn.TurnModel`); one per process."""

    sample_rate = SAMPLE_RATE

    def __init__(self, model_path: Path | None = None, *, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session: Any = ort.InferenceSession(
            str(model_path or bundled_model_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        log_mel_features(np.zeros(0, dtype=np.float32))  # build the filter bank now, not in a call

    def complete_probability(self, audio: Float32) -> float:
        samples = checked_samples(audio)
        features = log_mel_features(samples)[np.newaxis]
        (output,) = self._session.run(None, {"input_features": features})
        return float(np.clip(np.asarray(output).reshape(-1)[0], 0.0, 1.0))
