"""What can go wrong with sound, as one tree, each error a single line that says the fix::

AudioError
├── NoAudioError        no PortAudio library, or no device of the kind needed
├── DeviceChoiceError   a device choice matched nothing (or several); lists the choices
├── DeviceOpenError     a device refused every rate and channel count we tried
└── WavError            a file that is not a WAV we can read (or cannot be written)
"""

from __future__ import annotations

__all__ = ["AudioError", "DeviceChoiceError", "DeviceOpenError", "NoAudioError", "WavError"]


class AudioError(Exception):
    """An expected failure of the audio path: the message is one line and ends with the fix."""


class NoAudioError(AudioError):
    """No sound at all: PortAudio is missing, or the machine has no input/output device."""


class DeviceChoiceError(AudioError):
    """A device given by index or name matched nothing, or several devices."""


class DeviceOpenError(AudioError):
    """A device that exists but could not be opened."""


class WavError(AudioError):
    """A WAV file that cannot be read or written."""
