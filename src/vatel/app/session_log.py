"""The session log of ``--record`` (``messages.jsonl``): one JSON object per wire message, each way.

Every line is a whole message as it crossed the socket, minus its audio, with the time on the
session clock (seconds since the recording opened, monotonic)::

    {"t": 0.412, "dir": "in", "type": "session_started", "data": {"id": "call-1"}}
    {"t": 0.431, "dir": "out", "type": "input_audio", "data": {},
     "audio": {"channel": "left", "offset": 10344, "samples": 480, "dbfs": -38.2}}
    {"t": 1.730, "dir": "in", "type": "response_audio", "data": {"turn_id": "t1", "is_final": false},
     "audio": {"channel": "right", "offset": 41520, "samples": 480}}

``audio`` points into ``session.wav`` (24 kHz stereo): ``offset`` and ``samples`` count samples
of one channel. An agent chunk the app did not play (a late chunk of an interrupted turn, bad
base64) has ``"offset": null``. ``dbfs`` is the RMS level of what was sent (the report's idea of
"the user is speaking"). Lines are written and flushed one at a time, so a killed process leaves
a file whose lines all parse except perhaps the last; :func:`read_log` reads the valid prefix and
says where and why it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from vatel.protocol import InputAudio, Message, MessageError, ResponseAudio

__all__ = ["AudioRef", "LogEntry", "LogError", "LogRead", "entry_for", "read_log"]

Direction = Literal["in", "out"]
Channel = Literal["left", "right"]


class LogError(Exception):
    """A session log (or recording) that cannot be used: one line naming the file and the problem."""


@dataclass(frozen=True)
class AudioRef:
    """Where a message's audio is in ``session.wav``."""

    channel: Channel
    offset: int | None
    """First sample on the channel; ``None``: the audio was not recorded (not played)."""
    samples: int
    dbfs: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"channel": self.channel, "offset": self.offset, "samples": self.samples}
        if self.dbfs is not None:
            out["dbfs"] = round(self.dbfs, 1)
        return out

    @classmethod
    def from_json(cls, value: object) -> AudioRef:
        if not isinstance(value, dict):
            raise ValueError("'audio' is not an object")
        channel, offset, samples, dbfs = (value.get(k) for k in ("channel", "offset", "samples", "dbfs"))
        if channel not in ("left", "right"):
            raise ValueError(f"'audio.channel' is {channel!r}, not 'left' or 'right'")
        if offset is not None and (type(offset) is not int or offset < 0):
            raise ValueError(f"'audio.offset' is {offset!r}, not a sample offset")
        if type(samples) is not int or samples < 0:
            raise ValueError(f"'audio.samples' is {samples!r}, not a sample count")
        if dbfs is not None and not isinstance(dbfs, int | float):
            raise ValueError(f"'audio.dbfs' is {dbfs!r}, not a number")
        return cls(channel, offset, samples, None if dbfs is None else float(dbfs))


@dataclass(frozen=True)
class LogEntry:
    t: float
    dir: Direction
    type: str
    data: Any
    audio: AudioRef | None = None

    def to_json(self) -> bytes:
        """The line (with its newline)."""
        line: dict[str, Any] = {"t": round(self.t, 4), "dir": self.dir, "type": self.type, "data": self.data}
        if self.audio is not None:
            line["audio"] = self.audio.to_json()
        return orjson.dumps(line) + b"\n"

    @classmethod
    def from_json(cls, value: object) -> LogEntry:
        """Raises ``ValueError`` saying what is wrong."""
        if not isinstance(value, dict):
            raise ValueError("not a JSON object")
        t, direction, kind = value.get("t"), value.get("dir"), value.get("type")
        if not isinstance(t, int | float) or isinstance(t, bool) or t < 0:
            raise ValueError(f"'t' is {t!r}, not a time in seconds")
        if direction not in ("in", "out"):
            raise ValueError(f"'dir' is {direction!r}, not 'in' or 'out'")
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"'type' is {kind!r}, not a message type")
        audio = AudioRef.from_json(value["audio"]) if value.get("audio") is not None else None
        return cls(float(t), direction, kind, value.get("data"), audio)

    @property
    def fields(self) -> dict[str, Any]:
        """``data`` as a dict (empty when the message had none, or not an object)."""
        return self.data if isinstance(self.data, dict) else {}


def entry_for(t: float, direction: Direction, message: Message, audio: AudioRef | None = None) -> LogEntry:
    """The log entry of a message: its JSON minus the audio payload."""
    if isinstance(message, ResponseAudio):
        data: Any = {"turn_id": message.data.turn_id, "is_final": message.data.is_final}
    elif isinstance(message, InputAudio):
        data = {}
    else:
        data = message.to_wire().get("data")
    return LogEntry(t, direction, message.type, data, audio)


def audio_samples(message: ResponseAudio | InputAudio) -> int:
    """Samples in a message's audio (0 when its base64 is broken)."""
    try:
        return len(message.data.pcm) // 2
    except MessageError:
        return 0


@dataclass(frozen=True)
class LogRead:
    entries: list[LogEntry]
    problem: str | None = None
    """Why reading stopped before the end (file and line), or ``None``: the whole file was read."""


def read_log(path: Path) -> LogRead:
    """The entries of a session log, up to the first line that is not one.

    A missing or unreadable file is a :class:`LogError`; a bad line (a log cut mid-line by a
    killed process, or edited by hand) ends the read, and :attr:`LogRead.problem` says where.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LogError(f"cannot read {path}: {exc.strerror or exc}") from None
    entries: list[LogEntry] = []
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        try:
            entry = LogEntry.from_json(orjson.loads(line))
        except orjson.JSONDecodeError:
            cut = number == len(lines) and not raw.endswith(b"\n")
            what = "is cut short (the session was killed?)" if cut else "is not valid JSON"
            return LogRead(entries, f"{path} line {number} {what}")
        except ValueError as error:
            return LogRead(entries, f"{path} line {number}: {error}")
        if entries and entry.t < entries[-1].t:
            earlier = entries[-1].t
            return LogRead(entries, f"{path} line {number}: 't' goes back in time ({entry.t} < {earlier})")
        entries.append(entry)
    return LogRead(entries)
