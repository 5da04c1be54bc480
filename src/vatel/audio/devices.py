"""The sound devices: listing them with the defaults marked, choosing one, opening it at a rate it takes.

A device is chosen by index (``3``) or by a case-insensitive part of its name (``usb``); a choice
that matches nothing, or several devices, raises :class:`DeviceChoiceError` listing the choices.
Devices open at their own default rate (the app resamples to and from the wire's 24 kHz), with
other common rates tried after it, so "Invalid sample rate" is never fatal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from vatel.audio.errors import DeviceChoiceError, DeviceOpenError, NoAudioError
from vatel.audio.portaudio import sounddevice

__all__ = ["Device", "Kind", "candidate_rates", "choose", "format_table", "list_devices", "open_stream"]

Kind = Literal["input", "output"]
StreamT = TypeVar("StreamT")

FALLBACK_RATES = (48_000, 44_100, 32_000, 24_000, 16_000)


@dataclass(frozen=True)
class Device:
    index: int
    name: str
    host_api: str
    inputs: int
    """Input channels (0: not an input device)."""
    outputs: int
    default_rate: int
    default_input: bool = False
    default_output: bool = False

    def channels(self, kind: Kind) -> int:
        return self.inputs if kind == "input" else self.outputs

    def is_default(self, kind: Kind) -> bool:
        return self.default_input if kind == "input" else self.default_output

    def label(self) -> str:
        return f'{self.index} "{self.name}"'


def list_devices() -> list[Device]:
    """Every PortAudio device (:class:`NoAudioError` when PortAudio itself is missing)."""
    sd = sounddevice()
    try:
        raw = sd.query_devices()
        apis = sd.query_hostapis()
        default_in, default_out = sd.default.device
    except sd.PortAudioError as exc:
        raise NoAudioError(f"PortAudio cannot list the sound devices: {exc}") from None
    return [
        Device(
            index=int(info["index"]),
            name=str(info["name"]),
            host_api=str(apis[info["hostapi"]]["name"]),
            inputs=int(info["max_input_channels"]),
            outputs=int(info["max_output_channels"]),
            default_rate=round(float(info["default_samplerate"])),
            default_input=int(info["index"]) == default_in,
            default_output=int(info["index"]) == default_out,
        )
        for info in raw
    ]


def _choices(devices: Sequence[Device], kind: Kind) -> str:
    usable = [d.label() for d in devices if d.channels(kind) > 0]
    return ", ".join(usable) if usable else f"none (this machine has no {kind} device)"


def choose(devices: Sequence[Device], spec: str | int | None, kind: Kind) -> Device:
    """The device for ``spec``: ``None`` for the default, an index, or a part of a name."""
    usable = [d for d in devices if d.channels(kind) > 0]
    if spec is None or spec == "":
        if not usable:
            raise NoAudioError(
                f"no sound {kind} device on this machine: use --{kind}-file, "
                "or start a virtual one (scripts/virtual-audio start)"
            )
        return next((d for d in usable if d.is_default(kind)), usable[0])
    text = str(spec).strip()
    if text.isdigit():
        found = [d for d in devices if d.index == int(text)]
        if not found:
            raise DeviceChoiceError(f"there is no device {text}; {kind} devices: {_choices(devices, kind)}")
        if found[0].channels(kind) == 0:
            raise DeviceChoiceError(
                f"device {found[0].label()} has no {kind} channels; {kind} devices: {_choices(devices, kind)}"
            )
        return found[0]
    exact = [d for d in usable if d.name.lower() == text.lower()]
    matches = exact or [d for d in usable if text.lower() in d.name.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise DeviceChoiceError(
            f"no {kind} device matches {text!r}; {kind} devices: {_choices(devices, kind)}"
        )
    listed = ", ".join(d.label() for d in matches)
    raise DeviceChoiceError(f"{text!r} matches several {kind} devices: {listed}; give the index instead")


def format_table(devices: Sequence[Device]) -> str:
    """A table of the devices, the default input and output marked with ``>`` and ``<``."""
    if not devices:
        return "no sound devices (start a virtual one: scripts/virtual-audio start)"
    width = max(len(d.name) for d in devices)
    lines = [f"    {'#':>3}  {'name':<{width}}  {'api':<10} {'in':>3} {'out':>3}  rate"]
    for d in devices:
        mark = (">" if d.default_input else " ") + ("<" if d.default_output else " ")
        lines.append(
            f"{mark}  {d.index:>3}  {d.name:<{width}}  {d.host_api:<10} {d.inputs:>3} {d.outputs:>3}  "
            f"{d.default_rate}"
        )
    lines.append("> default input, < default output")
    return "\n".join(lines)


def candidate_rates(device: Device) -> list[int]:
    """The rates to try, the device's own default first."""
    rates = [device.default_rate] if device.default_rate > 0 else []
    return rates + [r for r in FALLBACK_RATES if r not in rates]


def open_stream(device: Device, kind: Kind, factory: Callable[[int, int], StreamT]) -> StreamT:
    """``factory(rate, channels)`` for the first rate and channel count the device accepts.

    Mono is asked for first; a device that only opens in stereo (some hardware does) is opened with
    its channel count and the caller mixes down or duplicates.
    """
    sd = sounddevice()
    channel_options = [1] if device.channels(kind) <= 1 else [1, min(device.channels(kind), 2)]
    last: Exception | None = None
    for channels in channel_options:
        for rate in candidate_rates(device):
            try:
                return factory(rate, channels)
            except (sd.PortAudioError, ValueError) as exc:
                last = exc
    raise DeviceOpenError(
        f"cannot open {kind} device {device.label()} at any of {candidate_rates(device)} Hz ({last}); "
        f"choose another with --{kind}-device (vatel devices lists them)"
    )
