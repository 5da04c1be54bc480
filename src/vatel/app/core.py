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

7. Keys (:data:`KEYS`): ``m`` mutes the microphone (frames dropped); ``s`` mutes the speaker (it
   plays silence; playback and its accounting go on); ``t`` turns push-to-talk on or off, and in
   push-to-talk ``space`` starts and stops talking (terminals send no key-up: a toggle, not a
   hold), silence being sent while not talking; ``/`` or Enter opens a one-line prompt (Enter
   sends, Esc cancels, Backspace erases) whose line is voiced locally and sent in place of the
   microphone, with silence after it; ``?`` lists the keys; ``q`` quits. Other keys only hint.
8. On an interruption, the text of each flushed turn is shown again split at what was heard
   (:class:`Heard`, from the playout position; :mod:`vatel.app.heard`).
9. A local VAD on what the user says (:mod:`vatel.audio.speech_end`) times each turn: the end of
   speech to the next turn's first audible sample (:class:`Audible`; :mod:`vatel.app.latency`).

Time comes in as ``now`` (seconds, any origin) with each event, so tests run a scripted timeline
on a virtual clock. States: ``CONNECTING -> LIVE -> CLOSING -> CLOSED``; ``CLOSED`` sticks.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from enum import Enum

import orjson

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
from vatel.app.heard import split_heard
from vatel.app.latency import TurnLatency
from vatel.audio.speech_end import SpeechEnd
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

__all__ = ["KEYS", "KEY_HINT", "Activity", "SessionCore", "SessionState", "SessionStats", "tool_error"]

logger = logging.getLogger("vatel.app")

DEFAULT_TOOL_TIMEOUT = 10.0
DEFAULT_INPUT_END_GRACE = 5.0
"""Seconds of quiet from the server after the input ended before the session closes by itself."""


KEYS = (
    ("m", "mute / unmute the microphone"),
    ("s", "mute / unmute the speaker (the agent goes on talking)"),
    ("t", "push-to-talk on / off"),
    ("space", "push-to-talk: start / stop talking (silence is sent otherwise)"),
    ("/ or Enter", "type a line: it is voiced here and sent (Enter sends, Esc cancels)"),
    ("?", "these keys"),
    ("q", "end the session"),
)
KEY_HINT = "m mic  s speaker  t push-to-talk  space talk  / type  ? keys  q quit"
TYPED_SILENCE = 1.2
"""Seconds of silence sent after a typed line, so the server's VAD ends the turn."""
THINKING_LIMIT = 10.0
"""Seconds after the user's end of speech with no answer before the state goes back to listening."""
_FRAME_SECONDS = 0.02
_WIRE_RATE = 24_000
_WIRE_FRAME_BYTES = 960
_ENTER = ("\r", "\n")
_ERASE = ("\x7f", "\x08")


