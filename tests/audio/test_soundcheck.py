"""``vatel.audio.soundcheck`` on a fake PortAudio: the standard rates a device accepts, and captures
(what is kept, when it was heard, devices that refuse or stall)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from vatel.audio import devices, soundcheck
from vatel.audio.devices import Device
from vatel.audio.echo_path import chirp, find_echo
from vatel.audio.errors import DeviceOpenError
from vatel.audio.soundcheck import STANDARD_RATES, StalledDeviceError, accepted_rates

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


# --- captures, on fake streams -----------------------------------------------------------------------

RATE = 8_000
BLOCK = 160
T0 = 1000.0
"""The fake ADC clock's reading at the first captured sample."""


class FakeInputStream:
    """Feeds a ramp (sample ``i`` is ``i * 1e-6``) in 20 ms blocks with exact ADC timestamps."""

    refuse_start = False
    silent = False
    stereo_only = True
    """Like some hardware: mono refused, so the capture is opened in stereo and mixed down."""

    def __init__(
        self, *, device: int, samplerate: int, channels: int, dtype: str, latency: str, callback: Any
    ) -> None:
        if channels == 1 and self.stereo_only:
            raise FakeError("Invalid number of channels [PaErrorCode -9998]")
        self.samplerate = samplerate
        self.channels = channels
        self.callback = callback
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._feed, daemon=True)

    def start(self) -> None:
        if self.refuse_start:
            raise FakeError("Device unavailable [PaErrorCode -9985]")
        if not self.silent:
            self.thread.start()

    def _feed(self) -> None:
        index = 0
        while not self.stopped.is_set() and index < 10 * RATE:
            ramp = (np.arange(index, index + BLOCK) * 1e-6).astype(np.float32)
            block = np.repeat(ramp[:, None], self.channels, axis=1)
            stamp = SimpleNamespace(
                inputBufferAdcTime=T0 + index / RATE, currentTime=T0 + index / RATE + 0.01
            )
            self.callback(block, BLOCK, stamp, SimpleNamespace(input_overflow=False))
            index += BLOCK
            time.sleep(0.0005)

    def abort(self) -> None:
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join()

    def close(self) -> None:
        pass


@pytest.fixture
def fake_streams(monkeypatch: pytest.MonkeyPatch) -> type[FakeInputStream]:
    stream_class = type("Stream", (FakeInputStream,), {})
    module = SimpleNamespace(PortAudioError=FakeError, InputStream=stream_class)
    monkeypatch.setattr(soundcheck, "sounddevice", lambda: module)
    monkeypatch.setattr(devices, "sounddevice", lambda: module)
    return stream_class


MIC = Device(2, "USB mic", "ALSA", 2, 0, RATE)


