"""Is there a sound device this machine can really open? (Listing is not enough: an ALSA
``default`` that points at a PulseAudio daemon that is not running lists fine and fails to open.)"""

from __future__ import annotations

from vatel.audio.devices import Device, choose, list_devices, open_stream
from vatel.audio.errors import AudioError
from vatel.audio.portaudio import sounddevice

__all__ = ["sound_unavailable"]


def _opens(device: Device, kind: str) -> None:
    sd = sounddevice()
    factory = sd.InputStream if kind == "input" else sd.OutputStream

    def make(rate: int, channels: int) -> object:
        stream = factory(device=device.index, samplerate=rate, channels=channels, dtype="int16")
        stream.close()
        return stream

    open_stream(device, "input" if kind == "input" else "output", make)


def sound_unavailable(
    input_device: str | None = None, output_device: str | None = None, *, need_input: bool = True
) -> str | None:
    """Why a live session cannot use the sound card, or ``None`` when the microphone (unless
    ``need_input`` is false: typing mode) and the speaker both open."""
    try:
        devices = list_devices()
        if need_input:
            _opens(choose(devices, input_device, "input"), "input")
        _opens(choose(devices, output_device, "output"), "output")
    except AudioError as error:
        return str(error)
    return None
