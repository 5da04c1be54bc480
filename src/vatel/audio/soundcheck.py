"""The device side of ``vatel doctor``: which standard rates a device takes, a short capture, and a
signal played on one device while another records, with PortAudio's timestamps to place it in time.

Captures wait for the stream's first block before counting (a capture stream can take a few hundred
milliseconds to deliver anything after it opens) and drop a short settling time after it, so the
second judged is a second the microphone really heard. Callbacks only copy blocks into a list; all
the arithmetic happens after the streams are closed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vatel.audio.devices import Device, Kind, open_stream
from vatel.audio.errors import AudioError, DeviceOpenError
from vatel.audio.pcm import Float32, resample, to_mono
from vatel.audio.portaudio import sounddevice

__all__ = [
    "STANDARD_RATES",
    "Capture",
    "Listening",
    "PlayedCapture",
    "StalledDeviceError",
    "accepted_rates",
    "record",
]

STANDARD_RATES = (8_000, 16_000, 22_050, 24_000, 44_100, 48_000)
START_LIMIT = 4.0
"""Seconds a stream may take to deliver its first block before the device counts as stalled (the
virtual card's idle null sinks took up to 2 s on a loaded machine)."""
SETTLE = 0.15
"""Seconds dropped after the first block: some devices ramp their gain or deliver a click first."""
OUTPUT_START_LIMIT = 4.0
"""Seconds an output stream may take to really start playing (an idle PulseAudio null sink: about 2)."""
FLOWING = 0.15
"""Seconds of steady output callbacks after which an output stream counts as playing."""


class StalledDeviceError(AudioError):
    """A device that opened but never delivered (or consumed) audio."""


def accepted_rates(device: Device, kind: Kind, rates: Sequence[int] = STANDARD_RATES) -> list[int]:
    """The rates of ``rates`` PortAudio says the device opens at (mono, or stereo for devices that
    refuse mono). Asks the host API without opening a stream."""
    sd = sounddevice()
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    channel_options = [1] if device.channels(kind) <= 1 else [1, 2]
    accepted = []
    for rate in rates:
        for channels in channel_options:
            try:
                check(device=device.index, samplerate=rate, channels=channels, dtype="float32")
            except (sd.PortAudioError, ValueError):
                continue
            accepted.append(rate)
            break
    return accepted


@dataclass(frozen=True)
class Capture:
    """Mono samples from an input device, and where they sit on PortAudio's stream clock."""

    samples: Float32
    rate: int
    start_time: float | None
    """The stream time (seconds) of ``samples[0]``; ``None`` when the host API gives no timestamps."""


class _Collector:
    """The input callback's side: blocks and their ADC times, appended and nothing else."""

    def __init__(self) -> None:
        self.rate = 0
        self.blocks: list[Float32] = []
        self.times: list[tuple[int, float]] = []
        self.count = 0
        """Samples captured so far (int updates are atomic under the GIL: read from any thread)."""
        self.first = threading.Event()

    def callback(self, indata: Any, frames: int, stamp: Any, status: Any) -> None:
        adc = float(stamp.inputBufferAdcTime) or float(stamp.currentTime)
        if adc > 0:
            self.times.append((self.count, adc))
        self.blocks.append(to_mono(indata).copy())
        self.count += frames
        self.first.set()

    def covers(self, moment: float) -> bool:
        """Has a block captured at or after ``moment`` (stream time) arrived? (True without timestamps.)"""
        if not self.times:
            return True
        index, adc = self.times[-1]
        return adc + (self.count - index) / self.rate >= moment

    def capture(self, start: int, end: int) -> Capture:
        """Samples ``start:end`` of the stream, and the stream time of ``start``."""
        blocks = list(self.blocks)
        samples = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
        times = list(self.times)
        when = None
        if times:  # the median of every block's estimate: robust to one late timestamp
            when = float(np.median([t - index / self.rate for index, t in times])) + start / self.rate
        return Capture(samples[start:end], self.rate, when)


def _open_input(device: Device, collector: _Collector) -> Any:
    sd = sounddevice()

    def factory(rate: int, channels: int) -> Any:
        collector.rate = rate
        return sd.InputStream(
            device=device.index,
            samplerate=rate,
            channels=channels,
            dtype="float32",
            latency="low",
            callback=collector.callback,
        )

    return open_stream(device, "input", factory)


def _start(stream: Any, device: Device, kind: Kind) -> None:
    """``stream.start()``, a refusal (device busy, unplugged since it opened) as one clear line."""
    sd = sounddevice()
    try:
        stream.start()
    except sd.PortAudioError as error:
        raise DeviceOpenError(
            f"{kind} device {device.label()} opened but would not start ({error}); another program may hold "
            f"it; choose another with --{kind}-device"
        ) from None


def _wait_first(stream: Any, collector: _Collector, device: Device) -> None:
    _start(stream, device, "input")
    if not collector.first.wait(START_LIMIT):
        raise StalledDeviceError(
            f"input device {device.label()} opened but delivered no audio in {START_LIMIT:g} s: another "
            "program may hold it, or it is stuck; unplug and replug it, or choose another with --input-device"
        )


def _close(stream: Any) -> None:
    """Stop and close, whatever state the stream is in (a device unplugged mid-probe included)."""
    sd = sounddevice()
    with contextlib.suppress(sd.PortAudioError):
        stream.abort()
    with contextlib.suppress(sd.PortAudioError):
        stream.close()


class Listening:
    """An input stream kept open across probes (``with Listening(device) as mic:``), so it starts and
    settles once: some devices (the virtual card's PulseAudio null sinks among them) take seconds
    to deliver their first block."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self._collector = _Collector()
        self._stream: Any = None

    @property
    def rate(self) -> int:
        return self._collector.rate

    def __enter__(self) -> Listening:
        self._stream = _open_input(self.device, self._collector)
        try:
            _wait_first(self._stream, self._collector, self.device)
            self._wait_for(self._collector.count + round(SETTLE * self._collector.rate))
        except BaseException:
            _close(self._stream)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        _close(self._stream)

    def _wait_for(self, count: int) -> None:
        collector = self._collector
        if not _wait(lambda: collector.count >= count, START_LIMIT + 2 * count / collector.rate):
            raise StalledDeviceError(
                f"input device {self.device.label()} stopped delivering audio after "
                f"{collector.count / collector.rate:.2f} s; choose another with --input-device"
            )

    def record(self, seconds: float) -> Capture:
        """The next ``seconds`` of mono audio."""
        start = self._collector.count
        end = start + round(seconds * self.rate)
        self._wait_for(end)
        return self._collector.capture(start, end)

    def play(self, output: Device, signal: Float32, rate: int, *, tail: float = 0.5) -> PlayedCapture:
        """Play ``signal`` (mono at ``rate``) on ``output`` and return what this input heard meanwhile.

        The output starts with silence until it really plays, then the signal is played, followed
        by ``tail`` seconds of silence so a late echo is still captured. Returned resampled to
        ``rate``.
        """
        sd = sounddevice()
        collector = self._collector
        start = collector.count
        player: _Player | None = None

        def factory(out_rate: int, channels: int) -> Any:
            nonlocal player
            body = resample(signal, rate, out_rate)
            player = _Player(np.concatenate([body, np.zeros(round(tail * out_rate), np.float32)]), out_rate)
            return sd.OutputStream(
                device=output.index,
                samplerate=out_rate,
                channels=channels,
                dtype="float32",
                latency="high",  # the timestamps place the signal; a deep buffer only avoids underruns
                callback=player.callback,
            )

        out_stream = open_stream(output, "output", factory)
        assert player is not None
        try:
            _play(out_stream, player, collector, output)
        finally:
            _close(out_stream)
        capture = collector.capture(start, collector.count)
        played_at = None
        if player.start_time is not None and capture.start_time is not None:
            played_at = player.start_time - capture.start_time
        return PlayedCapture(resample(capture.samples, capture.rate, rate), rate, played_at)


def record(device: Device, seconds: float) -> Capture:
    """``seconds`` of mono audio from ``device`` (at the first rate it takes), after it settles."""
    with Listening(device) as listening:
        return listening.record(seconds)


class _Player:
    """The output callback's side: silence until armed, then the signal once; notes its DAC times.

    Silence first, because an output stream is not playing just because its callback was called:
    PortAudio fills the device's buffer ahead, and some sinks (a PulseAudio null sink nobody
    listens to) then stall for seconds before they start consuming. The signal is armed only once
    callbacks have kept coming for :data:`FLOWING` seconds.
    """

    def __init__(self, signal: Float32, rate: int) -> None:
        self.signal = signal
        self.rate = rate
        self.armed = False
        self.position = -1
        """Samples of the signal handed over; -1 until it starts."""
        self.first_call: float | None = None
        self.last_call = 0.0
        self.start_time: float | None = None
        """The stream time at which the signal's first sample reaches the DAC."""
        self.end_time: float | None = None
        """The stream time at which the whole signal has been played."""
        self.done = threading.Event()
        """Set when the whole signal has been handed to PortAudio (not yet played: it buffers)."""

    def flowing(self) -> bool:
        return self.first_call is not None and self.last_call - self.first_call >= FLOWING

    def callback(self, outdata: Any, frames: int, stamp: Any, status: Any) -> None:
        self.last_call = time.monotonic()
        if self.first_call is None:
            self.first_call = self.last_call
        if not self.armed or self.position >= len(self.signal):
            outdata.fill(0)
            return
        if self.position < 0:
            self.position = 0
            dac = float(stamp.outputBufferDacTime) or float(stamp.currentTime)
            if dac > 0:
                self.start_time = dac
                self.end_time = dac + len(self.signal) / self.rate
        chunk = self.signal[self.position : self.position + frames]
        outdata[: len(chunk)] = chunk[:, None]
        outdata[len(chunk) :] = 0
        self.position += frames
        if self.position >= len(self.signal):
            self.done.set()


