"""The live view: redrawn only when what it shows changes; transcript lines kept; closed twice safely."""

from __future__ import annotations

import io
import re

import pytest

from vatel.app.events import Line
from vatel.app.live_view import METER_CELLS, LiveView, Status, meter

pytestmark = pytest.mark.unit


def test_meter() -> None:
    assert meter(-120.0) == "·" * METER_CELLS
    assert meter(0.0) == "█" * METER_CELLS
    assert meter(-30.0) == "█" * (METER_CELLS // 2) + "·" * (METER_CELLS // 2)
    assert meter(6.0) == meter(0.0)


def test_an_unchanged_screen_is_not_redrawn() -> None:
    out = io.StringIO()
    view = LiveView(out)
    view.refresh(Status(activity="listening", mic_db=-40.0))
    redraws, written = view.redraws, len(out.getvalue())
    for _ in range(20):  # an idle session: ticks with the same picture
        view.refresh(Status(activity="listening", mic_db=-40.4))  # the same bar cell
    assert view.redraws == redraws and len(out.getvalue()) == written
    view.refresh(Status(activity="agent speaking", mic_db=-40.0))
    assert view.redraws == redraws + 1
    view.close()


def test_lines_are_printed_above_and_interim_text_is_kept_at_close() -> None:
    out = io.StringIO()
    view = LiveView(out)
    view.show(Line("agent", "heard part", key="agent:t1", unheard="lost part"))
    view.show(Line("user", "half a sen", key="user:u1", final=False))
    view.close()
    view.close()
    raw = out.getvalue()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)
    assert "Agent: heard part lost part" in text
    assert "\x1b[2;9mlost part" in raw  # struck through (and dim)
    assert "You: half a sen" in text
    assert raw.rfind("\x1b[?25h") > raw.rfind("\x1b[?25l")  # the cursor is given back
