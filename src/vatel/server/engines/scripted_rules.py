"""The scripted brain's rules, read from an agent's ``prompt`` and its version's graph nodes.

Rule 1: reading rules never raises. A line or node that cannot be read is skipped and described in
``Script.problems`` (``check_rules`` returns them), so a typo costs one rule, never the call.

Rule 2: prose is not an error. In the prompt only lines that start with ``when`` or ``default:``
(optionally after a list bullet) are rules; everything else is ignored, so the same prompt can
also carry instructions for an LLM brain.

The syntax, in brief (``docs/scripted-brain.md`` is the reference)::

    # a comment
    when "hours" or "open": We are open from nine to five.
    when "book" and "table": tool book_table(people: number, time: time, name: name) then say "Done: {output}"
    when "bye" or "goodbye": Goodbye! -> end
    default: I heard "{said}".

Matching happens on words (``tokenize``): lower case, apostrophes dropped, other punctuation a
separator. A phrase matches whole words in order; a word ending in ``*`` matches any word that
starts with it (``"book*"`` matches "booking").
"""

from __future__ import annotations

import functools
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MAX_PROMPT_CHARS = 1_000_000
MAX_LINE_CHARS = 20_000
MAX_RULES = 1_000
MAX_NODES = 1_000
MAX_PHRASES = 200

ARG_KINDS = ("number", "time", "name", "day", "text")
KIND_ALIASES = {
    "int": "number",
    "integer": "number",
    "float": "number",
    "count": "number",
    "string": "text",
    "str": "text",
    "free": "text",
    "date": "day",
    "person": "name",
}

# --- Words ----------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\d+:\d{2}|\d+(?:\.\d+)?|[^\W\d_]+(?:['\u2019][^\W\d_]+)*")


@dataclass(frozen=True)
class Tokens:
    """An utterance cut into words: ``raw`` as said, ``words`` normalised, ``spans`` in the text."""

    raw: tuple[str, ...]
    words: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]


def tokenize(text: str) -> Tokens:
    found = list(_TOKEN.finditer(text))
    raw = tuple(m.group() for m in found)
    words = tuple(normal_word(w) for w in raw)
    return Tokens(raw, words, tuple(m.span() for m in found))


def normal_word(word: str) -> str:
    return word.casefold().replace("'", "").replace("\u2019", "")


def find_phrase(words: Sequence[str], phrase: Sequence[str]) -> int | None:
    """Where ``phrase`` first ends in ``words`` (an index past its last word), or ``None``."""
    size = len(phrase)
    for start in range(len(words) - size + 1):
        if all(same_word(words[start + k], phrase[k]) for k in range(size)):
            return start + size
    return None


def same_word(word: str, pattern: str) -> bool:
    return word.startswith(pattern[:-1]) if pattern.endswith("*") else word == pattern


# --- What a script is -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Phrase:
    words: tuple[str, ...]
    """Normalised words; one ending in ``*`` matches any word starting with the rest."""


@dataclass(frozen=True)
class Trigger:
    """Matches when every phrase occurs (``"book" and "table"``); most triggers have one phrase."""

    phrases: tuple[Phrase, ...]


@dataclass(frozen=True)
class Param:
    """One tool argument: its name, what to look for in the utterance, and a fallback value."""

    name: str
    kind: str
    required: bool = True
    default: str | None = None


@dataclass(frozen=True)
class ToolSpec:
    name: str
    params: tuple[Param, ...] = ()


@dataclass(frozen=True)
class Action:
    say: str = ""
    tool: ToolSpec | None = None
    then: str | None = None
    """Spoken once the tool's output arrives (``None``: read the output itself, see the brain)."""
    end: bool = False
    """Hang up after speaking (after the ``then`` text when there is a tool)."""


@dataclass(frozen=True)
class Rule:
    triggers: tuple[Trigger, ...]
    action: Action
    origin: str
    """Where the rule was written, for messages: ``prompt line 3`` or ``node 2``."""


@dataclass(frozen=True)
class Script:
    rules: tuple[Rule, ...] = ()
    default: Action | None = None
    problems: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.rules and self.default is None


