"""The agent's brain: given the conversation so far, what the agent says or does next.

A brain yields :data:`BrainEvent` s for one agent turn: text as it is produced (each
:class:`Say` is the next piece, to be spoken in order), at most one :class:`CallTool` (the turn
then waits for the client's ``tool_call_output`` and the brain is asked again with the output in
the conversation), and :class:`EndCall` to hang up after what was said. The scripted brain is the
offline default; the LLM brain (an OpenAI-compatible server) plugs into the same interface.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class Utterance:
    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True)
class ToolRequest:
    call_id: str
    name: str
    arguments: tuple[Mapping[str, Any], ...]
    """Argument descriptors as the wire sends them: ``{name, type, dataType, value, ...}``."""


@dataclass(frozen=True)
class ToolResult:
    call_id: str
    output: str


Entry = Utterance | ToolRequest | ToolResult


@dataclass(frozen=True)
class AgentSetup:
    """The agent as configured, with the session token's overrides already applied."""

    prompt: str = ""
    first_message: str = ""
    variables: Mapping[str, str] = field(default_factory=dict)
    nodes: Sequence[Mapping[str, Any]] = ()
    language: str = "en"


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class CallTool:
    name: str
    arguments: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class EndCall:
    reason: str = "ended_by_agent"


BrainEvent = Say | CallTool | EndCall


class Brain(Protocol):
    name: str
    """The id ``/v1/llms`` lists, e.g. ``vatel/scripted``."""

    def respond(self, agent: AgentSetup, conversation: Sequence[Entry]) -> AsyncIterator[BrainEvent]:
        """The next agent turn. The last entry is the user's utterance or a tool's result."""
