"""``--text``: the user types, and each line is spoken locally and sent as the microphone would be.

The protocol has no text message, so a line becomes speech: :data:`Speak` (given by the CLI,
which owns the speech engines) turns it into 24 kHz float audio, :class:`WireFramer` cuts it into
the microphone's 20 ms frames, and :meth:`TextInput.frames` sends them on the same fixed schedule
as ``--input-file`` (frame *i* at ``start + i * 20 ms``). Silence fills every frame with nothing
to say, and at least :data:`TRAILING_SILENCE` seconds of it follow each line, so the server's
voice activity detection ends the turn before the next line starts.

When the input ends (Ctrl-D or the end of a pipe) and the last line has been sent, ``on_end`` is
called: the session then closes once the agent has answered.

Lines come from ``lines`` (``--text "..."``: those only) or from stdin, read without a thread
(``add_reader`` on a pipe or a terminal; a regular file is read at once). Synthesis runs in a
worker thread, one line at a time and in order, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from vatel.audio.framing import WireFramer
from vatel.audio.pcm import FRAME_SAMPLES, WIRE_RATE, Float32

__all__ = ["TRAILING_SILENCE", "Speak", "TextInput", "TextSource"]

Speak = Callable[[str], Float32]
"""Text to speech: float32 mono at the wire's 24 kHz (blocking; called from a worker thread)."""

TRAILING_SILENCE = 1.2
"""Seconds of silence after each spoken line (a server ends a turn after well under a second)."""
FRAME_SECONDS = FRAME_SAMPLES / WIRE_RATE
_SILENCE = bytes(FRAME_SAMPLES * 2)


@dataclass(frozen=True)
class TextInput:
    """Typing mode: ``speak`` voices each line; ``lines`` are the only lines (``None``: read stdin)."""

    speak: Speak
    lines: tuple[str, ...] | None = None
    fd: int | None = None
    """Where lines are read when ``lines`` is ``None``; ``None``: stdin."""


class TextSource:
    """The frames of typing mode: spoken lines at real-time pace, silence in between, for ever."""

    def __init__(
        self,
        text: TextInput,
        *,
        fd: int | None = None,
        on_line: Callable[[str], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_end: Callable[[], None] | None = None,
    ) -> None:
        self.text = text
        self._fd = fd if fd is not None else text.fd
        self._on_line = on_line or (lambda _line: None)
        self._on_error = on_error or (lambda _error: None)
        self._on_end = on_end or (lambda: None)
        self._pending: deque[bytes] = deque()
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._partial = b""
        self._reading = False
        self.lines_spoken = 0
        self.input_ended = False
        """Every line has been read (stdin at its end, or the ``--text`` line) and spoken."""
        self.input_sent = False
        """... and sent, with the silence after the last line: ``on_end`` has been called."""

    # --- where lines come from --------------------------------------------------------------------

    def _start_reading(self) -> None:
        if self.text.lines is not None:
            for line in self.text.lines:
                self._lines.put_nowait(line)
            self._lines.put_nowait(None)
            return
        fd = sys.stdin.fileno() if self._fd is None else self._fd
        self._fd = fd
        loop = asyncio.get_running_loop()
        try:
            loop.add_reader(fd, self._read)
            self._reading = True
        except (OSError, ValueError):  # a regular file cannot be polled: it never blocks, read it all
            while self._feed(os.read(fd, 65536)):
                pass

    def _read(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not self._feed(data):
            self._stop_reading()

    def _feed(self, data: bytes) -> bool:
        """Queue the whole lines in ``data``; ``False`` at the end of input."""
        if not data:
            if self._partial:
                self._lines.put_nowait(self._partial.decode("utf-8", "replace"))
                self._partial = b""
            self._lines.put_nowait(None)
            return False
        *whole, self._partial = (self._partial + data).split(b"\n")
        for line in whole:
            self._lines.put_nowait(line.decode("utf-8", "replace"))
        return True

    def _stop_reading(self) -> None:
        if self._reading and self._fd is not None:
            self._reading = False
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._fd)

    # --- lines to frames --------------------------------------------------------------------------

    async def _speak_lines(self) -> None:
        trailing = [_SILENCE] * round(TRAILING_SILENCE / FRAME_SECONDS)
        while (line := await self._lines.get()) is not None:
            line = line.strip()
            if not line:
                continue
            try:
                audio = await asyncio.to_thread(self.text.speak, line)
            except Exception as exc:  # a voice that fails on one line must not end the session
                self._on_error(f"could not speak {line!r}: {type(exc).__name__}: {exc}")
                continue
            framer = WireFramer(WIRE_RATE)
            frames = framer.push(audio) + framer.finish()
            self._on_line(line)
            self._pending.extend(frames)
            self._pending.extend(trailing)
            self.lines_spoken += 1
        self.input_ended = True

    async def frames(self) -> AsyncIterator[bytes]:
        """Frames at real-time pace, for ever (start iterating once the session is live)."""
        self._start_reading()
        speaking = asyncio.ensure_future(self._speak_lines())
        loop = asyncio.get_running_loop()
        try:
            start = loop.time()
            index = 0
            while True:
                delay = start + index * FRAME_SECONDS - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -0.5:  # the loop stalled: restart the schedule rather than burst
                    start, index = loop.time(), 0
                if self._pending:
                    yield self._pending.popleft()
                else:
                    if self.input_ended and not self.input_sent:
                        self.input_sent = True
                        self._on_end()
                    yield _SILENCE
                index += 1
        finally:
            self._stop_reading()
            speaking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await speaking