def load_script(prompt: object, nodes: object) -> Script:
    """The agent's rules: the nodes' first, then the prompt's; the first ``default`` wins.

    Both are read once and remembered (the prompt by value, the nodes by identity: a call's
    ``AgentSetup`` is asked every turn, so the nodes must not be changed in place meanwhile).
    """
    from_nodes = _nodes_cached(nodes)
    from_prompt = parse_prompt(prompt) if isinstance(prompt, str) else Script(problems=("prompt: not text",))
    rules = (from_nodes.rules + from_prompt.rules)[:MAX_RULES]
    default = from_nodes.default if from_nodes.default is not None else from_prompt.default
    return Script(rules, default, from_nodes.problems + from_prompt.problems)


_NODES_CACHE: OrderedDict[int, tuple[object, Script]] = OrderedDict()
_NODES_CACHE_SIZE = 64


def _nodes_cached(nodes: object) -> Script:
    if isinstance(nodes, tuple | list) and not nodes:
        return Script()
    hit = _NODES_CACHE.get(id(nodes))
    if hit is not None and hit[0] is nodes:  # the entry holds the object, so its id is not reused
        _NODES_CACHE.move_to_end(id(nodes))
        return hit[1]
    script = parse_nodes(nodes)
    _NODES_CACHE[id(nodes)] = (nodes, script)
    if len(_NODES_CACHE) > _NODES_CACHE_SIZE:
        _NODES_CACHE.popitem(last=False)
    return script


def check_rules(prompt: object, nodes: object = ()) -> list[str]:
    """Human-readable problems with an agent's rules (empty when every rule was understood)."""
    from_prompt = parse_prompt(prompt).problems if isinstance(prompt, str) else ("prompt: not text",)
    return [*parse_nodes(nodes).problems, *from_prompt]


# --- The prompt -----------------------------------------------------------------------------------

_BULLET = re.compile(r"^\s*(?:[-*•]\s+)?")
_WHEN = re.compile(r"when\b", re.IGNORECASE)
_DEFAULT = re.compile(r"(?:default|otherwise|fallback)\s*:", re.IGNORECASE)
# Every pattern here is anchored or starts with a literal, so a 20,000-character line of spaces or
# commas costs linear time (unanchored ``\s*...$`` patterns were quadratic on such lines).
_ARROWS = ("->", "→", "=>")
_END_WORDS = re.compile(r"(?:end(?:\s+(?:the\s+)?call)?|hang\s*up)[.!]?", re.IGNORECASE)
_TOOL_OPEN = re.compile(r"(?:^|(?<=\s))tool\s+[A-Za-z_][\w.-]*\s*\(", re.IGNORECASE)
_TOOL = re.compile(r"(?:^|(?<=\s))tool\s+([A-Za-z_][\w.-]*)\s*\(([^()]*)\)", re.IGNORECASE)
_TOOL_BARE = re.compile(r"^tool\s+([A-Za-z_][\w.-]*)\s*(?=$|,|then\b)", re.IGNORECASE)
_JOINERS = (",", ":", "then", "and")
_SAY = re.compile(r"^say\s*:?\s*(?=[\"'\u201c\u2018])", re.IGNORECASE)
_NAME = re.compile(r"[A-Za-z_]\w*")
_KIND = re.compile(r"[A-Za-z_]+")
_DOUBLE_CLOSE = re.compile(r"[\"\u201c\u201d]")
_SINGLE_CLOSE = re.compile(r"['\u2018\u2019]")
_QUOTE_PAIRS = {'"': '"', "\u201c": "\u201d", "'": "'", "\u2018": "\u2019"}


