"""``Playout.synthesised``: counted, not scanned, so it must stay exact under any order of events."""

from __future__ import annotations

import pytest

from vatel.server.live.playout import Playout

pytestmark = pytest.mark.unit


def synthesised(playout: Playout) -> bool:
    return playout.synthesised  # read through a call, so the type checker does not narrow it


def test_synthesised_once_every_segment_is_done_in_any_order_and_twice() -> None:
    playout = Playout("turn-1")
    assert synthesised(playout)  # nothing asked for yet
    first, second, third = (playout.add_segment(text) for text in ("One.", "Two.", "Three."))
    playout.segment_done(second)
    playout.segment_done(second)  # reported twice: counted once
    playout.segment_done(7)  # no such segment: ignored
    playout.segment_done(-1)
    assert not synthesised(playout)
    playout.segment_done(third)
    assert not synthesised(playout)
    playout.segment_done(first)
    assert synthesised(playout)
    playout.add_segment("Four.")  # the brain said more
    assert not synthesised(playout)
