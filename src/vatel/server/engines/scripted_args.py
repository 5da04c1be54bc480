"""Tool arguments of the scripted brain, taken from what the user said.

Each argument becomes a descriptor as the wire's ``VoiceSessionInputVariable`` wants:
``{"name", "type": "resolved", "dataType", "required", "value"}``. Values per kind:

- ``number``: int or float, from digits or words ("twenty five" → 25, "a hundred" → 100);
- ``time``: ``"HH:MM"`` on a 24-hour clock. The hour is taken as said unless a marker says
  otherwise: "at seven thirty" → "07:30", "7:30 pm" / "half past seven in the evening" /
  "seven thirty tonight" → "19:30", "noon" → "12:00". A bare number is a time only after "at",
  "around", "by", "until", "before", "after", or with minutes, "o'clock" or a marker, so
  "for four at seven" gives the number 4 and the time "07:00";
- ``name``: after "my name is", "name's", "call me", "under (the name)" in any case, or after
  "for", "this is", "I'm", "it's" when capitalised (speech-to-text engines that write lower case
  only find the first kind); a capitalised second word is kept as a surname;
- ``day``: "today" (also "tonight"), "tomorrow", "day after tomorrow", a weekday, "next friday";
- ``text``: what was said after the rule's phrase, or the whole utterance.

Several arguments of one kind take the values in the order they were said; a value not found is
the argument's default, else ``None`` (``null`` on the wire).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from typing import Any

from vatel.server.engines.scripted_rules import Param, Tokens, normal_word, tokenize

DATA_TYPES = {"number": "number"}

_UNITS = {
    word: value
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "  # noqa: SIM905
        "sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {
    word: 10 * (i + 2)
    for i, word in enumerate(["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"])
}
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_TIME_LEADS = frozenset({"at", "around", "by", "until", "till", "before", "after"})
_MARKERS = {
    ("am",): "am",
    ("a", "m"): "am",
    ("pm",): "pm",
    ("p", "m"): "pm",
    ("in", "the", "morning"): "am",
    ("this", "morning"): "am",
    ("in", "the", "afternoon"): "pm",
    ("this", "afternoon"): "pm",
    ("in", "the", "evening"): "pm",
    ("this", "evening"): "pm",
    ("at", "night"): "pm",
    ("tonight",): "pm",
}
_WEEKDAYS = frozenset(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"])
_STRONG_NAME: tuple[tuple[str, ...], ...] = (
    ("my", "name", "is"),
    ("name", "is"),
    ("names",),
    ("call", "me"),
    ("under", "the", "name", "of"),
    ("under", "the", "name"),
    ("named",),
    ("called",),
    ("under",),
)
_WEAK_NAME: tuple[tuple[str, ...], ...] = (("for",), ("this", "is"), ("im",), ("i", "am"), ("its",))
_NOT_NAMES = (
    frozenset(
        "a an the me you my your i it its that this here there please and or at for to of in on with "  # noqa: SIM905
        "table tables dinner lunch breakfast today tonight tomorrow noon midnight people person guests "
        "now then just not no yes ok okay".split()
    )
    | _WEEKDAYS
    | frozenset(_UNITS)
    | frozenset(_TENS)
)


def extract_arguments(
    params: Sequence[Param], said: str, tokens: Tokens | None = None, after: int = 0
) -> tuple[dict[str, Any], ...]:
    """Descriptors for ``params`` with values found in ``said`` (in order, per kind).

    ``after`` is the index of the first word after the rule's phrase: ``text`` arguments start there.
    """
    tokens = tokens if tokens is not None else tokenize(said)
    kinds = {param.kind for param in params}
    found: dict[str, list[Any]] = {}
    if kinds & {"time", "number"}:  # numbers inside a time are not numbers
        times = find_times(tokens.words)
        taken = {i for start, end, _ in times for i in range(start, end)}
        found["time"] = [value for _, _, value in times]
        found["number"] = find_numbers(tokens.words, taken) if "number" in kinds else []
    if "name" in kinds:
        found["name"] = find_names(tokens)
    if "day" in kinds:
        found["day"] = find_days(tokens.words)
    if "text" in kinds:
        found["text"] = [free_text(said, tokens, after)]
    arguments = []
    for param in params:
        queue = found.get(param.kind, [])
        value = queue.pop(0) if queue else _fallback(param)
        arguments.append(
            {
                "name": param.name,
                "type": "resolved",
                "dataType": DATA_TYPES.get(param.kind, "string"),
                "required": param.required,
                "value": value,
            }
        )
    return tuple(arguments)


def _fallback(param: Param) -> Any:
    if param.default is None or param.kind != "number":
        return param.default
    number = read_number(tokenize(param.default).words, 0)
    return number[0] if number is not None else param.default


def read_number(words: Sequence[str], i: int, stop: int | None = None) -> tuple[int | float, int] | None:
    """A number at ``words[i]``: digits, or number words ("one hundred and twenty five")."""
    stop = len(words) if stop is None else stop
    if i < stop and _DIGITS.fullmatch(words[i]):
        text = words[i]
        return (float(text) if "." in text else int(text)), i + 1
    total, current, last, j = 0, 0, "", i
    while j < stop:
        word = words[j]
        if word in _UNITS and (
            not last or last in ("hundred", "thousand") or (last == "tens" and 0 < _UNITS[word] < 10)
        ):
            current, last = current + _UNITS[word], "unit"
        elif word in _TENS and last in ("", "hundred", "thousand"):
            current, last = current + _TENS[word], "tens"
        elif word == "hundred" and last in ("unit", "tens") and current < 100:
            current, last = current * 100, "hundred"
        elif word == "thousand" and last in ("unit", "tens", "hundred"):
            total, current, last = total + current * 1000, 0, "thousand"
        elif word == "a" and not last and j + 1 < stop and words[j + 1] in ("hundred", "thousand"):
            current, last = 1, "unit"
        elif (
            word == "and"
            and last in ("hundred", "thousand")
            and j + 1 < stop
            and (words[j + 1] in _UNITS or words[j + 1] in _TENS)
        ):
            pass
        else:
            break
        j += 1
    return (total + current, j) if j > i else None


def find_numbers(words: Sequence[str], taken: Collection[int] = ()) -> list[int | float]:
    numbers: list[int | float] = []
    i = 0
    while i < len(words):
        stop = next((k for k in range(i, len(words)) if k in taken), len(words))
        found = read_number(words, i, stop) if i not in taken else None
        if found is None or (words[i] == "a" and found[1] == i + 1):
            i += 1
            continue
        numbers.append(found[0])
        i = found[1]
    return numbers


def find_times(words: Sequence[str]) -> list[tuple[int, int, str]]:
    """Times as ``(start, end, "HH:MM")``: "at seven thirty", "7:30 pm", "half past six", "noon"."""
    times, i = [], 0
    while i < len(words):
        found = _time_at(words, i)
        if found is None:
            i += 1
        else:
            times.append((i, found[0], found[1]))
            i = found[0]
    return times


def _time_at(words: Sequence[str], i: int) -> tuple[int, str] | None:
    lead = words[i] in _TIME_LEADS
    start = i + 1 if lead else i
    if lead and start < len(words) and words[start] in ("about", "around"):
        start += 1
    if start >= len(words):
        return None
    word = words[start]
    if word in ("noon", "midday", "midnight"):
        return start + 1, "00:00" if word == "midnight" else "12:00"
    if word in ("half", "quarter") and start + 2 < len(words) and words[start + 1] in ("past", "to"):
        hour = _read_hour(words, start + 2, 1, 12)
        if hour is None or (word == "half" and words[start + 1] == "to"):
            return None
        minutes = 30 if word == "half" else 15
        h, end = hour
        if words[start + 1] == "to":
            h, minutes = (h - 1) or 12, 60 - minutes
        return _with_marker(words, end, h, minutes)
    clock = _CLOCK.fullmatch(word)
    if clock:
        h, minutes = int(clock.group(1)), int(clock.group(2))
        return _with_marker(words, start + 1, h, minutes) if h < 24 and minutes < 60 else None
    hour = _read_hour(words, start, 0, 23 if lead else 12)
    if hour is None:
        return None
    h, end = hour
    minutes, said_minutes = 0, False
    if end < len(words) and words[end] == "oclock":
        end += 1
        said_minutes = True
    elif end + 1 < len(words) and words[end] in ("oh", "o") and 0 < _UNITS.get(words[end + 1], 0) < 10:
        minutes, end, said_minutes = _UNITS[words[end + 1]], end + 2, True
    else:
        after = read_number(words, end)
        if after is not None and isinstance(after[0], int) and 10 <= after[0] < 60:
            minutes, end, said_minutes = after[0], after[1], True
    marked = _marker(words, end)
    if not lead and marked is None and not said_minutes:
        return None
    return _with_marker(words, end, h, minutes)


def _read_hour(words: Sequence[str], i: int, low: int, high: int) -> tuple[int, int] | None:
    found = read_number(words, i)
    if found is None or not isinstance(found[0], int) or not low <= found[0] <= high:
        return None
    return found[0], found[1]


def _marker(words: Sequence[str], i: int) -> tuple[str, int] | None:
    for pattern, meaning in _MARKERS.items():
        if tuple(words[i : i + len(pattern)]) == pattern:
            return meaning, i + len(pattern)
    return None


def _with_marker(words: Sequence[str], end: int, hour: int, minutes: int) -> tuple[int, str]:
    marked = _marker(words, end)
    if marked is not None and 1 <= hour <= 12:
        meaning, end = marked
        if meaning == "pm" and hour < 12:
            hour += 12
        elif meaning == "am" and hour == 12:
            hour = 0
    return end, f"{hour:02d}:{minutes:02d}"


def find_days(words: Sequence[str]) -> list[str]:
    days = []
    for i, word in enumerate(words):
        if word in ("today", "tonight", "tomorrow"):
            day = "today" if word == "tonight" else word
            if word == "tomorrow" and tuple(words[max(0, i - 2) : i]) == ("day", "after"):
                day = "day after tomorrow"
            days.append(day)
        elif word in _WEEKDAYS:
            days.append(f"next {word}" if i and words[i - 1] == "next" else word)
    return days


def find_names(tokens: Tokens) -> list[str]:
    """Names after "my name is", "under", "call me" (any case) or "for", "this is" (capitalised)."""
    names: list[str] = []
    words, raw = tokens.words, tokens.raw
    for patterns, strong in ((_STRONG_NAME, True), (_WEAK_NAME, False)):
        for pattern in sorted(patterns, key=len, reverse=True):
            size = len(pattern)
            for at in range(size, len(words)):
                if words[at - size : at] != pattern:
                    continue
                if not _name_like(raw[at]) or not (strong or raw[at][0].isupper()):
                    continue
                parts = [raw[at]]
                if at + 1 < len(raw) and _name_like(raw[at + 1]) and raw[at + 1][0].isupper():
                    parts.append(raw[at + 1])
                name = " ".join(part[0].upper() + part[1:] for part in parts)
                if name not in names:
                    names.append(name)
    return names


def _name_like(word: str) -> bool:
    return word[:1].isalpha() and normal_word(word) not in _NOT_NAMES


def free_text(said: str, tokens: Tokens, after: int) -> str:
    """What was said after the rule's phrase (all of it when nothing follows the phrase)."""
    if 0 < after < len(tokens.spans):
        rest = said[tokens.spans[after - 1][1] :].strip(" \t\n,.;:!?")
        if rest:
            return rest
    return said.strip()


def spoken(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