@functools.lru_cache(maxsize=64)
def parse_prompt(prompt: str) -> Script:
    problems: list[str] = []
    if len(prompt) > MAX_PROMPT_CHARS:
        problems.append(f"prompt: longer than {MAX_PROMPT_CHARS} characters; the rest is ignored")
        prompt = prompt[:MAX_PROMPT_CHARS]
    rules: list[Rule] = []
    default: Action | None = None
    for number, line in enumerate(prompt.splitlines(), start=1):
        where = f"prompt line {number}"
        body = line[_BULLET.match(line).end() :]  # type: ignore[union-attr]  # the pattern always matches
        is_rule, is_default = _WHEN.match(body), _DEFAULT.match(body)
        if not is_rule and not is_default:
            continue
        if len(line) > MAX_LINE_CHARS:
            problems.append(f"{where}: longer than {MAX_LINE_CHARS} characters; skipped")
            continue
        if is_default:
            action = parse_action(body[is_default.end() :], where, problems)
            if action is None:
                continue
            if default is None:
                default = action
            else:
                problems.append(f"{where}: a second default; only the first one is used")
            continue
        rule = _parse_when(body[is_rule.end() :], where, problems)  # type: ignore[union-attr]
        if rule is None:
            continue
        if len(rules) >= MAX_RULES:
            problems.append(f"{where}: more than {MAX_RULES} rules; the rest are ignored")
            break
        rules.append(rule)
    return Script(tuple(rules), default, tuple(problems))


def _parse_when(text: str, where: str, problems: list[str]) -> Rule | None:
    scanned = _scan_condition(text)
    if isinstance(scanned, str):
        if ":" in text or scanned != "no ':' after the phrases":
            problems.append(f"{where}: {scanned}; skipped")
        return None  # a prose line that merely starts with "when"
    groups, rest, ignored = scanned
    triggers = _triggers(groups, where, problems)
    if not triggers:
        problems.append(f'{where}: no quoted phrase before ":" (write when "phrase": reply); skipped')
        return None
    if ignored:
        problems.append(f"{where}: ignored words outside quotes: {' '.join(ignored)[:80]}")
    action = parse_action(rest, where, problems)
    return Rule(triggers, action, where) if action is not None else None


def _scan_condition(text: str) -> tuple[list[list[str]], str, list[str]] | str:
    """Split ``"a" or "b" and "c": rest`` into OR-groups of AND-ed phrases, the rest, and noise.

    Phrases side by side, or separated by ``or``, ``,``, ``|`` or ``/``, are alternatives; ``and``
    or ``+`` joins two phrases that must both occur.
    """
    groups: list[list[str]] = []
    ignored: list[str] = []
    joined = False
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == ":":
            return groups, text[i + 1 :], ignored
        if char == "+":
            joined = True
            i += 1
        elif char.isspace() or char in ",|/":
            i += 1
        elif char in _QUOTE_PAIRS:
            closer = (_DOUBLE_CLOSE if char in '"\u201c' else _SINGLE_CLOSE).search(text, i + 1)
            if closer is None:
                return f"unterminated quote {char}"
            if joined and groups:
                groups[-1].append(text[i + 1 : closer.start()])
            else:
                groups.append([text[i + 1 : closer.start()]])
            joined = False
            i = closer.end()
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in ':,|/+"\u201c\u201d':
                j += 1
            word = text[i:j].lower()
            if word == "and":
                joined = True
            elif word != "or":
                ignored.append(text[i:j])
            i = j
    return "no ':' after the phrases"


def _triggers(groups: Sequence[Sequence[str]], where: str, problems: list[str]) -> tuple[Trigger, ...]:
    triggers = []
    for group in groups:
        phrases = []
        for text in group:
            phrase = make_phrase(text)
            if phrase is None:
                problems.append(f"{where}: the phrase {text!r} has no words; ignored")
            else:
                phrases.append(phrase)
        if phrases:
            triggers.append(Trigger(tuple(phrases)))
    if len(triggers) > MAX_PHRASES:
        problems.append(f"{where}: more than {MAX_PHRASES} phrases; the rest are ignored")
    return tuple(triggers[:MAX_PHRASES])


def make_phrase(text: str) -> Phrase | None:
    words: list[str] = []
    for chunk in text.split():
        star = chunk.endswith("*")
        found = tokenize(chunk.rstrip("*")).words
        words.extend(found)
        if star and found:
            words[-1] += "*"
    return Phrase(tuple(words)) if words else None


