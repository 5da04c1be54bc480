"""The session ends even when a sound device will not close (PortAudio's abort can block)."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest

from vatel.app import shell
from vatel.app.config import SessionConfig
from vatel.app.shell import SessionApp

pytestmark = pytest.mark.unit


class StuckDevice:
    """A device whose close() blocks until released, like an abort stuck in the host API."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.closing = threading.Event()

    def close(self) -> None:
        self.closing.set()
        self.release.wait(30)


class GoodDevice:
    closed = False

    def close(self) -> None:
        self.closed = True


def test_a_device_that_will_not_close_is_left_after_the_limit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(shell, "DEVICE_CLOSE_SECONDS", 0.2)
    out = io.StringIO()
    app = SessionApp(SessionConfig(api_key="k", agent_id="a", base_url="http://127.0.0.1:9"), out=out)
    stuck, good = StuckDevice(), GoodDevice()
    app.microphone, app.speaker = stuck, good  # type: ignore[assignment]
    started = time.monotonic()
    app._close_devices()
    took = time.monotonic() - started
    stuck.release.set()
    assert stuck.closing.is_set() and good.closed  # the next device is still closed
    assert took < 20.0  # bounded by the limit, not by the stuck close (30 s)
    assert "did not close within 0.2 s" in out.getvalue()
