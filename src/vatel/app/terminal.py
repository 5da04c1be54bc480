"""Single key presses from the terminal (``m`` mute, ``q`` quit), and the terminal given back after.

Only when stdin is a terminal: it is put in cbreak mode (keys arrive one by one, not echoed;
Ctrl-C still raises SIGINT) and restored by :meth:`KeyReader.restore`, which is safe to call more
than once and from the forced-exit path of a second Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import termios
import tty
from collections.abc import Callable
from typing import Any

__all__ = ["KeyReader", "keys_of"]

_SEQUENCE = re.compile("\x1b(?:\\[[0-9;?]*[ -/]*[@-~]|O.)")
"""What arrow, function and Home/End keys send (CSI and SS3 sequences): not keys of ours."""


def keys_of(data: bytes) -> list[str]:
    """The keys in one read from the terminal: characters, with escape sequences left out (a lone
    Esc stays a key)."""
    return list(_SEQUENCE.sub("", data.decode("utf-8", "replace")))


class KeyReader:
    def __init__(self, on_key: Callable[[str], None], fd: int | None = None) -> None:
        self._on_key = on_key
        self._fd = fd
        self._saved: list[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> bool:
        """Start reading keys; ``False`` (and nothing done) when stdin is not a terminal."""
        try:
            if self._fd is None:
                self._fd = sys.stdin.fileno()  # looked up only now: stdin may be no file at all
            if not os.isatty(self._fd):
                return False
            self._saved = termios.tcgetattr(self._fd)
            tty.setcbreak(self._fd)
        except (OSError, ValueError, termios.error):
            return False
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._fd, self._read)
        return True

    @property
    def active(self) -> bool:
        """Keys are being read (stdin is a terminal and :meth:`start` succeeded)."""
        return self._loop is not None

    def _read(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 32)
        except OSError:
            data = b""
        if not data and self._loop is not None:
            self._loop.remove_reader(self._fd)
            return
        for key in keys_of(data):
            self._on_key(key)

    def restore(self) -> None:
        if self._loop is not None and self._fd is not None:
            self._loop.remove_reader(self._fd)
        self._loop = None
        saved, self._saved = self._saved, None
        if saved is not None and self._fd is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(self._fd, termios.TCSADRAIN, saved)
