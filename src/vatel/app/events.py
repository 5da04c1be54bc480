"""What goes into the session core and what comes out: small frozen dataclasses, no behaviour.

Events (into :meth:`SessionCore.handle`) are things that happened; actions (out of it) are things
the shell must do. Audio actions carry a ``turn_id`` so that everything of a turn can be dropped
on ``interruption`` (the Pipecat rule: an interruption flushes every stage downstream).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from vatel.protocol import ClientMessage, ServerMessage, UnknownMessage

__all__ = [
    "Action",
    "Audible",
    "Close",
    "Disconnected",
    "Event",
    "Flush",
    "Heard",
    "InputEnded",
    "KeyPress",
    "Line",
    "MicFrame",
    "MuteSpeaker",
    "Play",
    "PlaybackFinished",
    "Received",
    "Record",
    "RunTool",
    "Send",
    "Show",
    "SpeakText",
    "Spoken",
    "StopRequested",
    "Tick",
    "ToolDone",
]

# --- events ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """A message from the server."""

    message: ServerMessage | UnknownMessage


@dataclass(frozen=True)
class MicFrame:
    """20 ms of the microphone (or the input file): PCM16 24 kHz mono."""

    pcm: bytes
    at: float | None = None
    """When its last sample was captured (the core's clock); ``None``: when the event comes."""


@dataclass(frozen=True)
class PlaybackFinished:
    """The last sample of ``turn_id`` has been played."""

    turn_id: str


@dataclass(frozen=True)
class KeyPress:
    key: str


@dataclass(frozen=True)
class Spoken:
    """A typed line has been voiced (:class:`SpeakText`): 20 ms PCM16 24 kHz frames to send."""

    text: str
    frames: tuple[bytes, ...]


@dataclass(frozen=True)
class Heard:
    """Of ``turn_id``, flushed on an interruption, ``seconds`` had been heard."""

    turn_id: str
    seconds: float


@dataclass(frozen=True)
class Audible:
    """The first audible sample of ``turn_id`` is heard at ``at`` (the core's clock)."""

    turn_id: str
    at: float


@dataclass(frozen=True)
class ToolDone:
    """A tool call's output is ready (already a string: the tool runner encodes it)."""

    call_id: str
    output: str


@dataclass(frozen=True)
class Tick:
    """Time has passed (the shell sends one every few hundred ms, for the tool timeouts)."""


@dataclass(frozen=True)
class InputEnded:
    """The input file or the typed lines (stdin at its end, Ctrl-D) have all been sent.

    The session then closes by itself once the agent has finished answering.
    """


@dataclass(frozen=True)
class StopRequested:
    """The user asked to end the session (Ctrl-C, ``q``)."""


@dataclass(frozen=True)
class Disconnected:
    """The socket is closed (``code`` as :attr:`vatel.Connection.close_code`)."""

    code: int | None
    reason: str = ""


Event = (
    Received
    | MicFrame
    | PlaybackFinished
    | KeyPress
    | Spoken
    | Heard
    | Audible
    | ToolDone
    | Tick
    | InputEnded
    | StopRequested
    | Disconnected
)

# --- actions -----------------------------------------------------------------------------------------

Speaker = Literal["agent", "user", "info", "status", "prompt"]


@dataclass(frozen=True)
class Line:
    """Something to print. ``agent``/``user`` lines are replaced in place while ``final`` is false
    (same ``key``); ``info`` lines are always printed; ``status`` lines and the ``prompt`` (the line
    being typed) only on a terminal. ``unheard`` is the rest of an interrupted agent answer, said
    but not heard (shown struck through)."""

    speaker: Speaker
    text: str
    key: str = ""
    final: bool = True
    unheard: str = ""


@dataclass(frozen=True)
class Send:
    message: ClientMessage


@dataclass(frozen=True)
class Play:
    """Queue agent audio (PCM16 24 kHz mono) of ``turn_id``; ``final`` ends the turn."""

    turn_id: str
    pcm: bytes
    final: bool


@dataclass(frozen=True)
class Flush:
    """Stop playing ``turn_id`` now and drop whatever of it is queued."""

    turn_id: str


@dataclass(frozen=True)
class Show:
    line: Line


@dataclass(frozen=True)
class SpeakText:
    """Voice a typed line (off the event loop); answer with :class:`Spoken`."""

    text: str


@dataclass(frozen=True)
class MuteSpeaker:
    """Play silence instead of the agent (``True``) or the agent again; playback goes on either way."""

    muted: bool


@dataclass(frozen=True)
class Record:
    """Agent audio to append to ``--output-file`` (PCM16 24 kHz mono)."""

    pcm: bytes


@dataclass(frozen=True)
class RunTool:
    """Run a tool off the audio path; answer with :class:`ToolDone`."""

    call_id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Close:
    """Close the session socket with ``code``."""

    code: int = 1000


Action = Send | Play | Flush | Show | Record | RunTool | Close | SpeakText | MuteSpeaker
