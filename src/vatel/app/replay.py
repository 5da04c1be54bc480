"""``vatel replay DIR``: drive a server again with what a recorded session sent, and collect what comes back.

The user's side comes from the recording: each ``input_audio`` frame of ``messages.jsonl``, cut
from the left channel of ``session.wav`` at its offset, is sent at its recorded time (counted
from ``session_started``, at real-time pace); each ``tool_call`` is answered with the output
recorded for the same tool name, in order, after the recorded delay (a call the recording has no
output for gets an error JSON, as a tool that fails would). The session closes when the server
ends it, or a little after the last frame (the recorded run's tail, plus :data:`CLOSE_SLACK`).

The new run goes through the same :class:`~vatel.app.core.SessionCore` and
:class:`~vatel.app.recording.SessionRecorder` as ``vatel session`` (into ``--record DIR``, or a
temporary directory), so the recorded run and the replay are measured the same way.

A damaged recording: a missing or unreadable log or WAV, a WAV that is not PCM16 stereo 24 kHz, or a
log with no ``session_started`` is a :class:`~vatel.app.session_log.LogError` naming the file.
A log cut short (a killed session) or with a bad line is replayed up to that line, with a warning
that names the file and the line; frames whose audio is past the end of the WAV (the last half
second of a killed session) are dropped, with a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import wave
from array import array
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vatel.app.config import SessionConfig
from vatel.app.connect import open_session, wind_down
from vatel.app.core import SessionCore, SessionState, tool_error
from vatel.app.errors import SessionError
from vatel.app.events import (
    Action,
    Close,
    Disconnected,
    Event,
    MicFrame,
    Play,
    PlaybackFinished,
    Received,
    Record,
    RunTool,
    Send,
    Tick,
    ToolDone,
)
from vatel.app.recording import MESSAGES_FILE, SESSION_WAV, SessionRecorder
from vatel.app.session_log import LogEntry, LogError, read_log
from vatel.app.session_report import ReportBuilder
from vatel.audio.pcm import WIRE_RATE
from vatel.client import Client
from vatel.connection import Connection
from vatel.errors import ConnectionClosed, ConnectionClosedError
from vatel.protocol import ClientMessage

__all__ = ["CLOSE_SLACK", "Recording", "Replay", "load_recording"]

CLOSE_SLACK = 2.0
"""Seconds after the recorded tail before the replay closes a session the server has not ended."""
TICK_SECONDS = 0.1
START_LIMIT = 30.0
"""Seconds to wait for ``session_started`` before giving up."""


@dataclass
class Recording:
    directory: Path
    entries: list[LogEntry]
    frames: list[tuple[float, bytes]]
    """Each ``input_audio`` sent: seconds after ``session_started``, and its PCM16."""
    tool_outputs: dict[str, deque[tuple[float, str]]]
    """Per tool name, in call order: (seconds from the call to its output, the output)."""
    tail: float
    """Seconds from the last frame sent to the last message of the log."""
    warnings: list[str] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        builder = ReportBuilder()
        for entry in self.entries:
            builder.add(entry)
        return builder.report()


def load_recording(directory: Path) -> Recording:
    """Read a ``--record`` directory (:class:`LogError` when it cannot be replayed at all)."""
    if not directory.is_dir():
        raise LogError(f"{directory} is not a recording directory (vatel session --record DIR makes one)")
    read = read_log(directory / MESSAGES_FILE)
    warnings = (
        [] if read.problem is None else [f"{read.problem}: replaying the {len(read.entries)} lines before it"]
    )
    entries = read.entries
    started = next((e.t for e in entries if e.dir == "in" and e.type == "session_started"), None)
    if started is None:
        if read.problem is not None:
            raise LogError(f"{read.problem}, and no session_started before it: nothing to replay")
        raise LogError(
            f"{directory / MESSAGES_FILE} has no session_started: the session never began, nothing to replay"
        )
    wav_path = directory / SESSION_WAV
    left = _left_channel(wav_path)
    wav_samples = len(left) // 2
    frames: list[tuple[float, bytes]] = []
    beyond = 0
    for entry in entries:
        if (
            entry.dir != "out"
            or entry.type != "input_audio"
            or entry.audio is None
            or entry.audio.offset is None
        ):
            continue
        start, end = entry.audio.offset, entry.audio.offset + entry.audio.samples
        if end > wav_samples:
            beyond += 1
            continue
        frames.append((entry.t - started, left[start * 2 : end * 2]))
    if beyond:
        warnings.append(
            f"{beyond} frame(s) of {directory / MESSAGES_FILE} are past the end of {wav_path} "
            "(the session was killed?): they are not sent"
        )
    calls: dict[str, tuple[str, float]] = {}
    answers: dict[str, tuple[float, str]] = {}
    for entry in entries:
        data = entry.fields
        if entry.dir == "in" and entry.type == "tool_call":
            call_id = str(data.get("toolCallId", data.get("tool_call_id", "")))
            calls.setdefault(call_id, (str(data.get("toolName", data.get("tool_name", ""))), entry.t))
        elif entry.dir == "out" and entry.type == "tool_call_output":
            call_id = str(data.get("toolCallId", ""))
            if call_id in calls and call_id not in answers:
                answers[call_id] = (entry.t - calls[call_id][1], str(data.get("output", "")))
    tool_outputs: dict[str, deque[tuple[float, str]]] = defaultdict(deque)
    for call_id, (name, _) in calls.items():  # in the order the calls came
        if call_id in answers:
            tool_outputs[name].append(answers[call_id])
    last_frame = frames[-1][0] + started if frames else started
    tail = max(0.0, entries[-1].t - last_frame)
    return Recording(directory, entries, frames, dict(tool_outputs), tail, warnings)


def _left_channel(path: Path) -> bytes:
    """The left channel of a recording's WAV (PCM16 stereo 24 kHz), read a block at a time."""
    try:
        with wave.open(str(path), "rb") as wav:
            shape = (wav.getnchannels(), wav.getsampwidth(), wav.getframerate())
            if shape != (2, 2, WIRE_RATE):
                raise LogError(
                    f"{path} is {shape[0]} channel(s) of {shape[1] * 8}-bit samples at {shape[2]} Hz, "
                    f"not the 16-bit stereo {WIRE_RATE} Hz of a recording"
                )
            left = bytearray()
            while block := wav.readframes(WIRE_RATE * 10):
                left += _left_of(block)
            return bytes(left)
    except OSError as exc:
        raise LogError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (wave.Error, EOFError) as exc:
        raise LogError(f"{path} is not a WAV file a recording writes ({exc or 'cut short'})") from None


