"""The transcript printer: interim lines replaced in place on a terminal, finals only in a pipe."""

from __future__ import annotations

import io

import pytest

from vatel.app.events import Line
from vatel.app.printer import Printer

pytestmark = pytest.mark.unit

ERASE = "\r\x1b[2K"


def lines() -> list[Line]:
    return [
        Line("info", "Session started: c1"),
        Line("user", "hel", key="u", final=False),
        Line("user", "hello", key="u", final=False),
        Line("user", "hello agent", key="u", final=True),
        Line("status", "listening"),
        Line("agent", "Hi", key="a", final=False),
        Line("agent", "Hi there", key="a", final=True),
    ]


def test_on_a_terminal_interim_text_is_replaced_in_place() -> None:
    out = io.StringIO()
    printer = Printer(out, tty=True)
    for line in lines():
        printer.show(line)
    printer.close()
    assert out.getvalue() == (
        "Session started: c1\n"
        "You: hel" + ERASE + "You: hello" + ERASE + "You: hello agent\n"
        "\x1b[2mlistening\x1b[0m" + ERASE + "Agent: Hi" + ERASE + "Agent: Hi there\n"
    )


def test_an_interim_line_cut_by_another_speaker_is_kept() -> None:
    out = io.StringIO()
    printer = Printer(out, tty=True)
    printer.show(Line("agent", "I was say", key="a", final=False))
    printer.show(Line("user", "stop", key="u", final=True))
    assert out.getvalue() == "Agent: I was say\nYou: stop\n"


def test_in_a_pipe_only_finals_and_info_are_printed() -> None:
    out = io.StringIO()
    printer = Printer(out, tty=False)
    for line in lines():
        printer.show(line)
    printer.close()
    assert out.getvalue() == "Session started: c1\nYou: hello agent\nAgent: Hi there\n"
