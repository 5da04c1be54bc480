"""Reading an OpenAI chat-completions stream: server-sent events in, text and tool calls out.

The wire (as vLLM, Ollama, llama.cpp's server and OpenAI send it): lines ``data: {json}``, one
``chat.completion.chunk`` each, ending with ``data: [DONE]``; blank lines, comments (``: ...``)
and other SSE fields are skipped. Each chunk's ``choices[0].delta`` carries a piece of
``content`` and/or pieces of ``tool_calls``, which arrive split: the first piece of a call has
its ``index``, ``id`` and ``function.name``, later pieces add to ``function.arguments``.
Anything else (not JSON, an ``error`` object in the stream, a chunk that is not an object) is a
:class:`StreamError`: the turn cannot be trusted and the brain apologises.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MAX_ARGUMENTS = 100_000
"""Characters of one tool call's arguments; a model that goes on past this is looping."""


class StreamError(Exception):
    """The stream broke the wire format or reported an error."""


class Done:
    """``data: [DONE]``: the stream is complete."""


DONE = Done()


def parse_line(line: str) -> dict[str, Any] | Done | None:
    """One SSE line: a chunk, ``DONE``, or ``None`` for a line that carries no data."""
    if not line.startswith("data:"):
        return None  # blank, comment, event:, id:, retry: or a field we do not know
    payload = line[5:].strip()
    if payload == "[DONE]":
        return DONE
    if not payload:
        return None
    try:
        chunk = json.loads(payload)
    except (ValueError, RecursionError):
        raise StreamError(f"a data line that is not JSON: {payload[:200]!r}") from None
    if not isinstance(chunk, dict):
        raise StreamError(f"a data line that is not a JSON object: {payload[:200]!r}")
    if "error" in chunk:
        raise StreamError(f"the server reported an error mid-stream: {str(chunk['error'])[:500]}")
    return chunk


@dataclass
class PendingCall:
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class Completion:
    """What one streamed completion said so far."""

    calls: dict[int, PendingCall] = field(default_factory=dict)
    finish_reason: str | None = None

    def add(self, chunk: dict[str, Any]) -> str:
        """Take one chunk; the text it adds (often empty)."""
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices:
            return ""  # e.g. a final usage chunk
        choice = choices[0]
        if not isinstance(choice, dict):
            raise StreamError("a choice that is not an object")
        if isinstance(choice.get("finish_reason"), str):
            self.finish_reason = choice["finish_reason"]
        # A server that ignores stream=true per chunk sends "message" instead of "delta".
        delta = choice.get("delta", choice.get("message"))
        if delta is None:
            return ""
        if not isinstance(delta, dict):
            raise StreamError("a delta that is not an object")
        for piece in delta.get("tool_calls") or ():
            self._add_call(piece)
        content = delta.get("content")
        if content is None:
            return ""
        if not isinstance(content, str):
            raise StreamError("content that is not text")
        return content

    def _add_call(self, piece: Any) -> None:
        if not isinstance(piece, dict):
            raise StreamError("a tool call piece that is not an object")
        index = piece.get("index", len(self.calls) if piece.get("id") else max(self.calls, default=0))
        if not isinstance(index, int) or isinstance(index, bool):
            raise StreamError("a tool call piece without an integer index")
        call = self.calls.setdefault(index, PendingCall())
        if isinstance(piece.get("id"), str):
            call.id = call.id or piece["id"]
        function = piece.get("function") or {}
        if not isinstance(function, dict):
            raise StreamError("a tool call's function that is not an object")
        name = function.get("name")
        if isinstance(name, str) and name != call.name:  # sent once; a repeat is ignored
            call.name += name
        arguments = function.get("arguments")
        if isinstance(arguments, dict):  # some servers send the arguments already parsed
            arguments = json.dumps(arguments)
        if isinstance(arguments, str):
            call.arguments += arguments
            if len(call.arguments) > MAX_ARGUMENTS:
                raise StreamError(f"tool call arguments longer than {MAX_ARGUMENTS} characters")

    def first_call(self) -> PendingCall | None:
        """The call the agent makes (the protocol has one tool call per turn; others are dropped)."""
        return self.calls[min(self.calls)] if self.calls else None
