"""The asyncio shell around :class:`SessionCore`: sockets, devices, threads, signals, the terminal.

It holds no session logic. Each task turns something that happened into an event for the core
(a server message, a microphone frame, a tick, a finished tool, a key, Ctrl-C) and carries out
the actions that come back: send, play, flush, show, record, run a tool, close.

Ctrl-C once: the session is closed with 1000, the terminal restored, exit code 130. Ctrl-C twice:
the terminal is restored and the process leaves at once (130).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any, TextIO

import orjson

from vatel.app.config import SessionConfig
from vatel.app.connect import open_session, wind_down
from vatel.app.core import KEY_HINT, SessionCore, SessionState, tool_error
from vatel.app.errors import SessionError
from vatel.app.events import (
    Action,
    Audible,
    Close,
    Disconnected,
    Event,
    Flush,
    Heard,
    InputEnded,
    KeyPress,
    Line,
    MicFrame,
    MuteSpeaker,
    Play,
    PlaybackFinished,
    Received,
    Record,
    RunTool,
    Send,
    Show,
    SpeakText,
    Spoken,
    StopRequested,
    Tick,
    ToolDone,
)
from vatel.app.input_file import file_frames, paced_frames
from vatel.app.live_view import LiveView, Status
from vatel.app.printer import Printer
from vatel.app.recording import SessionRecorder
from vatel.app.terminal import KeyReader
from vatel.app.text_input import Speak, TextSource
from vatel.app.tools import Tools, ToolsError
from vatel.audio.devices import choose, list_devices
from vatel.audio.echo import EchoCanceller
from vatel.audio.errors import AudioError
from vatel.audio.framing import WireFramer
from vatel.audio.jitter import PlayState
from vatel.audio.microphone import Microphone
from vatel.audio.pcm import WIRE_RATE
from vatel.audio.speaker import Speaker
from vatel.audio.speech_end import SILENT_DBFS, frame_dbfs
from vatel.audio.wav import WavWriter
from vatel.client import Client
from vatel.connection import Connection
from vatel.errors import ConnectionClosed, ConnectionClosedError
from vatel.protocol import ClientMessage, InputAudio

__all__ = ["SessionApp", "run_session"]

TICK_SECONDS = 0.1
MAX_SEND_BACKLOG = 250
"""Outgoing messages queued at most (5 s of microphone); past it microphone frames are dropped."""
DRAIN_SECONDS = 10.0
"""After ``session_ended``, how long the agent's last words may still play."""
DEVICE_CLOSE_SECONDS = 3.0
"""How long closing a sound device may take before the session ends without waiting for it."""
MIC_START_LIMIT = 3.0
"""How long to wait for the microphone's first block before connecting (it can take a second)."""


