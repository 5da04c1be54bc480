"""When each microphone frame was captured: the callback's clock, less what the framer holds back."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import numpy as np
import pytest

from vatel.audio import microphone as microphone_module
from vatel.audio.devices import Device
from vatel.audio.handoff import BlockHandoff
from vatel.audio.microphone import Microphone

pytestmark = pytest.mark.unit

RATE = 24_000  # the wire rate: no resampler delay in the way


async def test_each_frame_is_timed_at_the_end_of_its_capture(monkeypatch: pytest.MonkeyPatch) -> None:
    mic = Microphone(Device(index=0, name="fake", inputs=1, outputs=0, default_rate=RATE, host_api="fake"))
    mic.rate, mic.channels = RATE, 1
    mic._handoff = BlockHandoff(asyncio.get_running_loop(), capacity=8)
    clock = iter([100.0, 100.03])  # the callbacks run when each block has been captured
    monkeypatch.setattr(microphone_module, "_monotonic", lambda: next(clock))
    quiet = SimpleNamespace(input_overflow=False)
    for seconds in (0.04, 0.03):  # 40 ms: two whole frames; then 30 ms: one frame, 10 ms held back
        block = np.zeros(round(seconds * RATE), dtype=np.float32).tobytes()
        mic._callback(block, round(seconds * RATE), SimpleNamespace(inputBufferAdcTime=5.0), quiet)
    mic._handoff.close()
    times = [mic.captured_until async for _ in mic.frames()]
    assert times == [pytest.approx(99.98), pytest.approx(100.0), pytest.approx(100.02)]
