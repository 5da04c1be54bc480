"""Keys read from the terminal: characters one by one, escape sequences (arrows, F-keys) left out."""

from __future__ import annotations

import pytest

from vatel.app.terminal import keys_of

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("data", "keys"),
    [
        (b"mq", ["m", "q"]),
        (b"\x1b", ["\x1b"]),  # a lone Esc cancels the prompt
        (b"\x1b[A", []),  # up arrow
        (b"a\x1bOPb", ["a", "b"]),  # F1 between two keys
        (b"\x1b[1;5C/x", ["/", "x"]),  # Ctrl-right, then typing
        (b"\x1b[200~", []),  # bracketed paste start
        ("é ".encode(), ["é", " "]),
        (b"\xff", ["\ufffd"]),  # not UTF-8: a replacement character, which the core ignores or hints at
    ],
)
def test_keys_of(data: bytes, keys: list[str]) -> None:
    assert keys_of(data) == keys