class SessionApp:
    """One ``vatel session``: :meth:`run` returns the exit code (0 or 130) or raises :class:`SessionError`."""

    def __init__(self, config: SessionConfig, out: TextIO | None = None) -> None:
        self.config = config
        self.core = SessionCore(tool_timeout=config.tool_timeout, input_end_grace=config.input_end_grace)
        self.out = out or sys.stdout
        self.printer: Printer | LiveView = Printer(self.out, tty=False if config.plain else None)
        """Lines on a pipe or with ``--plain``; the live view replaces it on a terminal (:meth:`run`)."""
        self.speaker: Speaker | None = None
        self.microphone: Microphone | None = None
        self.echo: EchoCanceller | None = None
        self.recording: WavWriter | None = None
        self.recorder: SessionRecorder | None = None
        """``--record DIR``: told what is sent, played and received (vatel.app.recording)."""
        self.keys = KeyReader(lambda key: self.feed(KeyPress(key)))
        self._conn: Connection | None = None
        self._outbox: asyncio.Queue[ClientMessage] = asyncio.Queue()
        self._closing: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        """Set when the session is to end (the core's close, or Ctrl-C)."""
        self._interrupted = asyncio.Event()
        self._interrupts = 0
        self._live = asyncio.Event()
        """Set at ``session_started``: an input file starts then, not before (its start would be lost)."""
        self._tools = Tools()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._speak: Speak | None = None
        self._voicing = asyncio.Lock()
        self._voice_tasks: set[asyncio.Task[None]] = set()
        self._first_played: dict[str, float] = {}
        """With no speaker: when each turn's first chunk came (it is "heard" from then, in real time)."""

    # --- the core, and what its actions mean here ---------------------------------------------------

    def feed(self, event: Event) -> None:
        assert self._loop is not None
        for action in self.core.handle(event, self._loop.time()):
            self._apply(action)
        if self.core.state is SessionState.LIVE and not self._live.is_set():
            self._live.set()
        if isinstance(event, KeyPress):
            self._refresh_view()  # a typed character shows at once, not at the next tick

    def _apply(self, action: Action) -> None:
        if isinstance(action, Send):
            if isinstance(action.message, InputAudio) and self._outbox.qsize() >= MAX_SEND_BACKLOG:
                return
            self._outbox.put_nowait(action.message)
        elif isinstance(action, Play):
            if self.speaker is not None:
                self.speaker.play(action.turn_id, action.pcm, action.final)
            else:
                self._played_without_speaker(action)
        elif isinstance(action, Flush):
            self._flush(action.turn_id)
        elif isinstance(action, MuteSpeaker):
            if self.speaker is not None and self.speaker.buffer is not None:
                self.speaker.buffer.muted = action.muted
        elif isinstance(action, SpeakText):
            task = asyncio.ensure_future(self._voice_line(action.text))
            self._voice_tasks.add(task)
            task.add_done_callback(self._voice_tasks.discard)
        elif isinstance(action, Show):
            self.printer.show(action.line)
        elif isinstance(action, Record):
            if self.recording is not None:
                self.recording.write(action.pcm)
            if self.recorder is not None:
                self.recorder.played(action.pcm)
        elif isinstance(action, RunTool):
            self._run_tool(action)
        elif isinstance(action, Close):
            self._stop.set()
            if self._conn is not None and self._closing is None:
                self._closing = asyncio.ensure_future(self._conn.close(action.code))

    def _played_without_speaker(self, action: Play) -> None:
        """No speaker (``--output-file``): a turn is heard, in real time, from its first sound on."""
        assert self._loop is not None
        now = self._loop.time()
        if action.turn_id not in self._first_played and frame_dbfs(action.pcm) > -60:
            self._first_played[action.turn_id] = now
            self.feed(Audible(action.turn_id, now))
        if action.final:
            self.feed(PlaybackFinished(action.turn_id))  # nothing plays: the turn is done

    def _flush(self, turn_id: str) -> None:
        """Stop the turn, and tell the core how much of it was heard (its text is cut there)."""
        assert self._loop is not None
        now = self._loop.time()
        buffer = self.speaker.buffer if self.speaker is not None else None
        if self.speaker is not None and buffer is not None:
            self.speaker.flush(turn_id)
            heard = buffer.heard_seconds(turn_id, now)
        else:
            heard = now - self._first_played.get(turn_id, now)
        self.feed(Heard(turn_id, heard))

    async def _voice_line(self, text: str) -> None:
        """Voice a typed line off the loop, one at a time and in order; the core sends its frames."""
        async with self._voicing:
            if self._speak is None and self.config.text is None:
                self.printer.show(Line("status", "loading a local voice for typed lines..."))
            try:
                frames = await asyncio.to_thread(self._voice_frames, text)
            except Exception as exc:  # a voice that fails (or is missing) must not end the session
                self.printer.show(Line("info", f"could not voice the typed line: {exc}"))
                return
        self.feed(Spoken(text, frames))

    def _voice_frames(self, text: str) -> tuple[bytes, ...]:
        if self._speak is None:
            if self.config.text is not None:
                self._speak = self.config.text.speak
            elif self.config.voice is not None:
                self._speak = self.config.voice()
            else:
                raise SessionError("no voice to say typed lines with")
        framer = WireFramer(WIRE_RATE)
        return tuple(framer.push(self._speak(text)) + framer.finish())

    def _refresh_view(self) -> None:
        if not isinstance(self.printer, LiveView):
            return
        core = self.core
        agent_db = SILENT_DBFS
        buffer = self.speaker.buffer if self.speaker is not None else None
        if buffer is not None and buffer.state is PlayState.PLAYING and buffer.peak > 0:
            agent_db = 20 * math.log10(buffer.peak)
        self.printer.refresh(
            Status(
                activity=core.activity.value if core.state is SessionState.LIVE else core.state.value,
                mic_db=core.speech.peak,
                agent_db=agent_db,
                mic_muted=core.muted,
                speaker_muted=core.speaker_muted,
                push_to_talk=core.push_to_talk,
                talking=core.talking,
                latency_ms=1000 * core.latency.seconds[-1] if core.latency.seconds else None,
                keys=KEY_HINT if self.keys.active else "",
                prompt=core.prompt,
            )
        )

    def _run_tool(self, action: RunTool) -> None:
        """A daemon thread per call: a tool that hangs must not hold up the exit."""
        loop = self._loop
        assert loop is not None

        def work() -> None:
            try:
                output = self._tools.run(action.name, action.arguments)
            except BaseException as exc:  # Tools.run does not raise; this is the last guard
                output = tool_error(action.name, f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(RuntimeError):  # the loop is gone: the session is over
                loop.call_soon_threadsafe(self.feed, ToolDone(action.call_id, output))

        threading.Thread(target=work, name=f"tool-{action.name}", daemon=True).start()

    # --- running -------------------------------------------------------------------------------------

    async def run(self) -> int:
        self._loop = asyncio.get_running_loop()
        frames = self._prepare()
        self._install_signals()
        try:
            if not self.config.plain and self.config.text is None and self.out.isatty():
                self.printer = LiveView(self.out)
            self._open_devices()
            if self.microphone is not None:
                await self.microphone.ready(MIC_START_LIMIT)
            async with Client(
                api_key=self.config.api_key, base_url=self.config.base_url, max_retries=1
            ) as client:
                opening = asyncio.ensure_future(open_session(client, self.config))
                stopped = asyncio.ensure_future(self._stop.wait())
                await asyncio.wait({opening, stopped}, return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
                if not opening.done():  # Ctrl-C while connecting
                    opening.cancel()
                    with contextlib.suppress(asyncio.CancelledError, SessionError):
                        await opening
                    return 130
                self._conn = opening.result()
                if self.config.text is None:
                    self.keys.start()  # in typing mode stdin carries lines, not keys
                await self._session(self._source(frames))
        finally:
            self.keys.restore()
            self._say_latency()
            self.printer.close()
            self._close_devices()
            self._remove_signals()
            self._write_stats()
            if self.recorder is not None:
                self.recorder.close(self.stats())
        return 130 if self.user_stopped else 0

    def _say_latency(self) -> None:
        summary = self.core.latency.summary()
        if summary is not None:
            turns = summary["turns"]
            p50, p95, plural = summary["p50_ms"], summary["p95_ms"], "s" if turns != 1 else ""
            said = f"turn latency p50 {p50:.0f} ms, p95 {p95:.0f} ms over {turns} turn{plural}"
            self.printer.show(Line("info", f"{said} (end of your speech to the agent's first sound)"))

    @property
    def user_stopped(self) -> bool:
        """The user ended the session (Ctrl-C or ``q``): the exit code is 130."""
        return self.core.stop_requested or self._interrupted.is_set()

    def _prepare(self) -> list[bytes] | None:
        """Load what can fail before any device or network is touched."""
        try:
            if self.config.tools is not None:
                self._tools = Tools.load(self.config.tools)
            frames = file_frames(self.config.input_file) if self.config.input_file is not None else None
        except (ToolsError, AudioError) as error:
            raise SessionError(str(error)) from None
        if self.config.record is not None:  # last: nothing is created when something else is wrong
            assert self._loop is not None
            note = lambda text: self.printer.show(Line("info", text))  # noqa: E731
            self.recorder = SessionRecorder.open(self.config.record, self._loop.time, note)
        return frames

    def _open_devices(self) -> None:
        try:
            if self.config.output_file is not None:
                self.recording = WavWriter(self.config.output_file, WIRE_RATE)
            needs_microphone = self.config.input_file is None and self.config.text is None
            if self.config.output_file is None or needs_microphone:
                devices = list_devices()
                if self.config.output_file is None:
                    self.speaker = Speaker(
                        choose(devices, self.config.output_device, "output"), prebuffer=self.config.prebuffer
                    )
                    self.speaker.start()
                if needs_microphone:
                    # Opened before connecting: a stream's first few hundred ms can be lost to start-up.
                    self.microphone = Microphone(choose(devices, self.config.input_device, "input"))
                    self.microphone.start()
                if self.config.echo_cancellation and self.speaker is not None and self.microphone is not None:
                    # The speaker heard again by the microphone must not reach the agent (issue 7).
                    self.echo = EchoCanceller(self.speaker.rate)
                    self.speaker.tap = self.echo.tap
        except AudioError as error:
            raise SessionError(str(error)) from None

    def _source(self, frames: list[bytes] | None) -> list[bytes] | AsyncIterator[bytes]:
        if frames is not None:
            return frames
        if self.config.text is not None:
            return self._text_frames()
        return self._microphone_frames()

    async def _text_frames(self) -> AsyncIterator[bytes]:
        assert self.config.text is not None
        source = TextSource(
            self.config.text,
            on_error=lambda error: self.printer.show(Line("info", error)),
            on_end=lambda: self.feed(InputEnded()),
        )
        await self._live.wait()
        async for frame in source.frames():
            yield frame

    async def _microphone_frames(self) -> AsyncIterator[bytes]:
        assert self.microphone is not None
        async for frame in self.microphone.frames(self.echo):
            yield frame

    async def _session(self, frames: list[bytes] | AsyncIterator[bytes]) -> None:
        conn = self._conn
        assert conn is not None
        source = self._file_source(frames) if isinstance(frames, list) else frames
        helpers = [
            asyncio.ensure_future(self._send_loop(conn)),
            asyncio.ensure_future(self._mic_loop(source)),
            asyncio.ensure_future(self._tick_loop()),
        ]
        failure: ConnectionClosedError | None = None
        try:
            try:
                async for message in conn.stream_messages():
                    self.feed(Received(message))
                    if self.recorder is not None:
                        self.recorder.received(message)
            except ConnectionClosedError as error:
                failure = error
            self.feed(Disconnected(conn.close_code, conn.close_reason or ""))
            if self.speaker is not None and self.core.ended_by_server and not self.user_stopped:
                draining = asyncio.ensure_future(self.speaker.drain(DRAIN_SECONDS))
                interrupted = asyncio.ensure_future(self._interrupted.wait())
                await asyncio.wait({draining, interrupted}, return_when=asyncio.FIRST_COMPLETED)
                for task in (draining, interrupted):
                    task.cancel()
        finally:
            await wind_down(conn, helpers, self._closing)
        if failure is not None and not self.user_stopped:
            raise SessionError(f"the session broke off: {failure}")

    async def _file_source(self, frames: list[bytes]) -> AsyncIterator[bytes]:
        await self._live.wait()
        if not frames:
            self.feed(InputEnded())
        sent = 0
        async for frame in paced_frames(frames):
            yield frame
            sent += 1
            if sent == len(frames):
                self.feed(InputEnded())

    async def _send_loop(self, conn: Connection) -> None:
        while True:
            message = await self._outbox.get()
            try:
                await conn.send(message)
            except ConnectionClosed:
                return  # the receive loop sees the close and ends the session
            if self.recorder is not None:
                self.recorder.sent(message)

    async def _mic_loop(self, frames: AsyncIterator[bytes]) -> None:
        microphone = self.microphone if self.config.input_file is None and self.config.text is None else None
        async for frame in frames:
            self.feed(MicFrame(frame, microphone.captured_until if microphone is not None else None))

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            self.feed(Tick())
            if self.recorder is not None:
                self.recorder.tick(self.stats)
            if self.speaker is not None:
                for turn_id in self.speaker.finished_turns():
                    self.feed(PlaybackFinished(turn_id))
                if self.speaker.buffer is not None:
                    for turn_id, at in self.speaker.buffer.audible_turns():
                        self.feed(Audible(turn_id, at))
            self._refresh_view()

    # --- signals, devices, stats ---------------------------------------------------------------------

    def _install_signals(self) -> None:
        assert self._loop is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                self._loop.add_signal_handler(sig, self._on_interrupt)

    def _remove_signals(self) -> None:
        assert self._loop is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                self._loop.remove_signal_handler(sig)

    def _on_interrupt(self) -> None:
        self._interrupts += 1
        if self._interrupts == 1:
            self._interrupted.set()
            self._stop.set()
            self.feed(StopRequested())
            return
        self.keys.restore()
        self.printer.close()
        sys.stderr.write("interrupted twice: leaving at once\n")
        sys.stderr.flush()
        os._exit(130)

    def _close_devices(self) -> None:
        """Close the streams, each in a daemon thread given :data:`DEVICE_CLOSE_SECONDS`.

        Aborting a PortAudio stream can block inside the host API (ALSA through PulseAudio, on a
        loaded machine): the session must still end, so a stream that does not close in time is
        reported and left to the operating system at exit.
        """
        for device in (self.microphone, self.speaker):
            if device is None:
                continue
            closing = threading.Thread(
                target=_close_quietly, args=(device,), name="close-device", daemon=True
            )
            closing.start()
            closing.join(DEVICE_CLOSE_SECONDS)
            if closing.is_alive():
                self.printer.show(
                    Line(
                        "info",
                        f"the sound device did not close within {DEVICE_CLOSE_SECONDS:g} s; leaving it",
                    )
                )
        if self.recording is not None:
            self.recording.close()

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = {"session_id": self.core.session_id, **asdict(self.core.stats)}
        if self.speaker is not None and self.speaker.buffer is not None:
            buffer = self.speaker.buffer
            stats["speaker"] = {
                "rate": self.speaker.rate,
                "underruns": buffer.underruns,
                "device_underflows": self.speaker.device_underflows,
                "played_seconds": buffer.played_samples / buffer.rate,
                "dropped_seconds": buffer.dropped_samples / buffer.rate,
            }
        if self.microphone is not None:
            stats["microphone"] = {
                "rate": self.microphone.rate,
                "overflows": self.microphone.overflows,
                "dropped_blocks": self.microphone.dropped_blocks,
            }
        if self.echo is not None:
            stats["echo"] = {**self.echo.stats.as_dict(), "far_dropped": self.echo.tap.dropped}
        latency = self.core.latency
        stats["turn_latency"] = {
            **(latency.summary() or {"turns": 0}),
            "ms": [round(1000 * seconds, 1) for seconds in latency.seconds],
        }
        if isinstance(self.printer, LiveView):
            stats["view_redraws"] = self.printer.redraws
        return stats

    def _write_stats(self) -> None:
        if self.config.stats_file is not None:
            with contextlib.suppress(OSError):
                self.config.stats_file.write_bytes(orjson.dumps(self.stats(), option=orjson.OPT_INDENT_2))


def _close_quietly(device: Microphone | Speaker) -> None:
    with contextlib.suppress(Exception):
        device.close()


def run_session(config: SessionConfig) -> int:
    """Run one session: the exit code (0, or 130 after Ctrl-C); :class:`SessionError` on failure."""
    return asyncio.run(SessionApp(config).run())
