"""The scripted brain: the offline default, answering from rules the agent's author wrote.

Rules come from the agent's ``prompt`` and its version's graph nodes (``scripted_rules``;
``docs/scripted-brain.md`` is the reference). A user turn is answered by the first rule whose
phrases occur in what was said; a rule speaks, asks the client to run a tool (arguments taken
from the utterance), and may end the call. When the tool's output arrives the brain is asked
again and speaks the rule's ``then`` text. An agent without rules gets ``BUILTIN_PROMPT``.

Everything here is pure and fast (no I/O, no clock, microseconds per turn): ``plan_turn`` is the
whole decision and ``ScriptedBrain.respond`` only replays its list, one ``Say`` per sentence so
speech synthesis can start on the first one.

Modules: ``scripted_rules`` reads the rules (and ``check_rules`` reports what it could not read),
``scripted_args`` takes tool arguments from the utterance, this one decides and speaks.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from vatel.server.engines.brain import (
    AgentSetup,
    BrainEvent,
    CallTool,
    EndCall,
    Entry,
    Say,
    ToolRequest,
    ToolResult,
    Utterance,
)
from vatel.server.engines.placeholders import PLACEHOLDER
from vatel.server.engines.scripted_args import extract_arguments, spoken
from vatel.server.engines.scripted_rules import (
    Action,
    Rule,
    Script,
    check_rules,
    find_phrase,
    load_script,
    parse_prompt,
    tokenize,
)

__all__ = [
    "BUILTIN_PROMPT",
    "ScriptedBrain",
    "check_rules",
    "extract_arguments",
    "plan_turn",
    "split_sentences",
]

BUILTIN_PROMPT = """\
when "story" or "long answer" or "tell me something": Here is a story, and you can interrupt me \
at any time. Once upon a time, a lighthouse keeper lived alone on a small rocky island. Every \
evening he climbed the hundred and twelve steps of the tower to light the great lamp. One stormy \
night he saw a tiny boat struggling against the waves, far from the harbour. He swung the beam \
towards it and held it steady for hours, until the boat found the channel between the rocks. In \
the morning a girl knocked on his door with a basket of bread and a jar of honey. She said her \
father had followed the light all the way home. From then on, the keeper was never quite alone \
again. And that is the end of the story.
when "help" or "what can you do": I am a scripted agent running on this machine. Ask me for a \
story and interrupt me whenever you like, or say goodbye to end the call.
when "goodbye" or "bye" or "hang up" or "end the call": Goodbye, thanks for calling! -> end
default: I heard "{said}". Ask me for a story, or say goodbye to end the call.
"""

#: the answer of an agent with rules but no ``default``
FALLBACK = Action(say='Sorry, I have no answer for that. I heard "{said}".')
NOT_HEARD = Action(say="Sorry, I didn't catch that.")


class ScriptedBrain:
    """The ``vatel/scripted`` brain. Stateless: one instance serves every call."""

    name = "vatel/scripted"

    async def respond(self, agent: AgentSetup, conversation: Sequence[Entry]) -> AsyncIterator[BrainEvent]:
        for event in plan_turn(agent, conversation):
            yield event


def plan_turn(agent: AgentSetup, conversation: Sequence[Entry]) -> list[BrainEvent]:
    """The next turn, decided at once: ``Say`` per sentence, then ``CallTool`` or ``EndCall``."""
    script = load_script(agent.prompt, agent.nodes)
    if script.empty:
        script = parse_prompt(BUILTIN_PROMPT)
    last = conversation[-1] if conversation else None
    if isinstance(last, ToolResult):
        return _after_tool(script, agent, conversation, last)
    if isinstance(last, Utterance) and last.role == "user":
        return _answer(script, agent, last.text)
    return []  # nothing for the brain to answer (the call core asks after a user turn or a tool)


def _answer(script: Script, agent: AgentSetup, said: str) -> list[BrainEvent]:
    tokens = tokenize(said)
    matched = match_rule(script.rules, tokens.words)
    if matched is not None:
        action, after = matched[0].action, matched[1]
    else:
        action, after = (script.default or FALLBACK) if tokens.words else NOT_HEARD, 0
    values = {"said": said.strip()}
    if action.tool is None:
        events: list[BrainEvent] = [*says(render(action.say, values, agent.variables))]
        return [*events, EndCall()] if action.end else events
    arguments = extract_arguments(action.tool.params, said, tokens, after)
    values |= {str(arg["name"]): spoken(arg["value"]) for arg in arguments}
    return [*says(render(action.say, values, agent.variables)), CallTool(action.tool.name, arguments)]


def _after_tool(
    script: Script, agent: AgentSetup, conversation: Sequence[Entry], result: ToolResult
) -> list[BrainEvent]:
    """Speak the ``then`` text of the rule that asked for the tool (found again from the user's words)."""
    at = next(
        (i for i in range(len(conversation) - 1, -1, -1) if _is_request(conversation[i], result.call_id)),
        None,
    )
    if at is None:  # an output for a call we cannot see: take the latest request, if any
        at = next(
            (i for i in range(len(conversation) - 1, -1, -1) if isinstance(conversation[i], ToolRequest)),
            None,
        )
    request = conversation[at] if at is not None else None
    said = next(
        (
            e.text
            for e in reversed(conversation[: at if at is not None else -1])
            if isinstance(e, Utterance) and e.role == "user"
        ),
        "",
    )
    action = None
    if isinstance(request, ToolRequest):
        action = _action_for_tool(script, request.name, said)
    values = {"said": said.strip(), "output": result.output}
    if isinstance(request, ToolRequest):
        for arg in request.arguments:
            if isinstance(arg.get("name"), str):
                values.setdefault(arg["name"], spoken(arg.get("value")))
    if action is not None and action.then is not None:
        text = render(action.then, values, agent.variables, output=result.output)
    else:
        text = plain_output(result.output)
    events: list[BrainEvent] = [*says(text)]
    return [*events, EndCall()] if action is not None and action.end else events


def _is_request(entry: Entry, call_id: str) -> bool:
    return isinstance(entry, ToolRequest) and entry.call_id == call_id


def _action_for_tool(script: Script, tool: str, said: str) -> Action | None:
    matched = match_rule(script.rules, tokenize(said).words)
    if matched is not None and matched[0].action.tool is not None and matched[0].action.tool.name == tool:
        return matched[0].action
    candidates = [rule.action for rule in script.rules] + ([script.default] if script.default else [])
    return next((a for a in candidates if a.tool is not None and a.tool.name == tool), None)


def plain_output(output: str) -> str:
    """What to say about a tool's output when the rule has no ``then``: short plain text as is."""
    text = output.strip()
    if not text or text[0] in "{[" or len(text) > 300:
        return "Done."
    return text


# --- Matching -------------------------------------------------------------------------------------


def match_rule(rules: Sequence[Rule], words: Sequence[str]) -> tuple[Rule, int] | None:
    """The first rule with a trigger whose phrases all occur, and where its first phrase ends."""
    present = frozenset(words)
    for rule in rules:
        for trigger in rule.triggers:
            first = None
            for phrase in trigger.phrases:
                head = phrase.words[0]
                end = find_phrase(words, phrase.words) if head in present or head.endswith("*") else None
                if end is None:
                    break
                first = end if first is None else first
            else:
                return rule, first or 0
    return None


# --- Speaking -------------------------------------------------------------------------------------

_SPACES = re.compile(r"[ \t]{2,}")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[.!?…][\"'\u201d\u2019)\]])\s+")
_ABBREVIATIONS = frozenset({"mr.", "mrs.", "ms.", "dr.", "st.", "prof.", "sr.", "jr.", "vs.", "e.g.", "i.e."})
LONG_SENTENCE = 200


_DOUBLE_STOP = re.compile(r"([.!?])\.")


def render(
    template: str, values: Mapping[str, str], variables: Mapping[str, str], output: str | None = None
) -> str:
    """Fill ``{said}``, ``{output}``, ``{output.field}``, argument names and session variables.

    An unknown placeholder becomes empty (it would otherwise be read aloud).
    """
    folded = {str(key).casefold(): str(value) for key, value in variables.items()}

    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key in values:
            return values[key]
        if key.startswith("output.") and output is not None:
            return _json_field(output, key.split(".")[1:])
        return folded.get(key.casefold(), "")

    filled = _SPACES.sub(" ", PLACEHOLDER.sub(one, template)).strip()
    # "I heard {said}." with said = "hello there." would read "there.." : keep one stop.
    return _DOUBLE_STOP.sub(r"\1", filled)


def _json_field(output: str, path: Sequence[str]) -> str:
    try:
        value: Any = json.loads(output)
    except (ValueError, RecursionError):
        return ""
    for key in path:
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return ""
    return value if isinstance(value, str) else "" if value is None else json.dumps(value)


def says(text: str) -> list[Say]:
    return [Say(sentence) for sentence in split_sentences(text)]


def split_sentences(text: str) -> list[str]:
    """Sentences to synthesise one by one; a very long one is cut at a comma."""
    sentences: list[str] = []
    for raw in (piece for line in text.splitlines() for piece in _SENTENCE_END.split(line)):
        piece = raw.strip()
        if not piece:
            continue
        last_word = sentences[-1].rsplit(None, 1)[-1] if sentences else ""
        if last_word.lower() in _ABBREVIATIONS or (
            len(last_word) == 2 and last_word[0].isupper() and last_word[1] == "."
        ):
            sentences[-1] += " " + piece
        else:
            sentences.append(piece)
    return [part for sentence in sentences for part in _cut_long(sentence)]


def _cut_long(sentence: str) -> Iterator[str]:
    while len(sentence) > LONG_SENTENCE:
        cut = max(sentence.rfind(", ", 0, LONG_SENTENCE), sentence.rfind("; ", 0, LONG_SENTENCE))
        if cut < LONG_SENTENCE // 4:
            break
        yield sentence[: cut + 1]
        sentence = sentence[cut + 2 :]
    yield sentence
