"""What the words of a pause say about the end of the turn (``endpointing.text_verdict``)."""

from __future__ import annotations

import pytest

from vatel.server.live.endpointing import text_verdict

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("What are your opening hours?", "complete"),
        ("Thank you.", "complete"),
        ("What are you looking for?", "complete"),  # a question may end on a preposition
        ("Yes!", "complete"),
        ("I would like to book a table,", "incomplete"),
        ("I would like to book a table for", "incomplete"),
        ("My name is Anna and.", "incomplete"),  # whisper's full stop after "and" does not count
        ("So, um", "incomplete"),
        ("I want to", "incomplete"),
        ("Well...", "incomplete"),
        ("The number is five five -", "incomplete"),
        ("Hello", "unsure"),
        ("", "unsure"),
        ("   ", "unsure"),
        ("¿¡ 42", "unsure"),
    ],
)
def test_text_verdict(text: str, verdict: str) -> None:
    assert text_verdict(text) == verdict
