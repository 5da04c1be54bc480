"""The conversation in OpenAI chat-completions terms, and the model's tool calls in Vatel's.

Pure translation, both ways:

- ``chat_messages``: the system prompt, then the call's entries as ``user`` / ``assistant``
  messages. A tool request becomes an assistant message with ``tool_calls`` (joined to the text
  the agent said just before it), followed at once by its ``tool`` message; a request the call
  never answered (the caller cut in) gets an error output, since servers refuse an unanswered
  ``tool_call_id``. Consecutive messages of one role are joined, because many chat templates
  (llama.cpp, Gemma, Mistral) insist that roles alternate.
- ``offered_tools``: the agent's tools, read from its version's graph nodes
  (``{"type": "tool", "name", "description", "parameters"}``; ``{"type": "end_call"}`` offers
  the model a way to hang up), as the request's ``tools``.
- ``tool_arguments``: the model's JSON arguments as Vatel argument descriptors
  (``{name, type, dataType, value, ...}``, the ``tool_call`` wire shape).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vatel.server.engines.brain import AgentSetup, Entry, ToolRequest, ToolResult, Utterance
from vatel.server.engines.placeholders import fill_variables

END_CALL = "end_call"
END_CALL_DESCRIPTION = "Hang up the call, after saying goodbye. Use it only when the conversation is over."
UNANSWERED = '{"error":"the caller spoke before the tool answered"}'
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_EMPTY_PARAMETERS: Mapping[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True)
class Toolbox:
    """What the model may call: the agent's tools (by name) and whether it may hang up."""

    tools: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """name -> the OpenAI ``function`` object (name, description, parameters)."""
    end_call: bool = False
    problems: tuple[str, ...] = ()
    """Tool nodes that were skipped, and why (``vatel agents import`` prints them)."""

    def offered(self) -> list[dict[str, Any]]:
        functions = [dict(function) for function in self.tools.values()]
        if self.end_call:
            functions.append(
                {"name": END_CALL, "description": END_CALL_DESCRIPTION, "parameters": dict(_EMPTY_PARAMETERS)}
            )
        return [{"type": "function", "function": function} for function in functions]


def system_prompt(agent: AgentSetup) -> str:
    """The agent's prompt with the session's variables filled in (unknown ``{x}`` left as is)."""
    return fill_variables(agent.prompt, agent.variables, keep_unknown=True).strip()


def offered_tools(nodes: Sequence[Mapping[str, Any]]) -> Toolbox:
    """The tools the agent's nodes declare; a node that is not a valid tool is skipped and said."""
    tools: dict[str, Mapping[str, Any]] = {}
    end_call = False
    problems: list[str] = []
    for index, node in enumerate(nodes):
        kind = node.get("type")
        if kind == END_CALL:
            end_call = True
            continue
        if kind != "tool":
            continue
        name, parameters = node.get("name"), node.get("parameters", _EMPTY_PARAMETERS)
        description = node.get("description", "")
        if not isinstance(name, str) or not _TOOL_NAME.match(name) or name == END_CALL:
            problems.append(
                f"node {index}: a tool's name is 1-64 letters, digits, _ or - (not end_call); skipped"
            )
        elif not isinstance(parameters, Mapping) or parameters.get("type", "object") != "object":
            problems.append(f"node {index} ({name}): parameters must be a JSON schema object; skipped")
        elif not isinstance(description, str):
            problems.append(f"node {index} ({name}): description must be text; skipped")
        elif name in tools:
            problems.append(f"node {index} ({name}): a second tool of that name; skipped")
        else:
            function: dict[str, Any] = {"name": name, "parameters": dict(parameters)}
            if description:
                function["description"] = description
            tools[name] = function
    return Toolbox(tools, end_call, tuple(problems))


def chat_messages(agent: AgentSetup, conversation: Sequence[Entry]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    prompt = system_prompt(agent)
    if prompt:
        messages.append({"role": "system", "content": prompt})
    results = {entry.call_id: entry.output for entry in conversation if isinstance(entry, ToolResult)}
    for entry in conversation:
        if isinstance(entry, Utterance):
            text = entry.text.strip()
            if not text:
                continue
            last = messages[-1] if messages else None
            if last is not None and last["role"] == entry.role and "tool_calls" not in last:
                last["content"] = f"{last['content']} {text}"
            else:
                messages.append({"role": entry.role, "content": text})
        elif isinstance(entry, ToolRequest):
            call = {
                "id": entry.call_id,
                "type": "function",
                "function": {"name": entry.name, "arguments": _arguments_json(entry.arguments)},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and "tool_calls" not in last:
                last["tool_calls"] = [call]
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
            output = results.get(entry.call_id, UNANSWERED)
            messages.append({"role": "tool", "tool_call_id": entry.call_id, "content": output})
        # A ToolResult was placed right after its request; one with no request is left out.
    return messages


def _arguments_json(arguments: Sequence[Mapping[str, Any]]) -> str:
    values = {str(arg["name"]): arg.get("value") for arg in arguments if isinstance(arg.get("name"), str)}
    return json.dumps(values, ensure_ascii=False, default=str)


class BadToolArguments(ValueError):
    """The model's arguments are not a JSON object."""


def tool_arguments(raw: str, function: Mapping[str, Any] | None) -> tuple[dict[str, Any], ...]:
    """The model's ``arguments`` string as Vatel descriptors, described by the tool's schema.

    Parameters the schema declares and the model left out are sent with ``null`` (as the scripted
    brain does), so the client sees ``required`` and decides.
    """
    try:
        values = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError) as error:
        raise BadToolArguments(f"arguments are not JSON: {error}") from None
    if not isinstance(values, dict):
        raise BadToolArguments(f"arguments are a JSON {type(values).__name__}, not an object")
    schema = function.get("parameters", {}) if function is not None else {}
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    properties = properties if isinstance(properties, Mapping) else {}
    required = schema.get("required") if isinstance(schema, Mapping) else None
    required_names = {n for n in required if isinstance(n, str)} if isinstance(required, list) else set()
    descriptors = []
    for name in [*values, *(key for key in properties if key not in values)]:
        declared = properties.get(name)
        declared = declared if isinstance(declared, Mapping) else {}
        value = values.get(name)
        descriptor: dict[str, Any] = {
            "name": str(name),
            "type": "resolved",
            "dataType": _data_type(value, declared.get("type")),
            "value": value,
        }
        if function is not None:
            descriptor["required"] = name in required_names
        if isinstance(declared.get("description"), str):
            descriptor["description"] = declared["description"]
        descriptors.append(descriptor)
    return tuple(descriptors)


def _data_type(value: Any, declared: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    if value is None and declared in ("number", "integer", "boolean", "array", "object"):
        return "number" if declared == "integer" else str(declared)
    return "string"