def parse_action(text: str, where: str, problems: list[str]) -> Action | None:
    """``reply``, ``tool NAME(args) then say "..."``, ``reply then tool NAME(args)``, each ``-> end``."""
    text, end = _split_end(text.strip())
    match = _TOOL_BARE.match(text) if not _TOOL_OPEN.match(text) else None
    args = ""
    if match is None:
        match = _TOOL.search(text)
        if match is None and _TOOL_OPEN.search(text):
            problems.append(f"{where}: a tool call without its closing ')'; skipped")
            return None
        if match is not None:
            args = match.group(2)
    if match is None:
        say = unquote(text)
        if not say and not end:
            problems.append(f"{where}: nothing to say or do; skipped")
            return None
        return Action(say=say, end=bool(end))
    tool = ToolSpec(match.group(1), parse_params(args, where, problems))
    before = unquote(_trim_joiners(text[: match.start()], at_end=True))
    after = _trim_joiners(text[match.end() :], at_end=False)
    after = re.sub(r"^say\b\s*:?\s*", "", after, flags=re.IGNORECASE)
    return Action(say=before, tool=tool, then=unquote(after) if after.strip() else None, end=bool(end))


def _split_end(text: str) -> tuple[str, bool]:
    """``text -> end`` → (``text``, True); anything else is returned as it is."""
    at = max(text.rfind(arrow) for arrow in _ARROWS)
    if at < 0:
        return text, False
    arrow = next(a for a in _ARROWS if text.startswith(a, at))
    if not _END_WORDS.fullmatch(text[at + len(arrow) :].strip()):
        return text, False
    return text[:at].strip(), True


def _trim_joiners(text: str, *, at_end: bool) -> str:
    """Drop ``,``, ``:``, ``then`` and ``and`` between a reply and a tool call."""
    text = text.strip()
    while text:
        for joiner in _JOINERS:
            piece = text[-len(joiner) :] if at_end else text[: len(joiner)]
            rest = text[: -len(joiner)] if at_end else text[len(joiner) :]
            boundary = rest[-1:] if at_end else rest[:1]
            if piece.lower() == joiner and (joiner in ",:" or not boundary or not boundary.isalnum()):
                text = rest.strip()
                break
        else:
            return text
    return text


def unquote(text: str) -> str:
    text = _SAY.sub("", text.strip()).strip()
    if len(text) >= 2 and text[0] in _QUOTE_PAIRS and text[-1] in (text[0], _QUOTE_PAIRS[text[0]]):
        return text[1:-1].strip()
    return text


def parse_params(text: str, where: str, problems: list[str]) -> tuple[Param, ...]:
    params: list[Param] = []
    for piece in text.split(","):
        if not piece.strip():
            continue
        head, has_default, default = piece.partition("=")
        name, _, kind = (part.strip() for part in head.partition(":"))
        optional = name.endswith("?") or kind.endswith("?")
        name, kind = name.rstrip("?").strip(), kind.rstrip("?").strip()
        if not _NAME.fullmatch(name) or (kind and not _KIND.fullmatch(kind)):
            problems.append(f"{where}: cannot read the tool argument {piece.strip()[:60]!r}; ignored")
            continue
        fallback = default.strip() if has_default else None
        params.append(make_param(name, kind or None, not optional, fallback, where, problems))
    return tuple(params)


def make_param(
    name: str, kind: str | None, required: bool, default: object, where: str, problems: list[str]
) -> Param:
    if kind is None:
        resolved = guess_kind(name)
    else:
        resolved = KIND_ALIASES.get(kind.lower(), kind.lower())
        if resolved not in ARG_KINDS:
            problems.append(
                f"{where}: unknown argument type {kind!r} for {name!r} (use {', '.join(ARG_KINDS)}); "
                "treated as text"
            )
            resolved = "text"
    fallback = None if default is None else unquote(str(default))
    return Param(name, resolved, required, fallback or None)


def guess_kind(name: str) -> str:
    """An argument written without a type: guess from its name (``people`` → number)."""
    low = name.lower()
    if any(part in low for part in ("time", "hour", "when")):
        return "time"
    if "name" in low:
        return "name"
    counts = ("people", "guests", "party", "count", "number", "size", "qty", "quantity", "amount", "seats")
    if any(part in low for part in (*counts, "nights", "age")):
        return "number"
    if "day" in low or "date" in low:
        return "day"
    return "text"


# --- Graph nodes ----------------------------------------------------------------------------------


