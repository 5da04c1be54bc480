"""What a session needs to know, gathered from flags and environment by the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vatel.app.core import DEFAULT_INPUT_END_GRACE, DEFAULT_TOOL_TIMEOUT
from vatel.app.text_input import Speak, TextInput

__all__ = ["SessionConfig"]


@dataclass(frozen=True)
class SessionConfig:
    api_key: str
    agent_id: str
    base_url: str
    input_device: str | None = None
    """Index or part of a name; ``None``: the default input."""
    output_device: str | None = None
    tools: Path | None = None
    input_file: Path | None = None
    """Send this WAV instead of the microphone (no input device is opened)."""
    output_file: Path | None = None
    """Write the agent's audio here instead of playing it (no output device is opened)."""
    tool_timeout: float = DEFAULT_TOOL_TIMEOUT
    prebuffer: float = 0.06
    stats_file: Path | None = None
    """Write the session's counters here as JSON at the end (for benchmarks and bug reports)."""
    text: TextInput | None = None
    """Typing mode (``--text``): typed lines are spoken and sent; no input device is opened."""
    input_end_grace: float = DEFAULT_INPUT_END_GRACE
    """After the input file or the typed lines end: seconds of quiet from the agent before closing."""
    record: Path | None = None
    """``--record DIR``: the session's stereo WAV, message log and report go here."""
    echo_cancellation: bool = True
    """Cancel the speaker's echo in the microphone when both are live devices (``--no-aec``: off)."""
    plain: bool = False
    """``--plain``: line output with no escape codes even on a terminal (no live view)."""
    voice: Callable[[], Speak] | None = None
    """Loads the voice for lines typed during the session (``/``): called once, off the event loop,
    on the first typed line (it may load a speech model)."""
