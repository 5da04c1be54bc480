"""``--record DIR``: the session as it happened, written as it goes.

* ``session.wav``: stereo PCM16 24 kHz. Left: the microphone (or input file) as sent, silence
  where nothing was sent. Right: the agent's audio as played, on the same clock. Without a
  speaker (``--output-file``, replay) "as played" is "as received, in order": a chunk starts when
  it arrives or when the previous one ends. With a speaker it is the same model of playout, not
  a tap of the device callback: the prebuffer and the device's own latency are not in it, and a
  turn cut by an interruption keeps the audio that had arrived before the interruption.
* ``messages.jsonl``: every wire message either way (:mod:`vatel.app.session_log`).
* ``report.json``: :mod:`vatel.app.session_report`, rewritten every few seconds and at the end
  (Ctrl-C included), each time whole (written beside, then renamed).

The clock: seconds since the recording opened (just before connecting), the event loop's
monotonic clock, for the WAV and the log alike. Everything runs on the event loop, never in an
audio callback, in small writes: a log line per message (flushed), the WAV up to half a second
ago on each tick. A write that fails (disk full, directory removed) stops the recording with one
warning; the session goes on and what was written stays readable.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson

from vatel.app.errors import SessionError
from vatel.app.session_log import AudioRef, LogEntry, audio_samples, entry_for
from vatel.app.session_report import ReportBuilder
from vatel.audio.errors import WavError
from vatel.audio.pcm import WIRE_RATE, pcm16_dbfs
from vatel.audio.wav import StereoTimeline
from vatel.protocol import ClientMessage, InputAudio, ResponseAudio, ServerMessage, UnknownMessage

__all__ = ["MESSAGES_FILE", "REPORT_FILE", "SESSION_WAV", "SessionRecorder"]

SESSION_WAV = "session.wav"
MESSAGES_FILE = "messages.jsonl"
REPORT_FILE = "report.json"
WAV_LAG = 0.5
"""The WAV is written up to this long ago: audio placed later than that can still land in order."""
REPORT_EVERY = 2.0


class SessionRecorder:
    """Open with :meth:`open` (a :class:`SessionError` when ``DIR`` cannot be written); call
    :meth:`sent`, :meth:`played` and :meth:`received` as things happen, :meth:`tick` now and then,
    and :meth:`close` at the end."""

    def __init__(
        self,
        directory: Path,
        clock: Callable[[], float],
        wav: StereoTimeline,
        log: IO[bytes],
        warn: Callable[[str], None],
    ) -> None:
        self.directory = directory
        self._clock = clock
        self._start = clock()
        self._wav = wav
        self._log = log
        self._warn = warn
        self.report = ReportBuilder()
        self.failed: str | None = None
        self._played: tuple[int, int] | None = None
        """Where the last :meth:`played` audio went (offset, samples), for the message's log line."""
        self._report_due = REPORT_EVERY

    @classmethod
    def open(
        cls, directory: Path, clock: Callable[[], float], warn: Callable[[str], None]
    ) -> SessionRecorder:
        """Create ``directory`` if needed and open the files in it (nothing is connected yet)."""
        if directory.exists() and not directory.is_dir():
            raise SessionError(
                f"--record {directory}: not a directory: give a directory (created if missing)"
            )
        try:
            directory.mkdir(parents=True, exist_ok=True)
            log = (directory / MESSAGES_FILE).open("wb")
        except OSError as exc:
            raise SessionError(
                f"--record {directory}: cannot write there ({exc.strerror or exc}): choose another directory"
            ) from None
        try:
            wav = StereoTimeline(directory / SESSION_WAV, WIRE_RATE)
        except WavError as error:
            log.close()
            raise SessionError(f"--record: {error}: choose another directory") from None
        return cls(directory, clock, wav, log, warn)

    def now(self) -> float:
        return self._clock() - self._start

    # --- what happened ------------------------------------------------------------------------------

    def sent(self, message: ClientMessage) -> None:
        """A message has been sent (its audio goes on the left channel)."""
        if self.failed:
            return
        t = self.now()
        audio = None
        if isinstance(message, InputAudio):
            pcm = message.data.pcm
            offset = self._guard(lambda: self._wav.append_left(pcm, at=t))
            audio = AudioRef("left", offset, len(pcm) // 2, pcm16_dbfs(pcm))
        self._write(entry_for(t, "out", message, audio))

    def played(self, pcm: bytes) -> None:
        """Agent audio handed to the player (the core's ``Record``): it goes on the right channel,
        from now or from the end of what is still playing."""
        if self.failed:
            return
        start = max(round(self.now() * WIRE_RATE), self._wav.right_end)
        offset = self._guard(lambda: self._wav.place_right(start, pcm))
        self._played = None if offset is None else (offset, len(pcm) // 2)

    def received(self, message: ServerMessage | UnknownMessage) -> None:
        """A message from the server, after the core has handled it (so :meth:`played` came first)."""
        if self.failed:
            return
        audio = None
        if isinstance(message, ResponseAudio):
            placed, self._played = self._played, None
            if placed is not None:
                audio = AudioRef("right", placed[0], placed[1])
            else:
                audio = AudioRef("right", None, audio_samples(message))
        self._write(entry_for(self.now(), "in", message, audio))

    # --- keeping the files current ------------------------------------------------------------------

    def tick(self, stats: Callable[[], dict[str, Any]]) -> None:
        """Write the WAV up to half a second ago; rewrite the report every few seconds."""
        if self.failed:
            return
        now = self.now()
        self._guard(lambda: self._wav.flush(max(0, round((now - WAV_LAG) * WIRE_RATE))))
        if now >= self._report_due:
            self._report_due = now + REPORT_EVERY
            self._write_report(stats(), complete=False)

    def close(self, stats: dict[str, Any]) -> None:
        """Write everything and the final report (also after a failure: what can be saved is)."""
        with contextlib.suppress(WavError, OSError):
            self._wav.close()
        with contextlib.suppress(OSError):
            self._log.close()
        if not self.failed:
            self._write_report(stats, complete=True)

    # --- writing ------------------------------------------------------------------------------------

    def _write(self, entry: LogEntry) -> None:
        self.report.add(entry)
        try:
            self._log.write(entry.to_json())
            self._log.flush()
        except OSError as exc:
            self._fail(f"cannot write {self.directory / MESSAGES_FILE}: {exc.strerror or exc}")

    def _write_report(self, stats: dict[str, Any], *, complete: bool) -> None:
        path = self.directory / REPORT_FILE
        spare = path.with_name(REPORT_FILE + ".tmp")
        try:
            report = self.report.report(stats, complete=complete)
            spare.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
            os.replace(spare, path)
        except OSError as exc:
            self._fail(f"cannot write {path}: {exc.strerror or exc}")

    def _guard(self, write: Callable[[], int | None]) -> int | None:
        try:
            return write()
        except WavError as error:
            self._fail(str(error))
            return None

    def _fail(self, reason: str) -> None:
        if self.failed:
            return
        self.failed = reason
        self._warn(f"recording stopped: {reason}; the session goes on, the files keep what was written")