@dataclass(frozen=True)
class PlayedCapture:
    """What the input heard while the output played a signal, at the signal's rate."""

    samples: Float32
    rate: int
    played_at: float | None
    """Seconds from ``samples[0]`` to the signal's first sample leaving the speaker (stream clocks);
    ``None`` when a host API gives no timestamps."""


def _wait(condition: Callable[[], bool], limit: float) -> bool:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def _play(stream: Any, player: _Player, collector: _Collector, output: Device) -> None:
    """Start the output, arm the signal once it flows, and return when the signal has left the
    speaker and the capture has caught up with that moment.

    "Handed over" is not "played" (PortAudio asks for the buffer ahead): the DAC timestamps say when
    it is played, on the same clock as the stream's ``time`` and the capture's timestamps.
    """
    _start(stream, output, "output")
    if not _wait(player.flowing, OUTPUT_START_LIMIT):
        raise StalledDeviceError(
            f"output device {output.label()} opened but did not start playing in {OUTPUT_START_LIMIT:g} s; "
            "another program may hold it; choose another with --output-device"
        )
    player.armed = True
    seconds = len(player.signal) / player.rate
    if not _wait(player.done.is_set, OUTPUT_START_LIMIT + 2 * seconds):
        raise StalledDeviceError(
            f"output device {output.label()} stopped asking for audio; choose another with --output-device"
        )
    end = player.end_time
    if end is None:  # no timestamps from this host API: the device's latency, a guess
        time.sleep(float(stream.latency) + 0.1)
        return
    if not _wait(lambda: float(stream.time) >= end and collector.covers(end), OUTPUT_START_LIMIT + seconds):
        raise StalledDeviceError(
            f"the output device's clock or the capture stalled while the test signal played "
            f"(output {output.label()}); choose other devices with --output-device/--input-device"
        )
