"""Loading a recording for replay: frames cut from the WAV at the log offsets, tools by name in call order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vatel.app.replay import load_recording
from vatel.app.session_log import AudioRef, LogEntry
from vatel.audio.wav import StereoTimeline

pytestmark = pytest.mark.unit


def pcm(value: int) -> bytes:
    return np.full(480, value, dtype="<i2").tobytes()


def test_frames_times_and_tool_outputs(tmp_path: Path) -> None:
    timeline = StereoTimeline(tmp_path / "session.wav", 24_000)
    first = timeline.append_left(pcm(11), at=1.02)
    second = timeline.append_left(pcm(22), at=1.04)
    timeline.place_right(first, pcm(99))  # the right channel is not sent
    timeline.close()
    entries = [
        LogEntry(1.0, "in", "session_started", {"id": "s"}),
        LogEntry(1.02, "out", "input_audio", {}, AudioRef("left", first, 480, -9.0)),
        LogEntry(1.04, "out", "input_audio", {}, AudioRef("left", second, 480, -9.0)),
        LogEntry(2.0, "in", "tool_call", {"toolCallId": "a", "toolName": "f", "arguments": []}),
        LogEntry(2.1, "in", "tool_call", {"toolCallId": "b", "toolName": "f", "arguments": []}),
        LogEntry(2.2, "out", "tool_call_output", {"toolCallId": "b", "output": "second"}),
        LogEntry(2.5, "out", "tool_call_output", {"toolCallId": "a", "output": "first"}),
        LogEntry(3.0, "in", "session_ended", {}),
    ]
    (tmp_path / "messages.jsonl").write_bytes(b"".join(entry.to_json() for entry in entries))
    recording = load_recording(tmp_path)
    assert recording.warnings == []
    assert [(round(t, 4), audio) for t, audio in recording.frames] == [(0.02, pcm(11)), (0.04, pcm(22))]
    assert [(round(d, 4), out) for d, out in recording.tool_outputs["f"]] == [(0.5, "first"), (0.1, "second")]
    assert recording.tail == pytest.approx(3.0 - 1.04)
    assert recording.report()["tool_calls"][0]["output"] == "first"
