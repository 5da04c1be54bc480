"""Loading ``sounddevice`` (PortAudio) on demand, so that a machine without it fails with the fix.

``import sounddevice`` raises ``OSError`` at import time when the system library is missing; the
rest of ``vatel.audio`` (``pcm``, ``wav``, the jitter buffer) must keep working there, for
``vatel serve`` and headless sessions, so only the device modules call :func:`sounddevice`.
"""

from __future__ import annotations

from types import ModuleType

from vatel.audio.errors import NoAudioError

__all__ = ["sounddevice"]

_module: ModuleType | None = None


def sounddevice() -> ModuleType:
    """The ``sounddevice`` module; raises :class:`NoAudioError` saying what to install."""
    global _module  # noqa: PLW0603 - imported once, on first use
    if _module is None:
        try:
            import sounddevice as sd
        except ImportError:
            raise NoAudioError(
                "sounddevice is not installed: pip install 'vatel[audio]' (or use --input-file/--output-file)"
            ) from None
        except OSError:
            raise NoAudioError(
                "the PortAudio library is missing: apt-get install libportaudio2 "
                "(or use --input-file/--output-file)"
            ) from None
        _module = sd
    return _module
