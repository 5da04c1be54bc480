"""What a short microphone capture says about the microphone: dead, silent, too quiet, clipping, or fine.

Pure (numpy only): ``vatel doctor`` captures a second and asks :func:`judge_capture`. The four
problems look alike to a user ("the agent does not hear me") and have different fixes, so they are
told apart here:

* **no signal**: every sample is exactly zero. Real microphones always hiss a little; a buffer of
  exact zeros is what an operating system hands out when it denies access (macOS privacy settings)
  or when the capture is muted in the mixer.
* **silent**: a signal, but its loudest 50 ms stays under :data:`SILENT_DBFS`: the wrong device
  (a line input with nothing plugged in), or its gain turned all the way down.
* **too quiet**: something is heard, but under :data:`QUIET_DBFS`: speech that low is missed by
  voice activity detection.
* **clipping**: more than :data:`CLIPPED_SAMPLES` samples at full scale: the gain is too high and
  speech is distorted, which speech recognition hears as noise.

Levels are RMS in dBFS with a full-scale square wave at 0 dBFS (a full-scale sine is -3 dBFS),
after removing the DC offset some microphones add (per 50 ms window).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from vatel.audio.pcm import Float32

__all__ = [
    "CLIPPED_SAMPLES",
    "QUIET_DBFS",
    "SILENT_DBFS",
    "MicLevel",
    "MicVerdict",
    "dbfs",
    "judge_capture",
]

SILENT_DBFS = -60.0
"""Loudest 50 ms under this: the microphone hears nothing at all."""
QUIET_DBFS = -40.0
"""Loudest 50 ms under this: heard, but too quiet for voice activity detection to trust."""
FULL_SCALE = 0.999
"""A sample at or above this magnitude sits at the converter's limit (int16 32735 and up)."""
CLIPPED_SAMPLES = 3
"""More full-scale samples than this in one capture is clipping, not one unlucky peak."""
WINDOW_SECONDS = 0.05
FLOOR_DBFS = -120.0
"""What digital silence is reported as (instead of minus infinity)."""


class MicVerdict(StrEnum):
    NO_SIGNAL = "no_signal"
    SILENT = "silent"
    TOO_QUIET = "too_quiet"
    CLIPPING = "clipping"
    OK = "ok"


def dbfs(value: float) -> float:
    """An amplitude (RMS or peak, 1.0 = full scale) in dBFS, never below :data:`FLOOR_DBFS`."""
    return max(FLOOR_DBFS, 20.0 * math.log10(value)) if value > 0 else FLOOR_DBFS


@dataclass(frozen=True)
class MicLevel:
    """The verdict on one capture and the figures behind it."""

    verdict: MicVerdict
    seconds: float
    peak_dbfs: float
    level_dbfs: float
    """The loudest 50 ms window (speech, when someone spoke)."""
    floor_dbfs: float
    """The quietest 50 ms window (the noise floor)."""
    clipped: int
    """Samples at full scale."""

    @property
    def problem(self) -> bool:
        return self.verdict is not MicVerdict.OK

    def summary(self) -> str:
        figures = f"loudest {self.level_dbfs:.0f} dBFS, noise floor {self.floor_dbfs:.0f} dBFS"
        match self.verdict:
            case MicVerdict.NO_SIGNAL:
                return f"no signal at all: {self.seconds:.1f} s of exact zeros (not even hiss)"
            case MicVerdict.SILENT:
                return f"silent: the microphone hears (almost) nothing ({figures})"
            case MicVerdict.TOO_QUIET:
                return f"too quiet: {figures}; speech should reach about -30 to -10 dBFS"
            case MicVerdict.CLIPPING:
                return f"clipping: {self.clipped} samples at full scale (peak {self.peak_dbfs:.1f} dBFS)"
            case MicVerdict.OK:
                return f"level fine: {figures}, peak {self.peak_dbfs:.0f} dBFS"

    def fix(self, platform: str) -> str | None:
        """What to do about it, for ``platform`` (``sys.platform``); ``None`` when all is well."""
        match self.verdict:
            case MicVerdict.NO_SIGNAL:
                return (
                    "the OS probably denies microphone access, or the device is muted: "
                    f"{_permission_fix(platform)}; check any mute switch on the microphone itself"
                )
            case MicVerdict.SILENT:
                return (
                    "speak during the probe; check that --input-device is the microphone you use "
                    "(the Devices table lists them) and that its capture level is not at zero"
                )
            case MicVerdict.TOO_QUIET:
                return f"raise the input gain ({_mixer(platform)}) or move closer to the microphone"
            case MicVerdict.CLIPPING:
                return f"lower the input gain ({_mixer(platform)}) or move away from the microphone"
            case MicVerdict.OK:
                return None


def _permission_fix(platform: str) -> str:
    if platform == "darwin":
        return "System Settings > Privacy & Security > Microphone: allow your terminal, then restart it"
    if platform == "win32":
        return "Settings > Privacy & security > Microphone: let desktop apps use the microphone"
    return (
        "unmute the capture device and raise it (pavucontrol's Input Devices tab, or alsamixer and F4); "
        "in a container or WSL, make sure the sound server is shared (PULSE_SERVER)"
    )


def _mixer(platform: str) -> str:
    if platform == "darwin":
        return "System Settings > Sound > Input"
    if platform == "win32":
        return "Settings > System > Sound > Input"
    return "pavucontrol's Input Devices tab, or alsamixer and F4"


def _window_levels(samples: Float32, rate: int) -> npt.NDArray[np.float64]:
    """The RMS of each whole 50 ms window (one window when the capture is shorter), each window's
    own mean (the DC offset, which may drift) taken out first."""
    size = max(1, round(rate * WINDOW_SECONDS))
    count = max(1, len(samples) // size)
    flat = samples[: count * size].astype(np.float64)
    if len(flat) < size:
        flat = samples.astype(np.float64)
        count, size = 1, len(flat)
    windows = flat.reshape(count, size)
    windows = windows - windows.mean(axis=1, keepdims=True)
    levels: npt.NDArray[np.float64] = np.sqrt(np.mean(windows**2, axis=1))
    return levels


def judge_capture(samples: npt.NDArray[np.floating], rate: int) -> MicLevel:
    """The verdict on a mono float capture (samples in [-1, 1]) at ``rate`` Hz."""
    if rate <= 0:
        raise ValueError(f"the rate must be positive, got {rate}")
    raw = np.asarray(samples, dtype=np.float32)
    if raw.ndim != 1:
        raise ValueError(f"expected mono samples, got shape {raw.shape}")
    seconds = len(raw) / rate
    if len(raw) == 0 or not np.any(raw):
        return MicLevel(MicVerdict.NO_SIGNAL, seconds, FLOOR_DBFS, FLOOR_DBFS, FLOOR_DBFS, 0)
    clipped = int(np.count_nonzero(np.abs(raw) >= FULL_SCALE))
    levels = _window_levels(raw, rate)
    peak = dbfs(float(np.max(np.abs(raw))))
    loudest, quietest = dbfs(float(levels.max())), dbfs(float(levels.min()))
    if clipped > CLIPPED_SAMPLES:
        verdict = MicVerdict.CLIPPING
    elif loudest < SILENT_DBFS:
        verdict = MicVerdict.SILENT
    elif loudest < QUIET_DBFS:
        verdict = MicVerdict.TOO_QUIET
    else:
        verdict = MicVerdict.OK
    return MicLevel(verdict, seconds, peak, loudest, quietest, clipped)