class Activity(Enum):
    """What the conversation is doing, for the status bar."""

    LISTENING = "listening"
    USER_SPEAKING = "user speaking"
    THINKING = "thinking"
    AGENT_SPEAKING = "agent speaking"


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
    typed_lines: int = 0
    ptt_silenced_frames: int = 0
    """Microphone frames replaced by silence in push-to-talk while not talking."""


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
        self.speaker_muted = False
        self.push_to_talk = False
        self.talking = False
        """In push-to-talk: the microphone is sent (space toggles it)."""
        self.prompt: str | None = None
        """The line being typed after ``/`` or Enter; ``None`` when no prompt is open."""
        self._typed: deque[bytes] = deque()
        self.speech = SpeechEnd()
        self.latency = TurnLatency()
        self._server_hears_speech = False
        self._awaiting_answer = False
        self._awaiting_since = 0.0
        self._agent_text: dict[str, str] = {}
        self._agent_samples: dict[str, int] = {}
        self._agent_complete: set[str] = set()
        self._split_shown: set[str] = set()

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
            return self._mic(event, now)
        if isinstance(event, Received):
            return self._received(event, now)
        if isinstance(event, Tick):
            if self._awaiting_answer and now - self._awaiting_since > THINKING_LIMIT:
                self._awaiting_answer = False  # no answer is coming: back to listening
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
        if isinstance(event, Spoken):
            return self._spoken(event)
        if isinstance(event, Heard):
            return self._heard(event)
        if isinstance(event, Audible):
            return self._audible(event)
        if isinstance(event, StopRequested):
            return self._stop()
        if isinstance(event, Disconnected):
            self.close_code = event.code
            self._set_state(SessionState.CLOSED)
            return []
        raise TypeError(f"not a session event: {event!r}")

    # --- microphone and keys ----------------------------------------------------------------------------

    @property
    def activity(self) -> Activity:
        if self._playing:
            return Activity.AGENT_SPEAKING
        if self.speech.speaking or self._server_hears_speech:
            return Activity.USER_SPEAKING
        if self._awaiting_answer:
            return Activity.THINKING
        return Activity.LISTENING

    def _mic(self, event: MicFrame, now: float) -> list[Action]:
        if self.state is not SessionState.LIVE or not event.pcm:
            self.stats.mic_frames_dropped += 1
            return []
        if event.at is not None:
            now = event.at  # the VAD times speech at the microphone
        pcm = event.pcm
        if self._typed:
            pcm = self._typed.popleft()  # a typed line is being said: the microphone waits
        elif self.muted:
            self.stats.mic_frames_dropped += 1
            return self._voice(b"", now)
        elif self.push_to_talk and not self.talking:
            self.stats.ptt_silenced_frames += 1
            pcm = bytes(len(pcm))
        self.stats.mic_frames_sent += 1
        return [Send(InputAudio.from_pcm(pcm)), *self._voice(pcm, now)]

    def _voice(self, pcm: bytes, now: float) -> list[Action]:
        """The local VAD on what the agent is sent (nothing, when muted): the latency's start."""
        edge = self.speech.push(pcm, now)
        if edge is None:
            return []
        if edge.started:
            self.latency.speech_started()
            self._awaiting_answer = False
            return []
        self._awaiting_answer, self._awaiting_since = True, now
        return self._latency_line(self.latency.speech_ended(edge.at))

    def _key(self, event: KeyPress) -> list[Action]:
        key = event.key
        if self.prompt is not None:
            return self._prompt_key(key)
        if key == "m":
            self.muted = not self.muted
            return [Show(Line("status", "microphone muted (m to unmute)" if self.muted else "microphone on"))]
        if key == "s":
            self.speaker_muted = not self.speaker_muted
            note = "speaker muted (s to unmute)" if self.speaker_muted else "speaker on"
            return [MuteSpeaker(self.speaker_muted), Show(Line("status", note))]
        if key == "t":
            self.push_to_talk, self.talking = not self.push_to_talk, False
            on = "push-to-talk: press space to talk"
            return [Show(Line("status", on if self.push_to_talk else "push-to-talk off: always listening"))]
        if key == " ":
            if not self.push_to_talk:
                return [Show(Line("status", "space talks in push-to-talk mode (t turns it on)"))]
            self.talking = not self.talking
            note = "talking (space to stop)" if self.talking else "not talking (space to talk)"
            return [Show(Line("status", note))]
        if key == "/" or key in _ENTER:
            self.prompt = ""
            return [Show(Line("prompt", ""))]
        if key == "?":
            return [Show(Line("info", f"  {name:<11} {what}")) for name, what in KEYS]
        if key == "q":
            return self._stop()
        return [Show(Line("status", f"keys: {KEY_HINT}"))]

    def _prompt_key(self, key: str) -> list[Action]:
        assert self.prompt is not None
        if key in _ENTER:
            line, self.prompt = self.prompt.strip(), None
            if not line or self.state is not SessionState.LIVE:
                return [Show(Line("status", "nothing typed" if not line else "the session is not live"))]
            return [SpeakText(line), Show(Line("status", f"voicing: {line}"))]
        if key == "\x1b":
            self.prompt = None
            return [Show(Line("status", "typing cancelled"))]
        if key in _ERASE:
            self.prompt = self.prompt[:-1]
        elif key.isprintable():
            self.prompt += key
        else:
            return []
        return [Show(Line("prompt", self.prompt))]

    def _spoken(self, event: Spoken) -> list[Action]:
        if self.state is not SessionState.LIVE:
            return []
        self.stats.typed_lines += 1
        self._typed.extend(event.frames)
        self._typed.extend([bytes(_WIRE_FRAME_BYTES)] * round(TYPED_SILENCE / _FRAME_SECONDS))
        return [Show(Line("info", f"(typed) {event.text}"))]

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
            if text.turn_id in self._split_shown:
                return []  # shown already, cut at what was heard
            self._agent_text[text.turn_id] = text.text
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
            self._server_hears_speech = True
            emulated = " (VAD emulated)" if message.data.emulated else ""
            return [Show(Line("status", f"you are speaking{emulated}"))]
        if isinstance(message, SpeechStopped):
            self._server_hears_speech = False
            self._awaiting_answer, self._awaiting_since = True, now
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
        self._awaiting_answer = False
        self._agent_samples[d.turn_id] = self._agent_samples.get(d.turn_id, 0) + len(pcm) // 2
        if d.is_final:
            self._agent_complete.add(d.turn_id)
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

    def _heard(self, event: Heard) -> list[Action]:
        turn = event.turn_id
        text = self._agent_text.get(turn)
        if turn not in self._interrupted or turn in self._split_shown or not text:
            return []
        self._split_shown.add(turn)
        received = self._agent_samples.get(turn, 0) / _WIRE_RATE
        heard, rest = split_heard(text, event.seconds, received, complete=turn in self._agent_complete)
        if not rest:
            return [Show(Line("agent", text, key=f"agent:{turn}"))]
        return [Show(Line("agent", heard, key=f"agent:{turn}", unheard=rest))]

    def _audible(self, event: Audible) -> list[Action]:
        self._awaiting_answer = False
        return self._latency_line(
            self.latency.audible(event.turn_id, event.at, user_speaking=self.speech.speaking)
        )

    def _latency_line(self, latency: float | None) -> list[Action]:
        if latency is None:
            return []
        self._awaiting_answer = False
        return [Show(Line("info", f"latency {1000 * latency:.0f} ms"))]

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
