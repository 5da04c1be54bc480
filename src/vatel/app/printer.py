"""The transcript on the terminal: interim text replaced in place, finals kept.

On a terminal (``tty=True``) the last line is *live*: an interim ``agent``/``user`` line or a
``status`` line, redrawn in place (carriage return, erase line) by the next line with the same
key; a final line ends it. A live interim line of another key is kept as it stood (text said
before an interruption is not lost); a live status line is erased.

Not on a terminal (a pipe, a log file, ``--plain``) only final ``agent``/``user`` lines and
``info`` lines are written, one per line, with no escape codes, so the output reads like the seed
example's: ``Agent: ...``, ``You: ...``. The unheard rest of an interrupted answer is struck
through on a terminal and written ``[not heard: ...]`` otherwise.
"""

from __future__ import annotations

from typing import TextIO

from vatel.app.events import Line

__all__ = ["Printer"]

_ERASE = "\r\x1b[2K"
_PREFIX = {"agent": "Agent: ", "user": "You: ", "info": "", "status": "", "prompt": "> "}
_STRIKE, _PLAIN = "\x1b[9m", "\x1b[0m"


class Printer:
    def __init__(self, out: TextIO, *, tty: bool | None = None) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self._live_key: str | None = None
        self._live_is_status = False

    def show(self, line: Line) -> None:
        text = _PREFIX[line.speaker] + line.text.replace("\n", " ")
        if line.unheard:
            rest = line.unheard.replace("\n", " ")
            text += f" {_STRIKE}{rest}{_PLAIN}" if self.tty else f" [not heard: {rest}]"
        if not self.tty:
            if line.speaker == "info" or (line.speaker in ("agent", "user") and line.final):
                self.out.write(text + "\n")
                self.out.flush()
            return
        if self._live_key is not None:
            if self._live_is_status or (line.speaker != "info" and line.key == self._live_key):
                self.out.write(_ERASE)
            else:
                self.out.write("\n")
            self._live_key = None
        if line.speaker == "status":
            self.out.write(f"\x1b[2m{text}\x1b[0m")
            self._live_key, self._live_is_status = "status", True
        elif line.speaker == "prompt":
            self.out.write(text)
            self._live_key, self._live_is_status = "prompt", True
        elif line.speaker != "info" and not line.final:
            self.out.write(text)
            self._live_key, self._live_is_status = line.key, False
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def close(self) -> None:
        """End a live line, so the shell prompt starts on a fresh line."""
        if self.tty and self._live_key is not None:
            self.out.write(_ERASE if self._live_is_status else "\n")
            self._live_key = None
            self.out.flush()
