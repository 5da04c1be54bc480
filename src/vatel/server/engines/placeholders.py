"""``{name}`` placeholders and the session token's ``variables`` that fill them.

One syntax for every text an agent's author writes: the scripted brain's replies, the first
message and an LLM agent's prompt. Keys match ignoring case (``{Name}`` takes ``name``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDER = re.compile(r"\{\s*([A-Za-z_][\w.-]*)\s*\}")


def fill_variables(text: str, variables: Mapping[str, str], *, keep_unknown: bool) -> str:
    """``text`` with each known ``{key}`` replaced by its value.

    An unknown placeholder stays as written when ``keep_unknown`` (a prompt for a model, where
    braces may mean something else) and becomes empty otherwise (speech, where it would be read
    aloud).
    """
    if "{" not in text:
        return text
    folded = {str(key).casefold(): str(value) for key, value in variables.items()}

    def one(match: re.Match[str]) -> str:
        value = folded.get(match.group(1).casefold())
        if value is not None:
            return value
        return match.group(0) if keep_unknown else ""

    return PLACEHOLDER.sub(one, text)