def parse_nodes(nodes: object) -> Script:
    """Rules from a version's nodes (``{"type": "rule", ...}``, ``{"type": "default", ...}``)."""
    if isinstance(nodes, str | bytes) or not isinstance(nodes, Sequence):
        return Script(problems=("nodes: not a list; ignored",))
    problems: list[str] = []
    if len(nodes) > MAX_NODES:
        problems.append(f"nodes: more than {MAX_NODES}; the rest are ignored")
    rules: list[Rule] = []
    default: Action | None = None
    for index, node in enumerate(nodes[:MAX_NODES]):
        where = f"node {index}"
        if not isinstance(node, Mapping):
            problems.append(f"{where}: not a JSON object; skipped")
            continue
        kind = node.get("type", "rule" if "when" in node else None)
        if kind == "default":
            action = _node_action(node, where, problems)
            if action is not None and default is None:
                default = action
            elif action is not None:
                problems.append(f"{where}: a second default; only the first one is used")
        elif kind == "rule":
            triggers = _triggers(_node_when(node.get("when"), where, problems), where, problems)
            action = _node_action(node, where, problems) if triggers else None
            if not triggers:
                problems.append(f'{where}: a rule needs "when" phrases; skipped')
            elif action is not None:
                rules.append(Rule(triggers, action, where))
        else:
            problems.append(f"{where}: type {kind!r} is not a scripted-brain node (rule, default); skipped")
    return Script(tuple(rules), default, tuple(problems))


def _node_when(value: object, where: str, problems: list[str]) -> list[list[str]]:
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    groups: list[list[str]] = []
    for item in items:
        if isinstance(item, str):
            groups.append([unquote(item)])
        elif isinstance(item, list) and all(isinstance(part, str) for part in item):
            groups.append([unquote(part) for part in item])
        else:
            problems.append(f'{where}: "when" entries are strings or lists of strings; {item!r:.40} ignored')
    return groups


def _text(value: object, field: str, where: str, problems: list[str]) -> str | None:
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        return " ".join(part.strip() for part in value)
    if isinstance(value, str | int | float):
        return str(value)
    problems.append(f'{where}: "{field}" is not text; ignored')
    return None


def _node_action(node: Mapping[str, object], where: str, problems: list[str]) -> Action | None:
    say = _text(node.get("say"), "say", where, problems) or ""
    then = _text(node.get("then"), "then", where, problems)
    tool, raw = None, node.get("tool")
    if isinstance(raw, str):
        parsed = parse_action(f"tool {raw}" if "(" in raw else f"tool {raw}()", where, problems)
        tool = parsed.tool if parsed is not None else None
    elif (
        isinstance(raw, Mapping)
        and isinstance(raw.get("name"), str)
        and re.fullmatch(r"[A-Za-z_][\w.-]*", raw["name"])
    ):
        tool = ToolSpec(raw["name"], _node_params(raw.get("arguments", raw.get("args", [])), where, problems))
        then = then if then is not None else _text(raw.get("then"), "then", where, problems)
    elif raw is not None:
        problems.append(f'{where}: "tool" needs a "name" (letters, digits, _ . -); the tool is ignored')
    end = node.get("end") is True
    if not say and tool is None and not end:
        problems.append(f"{where}: nothing to say or do; skipped")
        return None
    return Action(say=unquote(say), tool=tool, then=unquote(then) if then is not None else None, end=end)


def _node_params(value: object, where: str, problems: list[str]) -> tuple[Param, ...]:
    if isinstance(value, str):
        return parse_params(value, where, problems)
    if isinstance(value, Mapping):  # {"people": "number", "time": "time"}
        value = [{"name": key, "type": kind} for key, kind in value.items()]
    if not isinstance(value, list):
        problems.append(f'{where}: tool "arguments" is not a list; ignored')
        return ()
    params: list[Param] = []
    for item in value:
        if isinstance(item, str):
            params.extend(parse_params(item, where, problems))
            continue
        name = item.get("name") if isinstance(item, Mapping) else None
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_]\w*", name):
            problems.append(f"{where}: a tool argument needs a name; {item!r:.40} ignored")
            continue
        assert isinstance(item, Mapping)
        kind = next(
            (item[key] for key in ("kind", "type", "dataType") if isinstance(item.get(key), str)), None
        )
        required = item.get("required", True) is not False
        params.append(make_param(name, kind, required, item.get("default"), where, problems))
    return tuple(params)
