"""What happens to a call (events, into the core) and what the core wants done (actions, out).

All are small frozen dataclasses; times are seconds on the session's monotonic clock, passed in
by the shell (the core never reads a clock). Audio inside the core is PCM16 bytes at 24 kHz.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vatel.protocol import ServerMessage
from vatel.server.engines.brain import Entry

# --- events ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    """The WebSocket is open and ``session_started`` may go out."""


@dataclass(frozen=True)
class VoiceActivity:
    """One VAD decision about the user's audio ending at ``at`` (a frame of ``duration`` s)."""

    at: float
    speech: bool
    duration: float


@dataclass(frozen=True)
class PartialTranscript:
    text: str


@dataclass(frozen=True)
class FinalTranscript:
    text: str


@dataclass(frozen=True)
class BrainSaid:
    turn_id: str
    text: str


@dataclass(frozen=True)
class BrainCalledTool:
    turn_id: str
    name: str
    arguments: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class BrainEnded:
    """The brain wants the call ended once what it said has been heard."""

    turn_id: str
    reason: str


@dataclass(frozen=True)
class BrainDone:
    """The brain has nothing more for this turn."""

    turn_id: str


@dataclass(frozen=True)
class BrainFailed:
    turn_id: str
    error: str


@dataclass(frozen=True)
class SpeechAudio:
    """Synthesised audio for segment ``segment`` of ``turn_id`` (PCM16, 24 kHz)."""

    turn_id: str
    segment: int
    pcm: bytes


@dataclass(frozen=True)
class SpeechDone:
    """Segment ``segment`` of ``turn_id`` is fully synthesised."""

    turn_id: str
    segment: int


@dataclass(frozen=True)
class ToolOutput:
    tool_call_id: str
    output: str


@dataclass(frozen=True)
class Tick:
    """Time passed (the shell ticks while audio is paced out, and at :meth:`CallCore.next_wakeup`)."""


@dataclass(frozen=True)
class TurnVerdict:
    """The end-of-turn model's answer for the pause that began at ``pause`` (see :class:`CheckTurn`)."""

    pause: float
    complete: float
    """The probability that the user has finished, 0..1 (from the audio)."""
    text: str | None = None
    """What was said up to the pause, when the early decode was ready in time (see ``text_verdict``)."""
    text_pending: bool = False
    """The pause's early decode is still running: a second verdict brings its words (or ``None``
    when it failed or was too slow). Until then a sure verdict waits like an unsure one: ending
    the turn costs nothing by waiting, since the answer needs those words anyway."""


@dataclass(frozen=True)
class ClientGone:
    """The client closed the socket or vanished."""


Event = (
    Started
    | VoiceActivity
    | TurnVerdict
    | PartialTranscript
    | FinalTranscript
    | BrainSaid
    | BrainCalledTool
    | BrainEnded
    | BrainDone
    | BrainFailed
    | SpeechAudio
    | SpeechDone
    | ToolOutput
    | Tick
    | ClientGone
)

# --- actions -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    message: ServerMessage


@dataclass(frozen=True)
class AgentAudioSent:
    """Agent audio that went out at ``at`` (for the recording's agent channel)."""

    at: float
    pcm: bytes


@dataclass(frozen=True)
class StartRecognition:
    """The user started an utterance at ``at``: collect their audio from there (plus pre-roll)."""

    at: float


@dataclass(frozen=True)
class PrepareRecognition:
    """The user fell silent: decode what they said so far now, in case the silence ends the turn.

    Whisper's decode takes about 0.4 s whatever the length; started when the silence begins, it
    runs while the endpoint's ``stop_secs`` is still being waited out. The latest prepared decode
    answers :class:`FinishRecognition` (no speech can come between the last silence and the end).
    """


@dataclass(frozen=True)
class CheckTurn:
    """A pause reached ``stop_secs``: ask the end-of-turn model about the utterance so far.

    Answer with :class:`TurnVerdict` (same ``pause``); until then the turn stays open.
    """

    pause: float


@dataclass(frozen=True)
class FinishRecognition:
    """The utterance ended: decode it and answer with :class:`FinalTranscript`."""


@dataclass(frozen=True)
class CancelRecognition:
    """Drop the utterance being collected (it was noise, or the call ended)."""


@dataclass(frozen=True)
class Think:
    """Ask the brain for the next agent turn ``turn_id`` given ``conversation``."""

    turn_id: str
    conversation: tuple[Entry, ...]


@dataclass(frozen=True)
class Speak:
    """Synthesise segment ``segment`` of ``turn_id`` and report it with :class:`SpeechAudio`."""

    turn_id: str
    segment: int
    text: str


@dataclass(frozen=True)
class CancelTurn:
    """Stop the brain and the synthesis of ``turn_id``; their late results are dropped."""

    turn_id: str


@dataclass(frozen=True)
class Record:
    """A transcript entry for the stored call (wire ``TranscriptEntry`` fields, camelCase)."""

    entry: Mapping[str, Any]


@dataclass(frozen=True)
class Hangup:
    """The call is over: ``session_ended`` has been sent; close the socket with 1000."""

    reason: str
    outcome: str | None


Action = (
    Send
    | AgentAudioSent
    | StartRecognition
    | PrepareRecognition
    | CheckTurn
    | FinishRecognition
    | CancelRecognition
    | Think
    | Speak
    | CancelTurn
    | Record
    | Hangup
)
