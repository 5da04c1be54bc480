"""The session core: what the terminal app does with each event, with no I/O and no clock.

Rules (protocol.md §3.3 and §6):

1. The microphone is sent only while the session is ``LIVE``: after ``session_started``, before
   ``session_ended`` or the user's stop, and not while muted (``m``). Frames outside are dropped.
2. Agent audio is played and recorded per ``turn_id``; empty chunks are ignored (an empty final
   chunk still ends its turn); chunks of an interrupted turn are dropped, however late they come.
3. ``interruption`` flushes every turn that has audio queued or playing, at once.
4. Every ``tool_call`` is answered exactly once: with the tool's output, or with an error JSON
   when ``tool_timeout`` seconds pass first (a late output is then dropped).
5. ``session_ended`` or the user's stop closes the socket with 1000; the core then ignores
   everything but the close.
6. When the input ends (the ``--input-file`` is sent, stdin of ``--text`` is at its end: Ctrl-D),
   the session closes with 1000 once the agent is done: nothing heard from the server for
   ``input_end_grace`` seconds, no tool call pending and nothing left to play. Exit code 0.

Time comes in as ``now`` (seconds, any origin) with each event, so tests run a scripted timeline
on a virtual clock. States: ``CONNECTING -> LIVE -> CLOSING -> CLOSED``; ``CLOSED`` sticks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

import orjson

from vatel.app.events import (
    Action,
    Close,
    Disconnected,
    Event,
    Flush,
    InputEnded,
    KeyPress,
    Line,
    MicFrame,
    Play,
    PlaybackFinished,
    Received,
    Record,
    RunTool,
    Send,
    Show,
    StopRequested,
    Tick,
    ToolDone,
)
from vatel.protocol import (
    InputAudio,
    InputAudioTranscript,
    Interruption,
    MessageError,
    ResponseAudio,
    ResponseText,
    SessionEnded,
    SessionStarted,
    SpeechStarted,
    SpeechStopped,
    ToolCall,
    ToolCallOutput,
    ToolCallOutputData,
)

__all__ = ["SessionCore", "SessionState", "SessionStats", "tool_error"]

logger = logging.getLogger("vatel.app")

DEFAULT_TOOL_TIMEOUT = 10.0
DEFAULT_INPUT_END_GRACE = 5.0
"""Seconds of quiet from the server after the input ended before the session closes by itself."""


class SessionState(Enum):
    CONNECTING = "connecting"
    """The socket is open; waiting for ``session_started``."""
    LIVE = "live"
    CLOSING = "closing"
    """The session ended or the user stopped it; the socket is being closed."""
    CLOSED = "closed"


@dataclass
class SessionStats:
    mic_frames_sent: int = 0
    mic_frames_dropped: int = 0
    """Frames not sent: before ``session_started``, after the end, or muted."""
    agent_chunks: int = 0
    late_chunks_dropped: int = 0
    """Agent audio chunks of an interrupted turn that arrived after the interruption."""
    interruptions: int = 0
    tool_calls: int = 0
    tool_timeouts: int = 0
    unknown_messages: int = 0


def tool_error(name: str, error: str) -> str:
    """The output sent when a tool fails: JSON the agent can read."""
    return orjson.dumps({"error": error, "tool": name}).decode()


@dataclass
class _PendingTool:
    name: str
    deadline: float


class SessionCore:
    """Feed :meth:`handle` every event with the current time; carry out the actions it returns."""

    def __init__(
        self, *, tool_timeout: float = DEFAULT_TOOL_TIMEOUT, input_end_grace: float = DEFAULT_INPUT_END_GRACE
    ) -> None:
        if tool_timeout <= 0:
            raise ValueError(f"tool_timeout must be positive, got {tool_timeout}")
        if input_end_grace < 0:
            raise ValueError(f"input_end_grace must not be negative, got {input_end_grace}")
        self.tool_timeout = tool_timeout
        self.input_end_grace = input_end_grace
        self.input_ended = False
        self._quiet_since = 0.0
        """When the server last sent something (or the input ended), for rule 6."""
        self.state = SessionState.CONNECTING
        self.session_id: str | None = None
        self.muted = False
        self.stop_requested = False
        """The user ended the session (the app exits with 130)."""
        self.ended_by_server = False
        self.close_code: int | None = None
        self.stats = SessionStats()
        self._playing: set[str] = set()
        self._interrupted: set[str] = set()
        self._tools: dict[str, _PendingTool] = {}
        self._user_utterance = 0

    def _set_state(self, state: SessionState) -> None:
        if state is not self.state:
            logger.debug("session %s -> %s", self.state.value, state.value)
            self.state = state

    @property
    def pending_tools(self) -> list[str]:
        return list(self._tools)

    # --- the one entry point --------------------------------------------------------------------------

    def handle(self, event: Event, now: float) -> list[Action]:
        if self.state is SessionState.CLOSED:
            return []
        if isinstance(event, MicFrame):
            return self._mic(event)
        if isinstance(event, Received):
            return self._received(event, now)
        if isinstance(event, Tick):
            return self._expire_tools(now) + self._close_when_done(now)
        if isinstance(event, InputEnded):
            return self._input_ended(now)
        if isinstance(event, ToolDone):
            return self._tool_done(event)
        if isinstance(event, PlaybackFinished):
            self._playing.discard(event.turn_id)
            return []
        if isinstance(event, KeyPress):
            return self._key(event)
        if isinstance(event, StopRequested):
            return self._stop()
        if isinstance(event, Disconnected):
            self.close_code = event.code
            self._set_state(SessionState.CLOSED)
            return []
        raise TypeError(f"not a session event: {event!r}")

    # --- microphone and keys ----------------------------------------------------------------------------

    def _mic(self, event: MicFrame) -> list[Action]:
        if self.state is not SessionState.LIVE or self.muted or not event.pcm:
            self.stats.mic_frames_dropped += 1
            return []
        self.stats.mic_frames_sent += 1
        return [Send(InputAudio.from_pcm(event.pcm))]

    def _key(self, event: KeyPress) -> list[Action]:
        if event.key == "m":
            self.muted = not self.muted
            return [Show(Line("status", "microphone muted (m to unmute)" if self.muted else "microphone on"))]
        if event.key == "q":
            return self._stop()
        return []

    def _stop(self) -> list[Action]:
        if self.state in (SessionState.CLOSING, SessionState.CLOSED):
            return []
        self.stop_requested = True
        self._set_state(SessionState.CLOSING)
        return [Show(Line("info", "Closing the session...")), Close(1000)]

    # --- server messages --------------------------------------------------------------------------------

    def _input_ended(self, now: float) -> list[Action]:
        if self.input_ended or self.state not in (SessionState.CONNECTING, SessionState.LIVE):
            return []
        self.input_ended = True
        self._quiet_since = max(self._quiet_since, now)
        return [Show(Line("status", "Input ended: the session closes once the agent has finished."))]

    def _close_when_done(self, now: float) -> list[Action]:
        if (
            not self.input_ended
            or self.state is not SessionState.LIVE
            or self._tools
            or self._playing
            or now - self._quiet_since < self.input_end_grace
        ):
            return []
        self._set_state(SessionState.CLOSING)
        return [Show(Line("info", "The agent has finished: closing the session.")), Close(1000)]

    def _received(self, event: Received, now: float) -> list[Action]:
        message = event.message
        self._quiet_since = now
        if self.state is SessionState.CLOSING and not isinstance(message, SessionEnded):
            return []
        if isinstance(message, ResponseAudio):
            return self._audio(message)
        if isinstance(message, ResponseText):
            text = message.data
            return [Show(Line("agent", text.text, key=f"agent:{text.turn_id}", final=text.is_final))]
        if isinstance(message, InputAudioTranscript):
            heard = message.data
            key = f"user:{heard.turn_id}" if heard.turn_id else f"user#{self._user_utterance}"
            if heard.is_final and not heard.turn_id:
                self._user_utterance += 1
            return [Show(Line("user", heard.transcript, key=key, final=heard.is_final))]
        if isinstance(message, Interruption):
            return self._interruption()
        if isinstance(message, ToolCall):
            return self._tool_call(message, now)
        if isinstance(message, SpeechStarted):
            emulated = " (VAD emulated)" if message.data.emulated else ""
            return [Show(Line("status", f"you are speaking{emulated}"))]
        if isinstance(message, SpeechStopped):
            return [Show(Line("status", "listening"))]
        if isinstance(message, SessionStarted):
            if self.state is not SessionState.CONNECTING:
                return []
            self.session_id = message.data.id
            self._set_state(SessionState.LIVE)
            return [Show(Line("info", f"Session started: {message.data.id}"))]
        if isinstance(message, SessionEnded):
            self.ended_by_server = True
            was_closing = self.state is SessionState.CLOSING
            self._set_state(SessionState.CLOSING)
            ended: list[Action] = [Show(Line("info", "Session ended."))]
            return ended if was_closing else [*ended, Close(1000)]
        self.stats.unknown_messages += 1  # an UnknownMessage: a type this version does not know
        return []

    def _audio(self, message: ResponseAudio) -> list[Action]:
        d = message.data
        if d.turn_id in self._interrupted:
            self.stats.late_chunks_dropped += 1
            return []
        try:
            pcm = d.pcm
        except MessageError as exc:
            return [Show(Line("status", f"skipped an agent audio chunk: {exc.reason}"))]
        if not pcm and not d.is_final:
            return []
        self.stats.agent_chunks += 1
        actions: list[Action] = [Play(d.turn_id, pcm, d.is_final)]
        if pcm:
            actions.append(Record(pcm))
        self._playing.add(d.turn_id)
        return actions

    def _interruption(self) -> list[Action]:
        self.stats.interruptions += 1
        turns = sorted(self._playing)
        self._interrupted.update(turns)
        self._playing.clear()
        return [*(Flush(turn) for turn in turns), Show(Line("status", "(interrupted)"))]

    # --- tools ------------------------------------------------------------------------------------------

    def _tool_call(self, message: ToolCall, now: float) -> list[Action]:
        d = message.data
        self.stats.tool_calls += 1
        if d.toolCallId in self._tools:
            return []  # a repeated call id: the first one will be answered
        self._tools[d.toolCallId] = _PendingTool(d.toolName, now + self.tool_timeout)
        return [
            Show(Line("info", f"Tool: {d.toolName}")),
            RunTool(d.toolCallId, d.toolName, d.argument_values()),
        ]

    def _answer(self, call_id: str, output: str) -> Send:
        return Send(ToolCallOutput(data=ToolCallOutputData(toolCallId=call_id, output=output)))

    def _tool_done(self, event: ToolDone) -> list[Action]:
        if self._tools.pop(event.call_id, None) is None or self.state is not SessionState.LIVE:
            return []
        return [self._answer(event.call_id, event.output)]

    def _expire_tools(self, now: float) -> list[Action]:
        actions: list[Action] = []
        for call_id, pending in list(self._tools.items()):
            if now >= pending.deadline:
                del self._tools[call_id]
                self.stats.tool_timeouts += 1
                if self.state is SessionState.LIVE:
                    error = f"timeout: no output within {self.tool_timeout:g} s"
                    actions.append(self._answer(call_id, tool_error(pending.name, error)))
                    note = f"Tool {pending.name} timed out after {self.tool_timeout:g} s"
                    actions.append(Show(Line("info", note)))
        return actions