def _left_of(block: bytes) -> bytes:
    """Every other 2-byte sample of interleaved stereo PCM16: the left channel, bytes unchanged."""
    samples = array("h")
    samples.frombytes(block[: len(block) // 4 * 4])
    return samples[0::2].tobytes()


class Replay:
    """One replay: :meth:`run` returns the new run's report (:class:`SessionError` on failure)."""

    def __init__(self, recording: Recording, config: SessionConfig) -> None:
        self.recording = recording
        self.config = config
        self.core = SessionCore(tool_timeout=config.tool_timeout)
        self.recorder: SessionRecorder | None = None
        self.notes: list[str] = []
        self._outputs = {name: deque(outputs) for name, outputs in recording.tool_outputs.items()}
        self._conn: Connection | None = None
        self._outbox: asyncio.Queue[ClientMessage] = asyncio.Queue()
        self._live = asyncio.Event()
        self._closing: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def feed(self, event: Event) -> None:
        assert self._loop is not None
        for action in self.core.handle(event, self._loop.time()):
            self._apply(action)
        if self.core.state is SessionState.LIVE:
            self._live.set()

    def _apply(self, action: Action) -> None:
        assert self.recorder is not None
        if isinstance(action, Send):
            self._outbox.put_nowait(action.message)
        elif isinstance(action, Record):
            self.recorder.played(action.pcm)
        elif isinstance(action, Play) and action.final:
            self.feed(PlaybackFinished(action.turn_id))  # nothing plays
        elif isinstance(action, RunTool):
            self._answer(action)
        elif isinstance(action, Close):
            self._close(action.code)

    def _close(self, code: int = 1000) -> None:
        if self._conn is not None and self._closing is None:
            self._closing = asyncio.ensure_future(self._conn.close(code))

    def _answer(self, action: RunTool) -> None:
        assert self._loop is not None
        recorded = self._outputs.get(action.name)
        if recorded:
            delay, output = recorded.popleft()
        else:
            delay, output = 0.0, tool_error(action.name, "the recording has no output for this call")
            self.notes.append(f"tool call {action.name}: no recorded output left, answered with an error")
        self._loop.call_later(delay, self.feed, ToolDone(action.call_id, output))

    async def run(self) -> dict[str, Any]:
        self._loop = asyncio.get_running_loop()
        with contextlib.ExitStack() as stack:
            directory = self.config.record
            if directory is None:
                directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vatel-replay-")))
            self.recorder = SessionRecorder.open(directory, self._loop.time, self.notes.append)
            try:
                async with Client(
                    api_key=self.config.api_key, base_url=self.config.base_url, max_retries=1
                ) as client:
                    self._conn = await open_session(client, self.config)
                    await self._session(self._conn)
            finally:
                self.recorder.close({"session_id": self.core.session_id})
            return self.recorder.report.report()

    async def _session(self, conn: Connection) -> None:
        helpers = [
            asyncio.ensure_future(self._send_loop(conn)),
            asyncio.ensure_future(self._frames()),
            asyncio.ensure_future(self._ticks()),
        ]
        failure: ConnectionClosedError | None = None
        try:
            try:
                async for message in conn.stream_messages():
                    self.feed(Received(message))
                    assert self.recorder is not None
                    self.recorder.received(message)
            except ConnectionClosedError as error:
                failure = error
            self.feed(Disconnected(conn.close_code, conn.close_reason or ""))
        finally:
            await wind_down(conn, helpers, self._closing)
        if failure is not None:
            raise SessionError(f"the session broke off: {failure}")

    async def _frames(self) -> None:
        """Each recorded frame at its time after ``session_started``; then close after the tail."""
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(self._live.wait(), START_LIMIT)
        except TimeoutError:
            self.notes.append(f"the server sent no session_started within {START_LIMIT:g} s: closing")
            self._close()
            return
        start = loop.time()
        for at, pcm in self.recording.frames:
            delay = start + at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.feed(MicFrame(pcm))
        last = self.recording.frames[-1][0] if self.recording.frames else 0.0
        await asyncio.sleep(max(0.0, start + last + self.recording.tail + CLOSE_SLACK - loop.time()))
        self._close()

    async def _send_loop(self, conn: Connection) -> None:
        while True:
            message = await self._outbox.get()
            try:
                await conn.send(message)
            except ConnectionClosed:
                return
            assert self.recorder is not None
            self.recorder.sent(message)

    async def _ticks(self) -> None:
        assert self.recorder is not None
        while True:
            await asyncio.sleep(TICK_SECONDS)
            self.feed(Tick())
            self.recorder.tick(lambda: {"session_id": self.core.session_id})