def test_a_capture_drops_the_settling_time_and_knows_when_it_was_heard(
    fake_streams: type[FakeInputStream],
) -> None:
    capture = soundcheck.record(MIC, 0.5)
    assert capture.rate == RATE
    assert len(capture.samples) == RATE // 2
    first = round(float(capture.samples[0]) / 1e-6)  # which sample of the stream it starts at
    assert first >= round(soundcheck.SETTLE * RATE)  # the settling time was dropped
    expected = (np.arange(first, first + RATE // 2) * 1e-6).astype(np.float32)
    np.testing.assert_array_equal(capture.samples, expected)  # stereo mixed down, in order, none lost
    assert capture.start_time == pytest.approx(T0 + first / RATE)


def test_probes_on_one_stream_follow_each_other(fake_streams: type[FakeInputStream]) -> None:
    with soundcheck.Listening(MIC) as listening:
        one = listening.record(0.1)
        two = listening.record(0.1)
    assert len(one.samples) == len(two.samples) == RATE // 10
    gap = round(float(two.samples[0]) / 1e-6) - round(float(one.samples[-1]) / 1e-6)
    assert gap >= 1  # the second starts after the first, never overlapping it
    assert two.start_time is not None and one.start_time is not None
    assert two.start_time - one.start_time == pytest.approx((gap + len(one.samples) - 1) / RATE)


def test_a_device_that_will_not_start_is_one_clear_error(fake_streams: type[FakeInputStream]) -> None:
    fake_streams.refuse_start = True
    with pytest.raises(
        DeviceOpenError, match=r'input device 2 "USB mic" opened but would not start .*--input-device'
    ):
        soundcheck.record(MIC, 0.5)


def test_a_device_that_never_delivers_is_stalled(
    fake_streams: type[FakeInputStream], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_streams.silent = True
    monkeypatch.setattr(soundcheck, "START_LIMIT", 0.01)
    with pytest.raises(
        StalledDeviceError, match=r"delivered no audio in 0.01 s: another program may hold it"
    ):
        soundcheck.record(MIC, 0.5)


# --- a signal played and heard again, in a fake room -------------------------------------------------------


class Room:
    """One thread plays the part of both devices on one fake clock: every 20 ms block, the output
    callback is asked for audio (to be heard ``OUT_LATENCY`` later), the air carries it to the
    microphone ``DELAY`` later at ``GAIN``, and the input callback gets what the air held
    ``IN_LATENCY`` ago. PortAudio's timestamps are exact, so the measured delay must be ``DELAY``."""

    OUT_LATENCY, IN_LATENCY, DELAY, GAIN = 0.03, 0.01, 0.045, 0.25

    def __init__(self) -> None:
        self.input: Any = None
        self.output: Any = None
        self.air = np.zeros(20 * RATE, np.float32)
        self.now = T0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        tick = 0
        while not self.stopped.is_set() and (tick + 2) * BLOCK < len(self.air) - RATE:
            self.now = T0 + tick * BLOCK / RATE
            output = self.output
            if output is not None and output.started:
                block = np.zeros((BLOCK, output.channels), np.float32)
                stamp = SimpleNamespace(outputBufferDacTime=self.now + self.OUT_LATENCY, currentTime=self.now)
                output.callback(block, BLOCK, stamp, SimpleNamespace(output_underflow=False))
                at = tick * BLOCK + round((self.OUT_LATENCY + self.DELAY) * RATE)
                self.air[at : at + BLOCK] += self.GAIN * block[:, 0]
            heard_at = tick * BLOCK - round(self.IN_LATENCY * RATE)
            heard = (
                self.air[max(0, heard_at) : heard_at + BLOCK]
                if heard_at >= 0
                else np.zeros(BLOCK, np.float32)
            )
            stamp = SimpleNamespace(inputBufferAdcTime=self.now - self.IN_LATENCY, currentTime=self.now)
            self.input.callback(heard[:, None].copy(), BLOCK, stamp, SimpleNamespace(input_overflow=False))
            tick += 1
            time.sleep(0.0005)


def fake_room(monkeypatch: pytest.MonkeyPatch) -> Room:
    room = Room()

    class Input:
        def __init__(
            self, *, device: int, samplerate: int, channels: int, dtype: str, latency: str, callback: Any
        ):
            self.callback = callback
            room.input = self

        def start(self) -> None:
            room.thread.start()

        def abort(self) -> None:
            room.stopped.set()
            room.thread.join()

        def close(self) -> None:
            pass

    class Output:
        def __init__(
            self, *, device: int, samplerate: int, channels: int, dtype: str, latency: str, callback: Any
        ):
            self.callback, self.channels, self.started = callback, channels, False
            self.latency = Room.OUT_LATENCY
            room.output = self

        @property
        def time(self) -> float:
            return room.now

        def start(self) -> None:
            self.started = True

        def abort(self) -> None:
            room.output = None

        def close(self) -> None:
            pass

    module = SimpleNamespace(PortAudioError=FakeError, InputStream=Input, OutputStream=Output)
    monkeypatch.setattr(soundcheck, "sounddevice", lambda: module)
    monkeypatch.setattr(devices, "sounddevice", lambda: module)
    return room


def test_a_played_signal_is_placed_in_the_capture_by_the_timestamps(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_room(monkeypatch)
    speaker = Device(4, "speaker", "ALSA", 0, 2, RATE)
    played = chirp(RATE)
    with soundcheck.Listening(MIC) as listening:
        heard = listening.play(speaker, played, RATE, tail=0.3)
    assert heard.rate == RATE and heard.played_at is not None
    echo = find_echo(played, heard.samples, RATE, heard.played_at)
    assert echo.found
    assert echo.delay_ms == pytest.approx(Room.DELAY * 1000, abs=1000 / RATE)
    assert echo.level_db == pytest.approx(20 * np.log10(Room.GAIN), abs=0.1)
    # It was captured whole, with the tail after it (a late echo would have been heard).
    assert len(heard.samples) / RATE >= heard.played_at + Room.DELAY + len(played) / RATE
