"""Which standard rates a device accepts (``vatel.audio.soundcheck.accepted_rates``), on a fake PortAudio."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from vatel.audio import soundcheck
from vatel.audio.devices import Device
from vatel.audio.soundcheck import STANDARD_RATES, accepted_rates

pytestmark = pytest.mark.unit


class FakeError(Exception):
    pass


def fake_portaudio(monkeypatch: pytest.MonkeyPatch, accepts: Any) -> list[tuple[str, int, int]]:
    asked: list[tuple[str, int, int]] = []

    def checker(kind: str) -> Any:
        def check(*, device: int, samplerate: int, channels: int, dtype: str) -> None:
            asked.append((kind, samplerate, channels))
            if not accepts(kind, samplerate, channels):
                raise FakeError(f"Invalid sample rate {samplerate}")

        return check

    module = SimpleNamespace(
        PortAudioError=FakeError,
        check_input_settings=checker("input"),
        check_output_settings=checker("output"),
    )
    monkeypatch.setattr(soundcheck, "sounddevice", lambda: module)
    return asked


def test_rates_the_device_refuses_are_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_portaudio(monkeypatch, lambda kind, rate, channels: rate in (16_000, 48_000))
    device = Device(3, "USB mic", "ALSA", 1, 0, 48_000)
    assert accepted_rates(device, "input") == [16_000, 48_000]


def test_a_device_that_opens_only_in_stereo_still_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = fake_portaudio(monkeypatch, lambda kind, rate, channels: channels == 2 and rate == 44_100)
    device = Device(0, "HDA Intel", "ALSA", 2, 2, 44_100)
    assert accepted_rates(device, "output") == [44_100]
    assert ("output", 44_100, 1) in asked and ("output", 44_100, 2) in asked
    assert {kind for kind, _, _ in asked} == {"output"}


def test_a_mono_device_is_never_asked_for_stereo_and_may_accept_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked = fake_portaudio(monkeypatch, lambda kind, rate, channels: False)
    assert accepted_rates(Device(1, "mono", "ALSA", 1, 0, 8_000), "input") == []
    assert [rate for _, rate, _ in asked] == list(STANDARD_RATES)
    assert {channels for _, _, channels in asked} == {1}
