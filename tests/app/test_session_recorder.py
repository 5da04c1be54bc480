"""The recorder on a virtual clock: the log points into the WAV, files stay readable, failures warn once."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from vatel.app.errors import SessionError
from vatel.app.recording import SessionRecorder
from vatel.protocol import InputAudio, ServerMessage, UnknownMessage, encode_pcm, parse_server_message

pytestmark = pytest.mark.unit

RATE = 24_000


class Clock:
    def __init__(self) -> None:
        self.now = 100.0  # any origin: the recorder counts from its own start

    def __call__(self) -> float:
        return self.now


def pcm(value: int, samples: int = 480) -> bytes:
    return np.full(samples, value, dtype="<i2").tobytes()


def chunk(turn: str, audio: bytes, final: bool = False) -> ServerMessage | UnknownMessage:
    return parse_server_message(
        {"type": "response_audio", "data": {"turn_id": turn, "audio": encode_pcm(audio), "is_final": final}}
    )


def channels(path: Path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)


def lines(directory: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (directory / "messages.jsonl").read_bytes().splitlines()]


def test_the_log_points_at_the_audio_in_the_wav(tmp_path: Path) -> None:
    clock, warnings = Clock(), list[str]()
    recorder = SessionRecorder.open(tmp_path / "rec", clock, warnings.append)
    clock.now += 0.5
    recorder.received(parse_server_message({"type": "session_started", "data": {"id": "s"}}))
    clock.now += 0.02
    recorder.sent(InputAudio.from_pcm(pcm(1000)))  # sent at 0.52: its last sample is at 0.52
    clock.now += 0.02
    recorder.sent(InputAudio.from_pcm(pcm(2000)))
    clock.now += 0.26
    for value in (3000, 4000):  # two chunks arrive at once at 0.80: played one after the other
        recorder.played(pcm(value))
        recorder.received(chunk("t1", pcm(value)))
    recorder.received(chunk("t1", pcm(5000), final=True))  # not played (the core said so)
    recorder.tick(dict)
    assert len(channels(tmp_path / "rec" / "session.wav")) == round(0.3 * RATE)  # up to half a second ago
    recorder.close({"session_id": "s"})
    assert warnings == []

    wav = channels(tmp_path / "rec" / "session.wav")
    log = lines(tmp_path / "rec")
    assert [line["type"] for line in log] == [
        "session_started",
        *["input_audio"] * 2,
        *["response_audio"] * 3,
    ]
    refs: list[Any] = [line.get("audio") for line in log]
    assert refs[1] == {"channel": "left", "offset": round(0.52 * RATE) - 480, "samples": 480, "dbfs": -30.3}
    assert refs[2]["offset"] == round(0.52 * RATE)
    assert refs[3] == {"channel": "right", "offset": round(0.8 * RATE), "samples": 480}
    assert refs[4] == {"channel": "right", "offset": round(0.8 * RATE) + 480, "samples": 480}
    assert refs[5] == {"channel": "right", "offset": None, "samples": 480}
    for ref, value in zip(refs[1:5], (1000, 2000, 3000, 4000), strict=True):
        column = 0 if ref["channel"] == "left" else 1
        start = ref["offset"]
        assert (wav[start : start + 480, column] == value).all()
    assert wav[:, 1].astype(np.int64).sum() == 480 * (3000 + 4000)  # nothing else on the right
    report = orjson.loads((tmp_path / "rec" / "report.json").read_bytes())
    assert report["complete"] is True and report["stats"] == {"session_id": "s"}
    assert report["messages"] == {
        "in": {"response_audio": 3, "session_started": 1},
        "out": {"input_audio": 2},
    }


def test_the_report_is_rewritten_along_the_way(tmp_path: Path) -> None:
    clock = Clock()
    recorder = SessionRecorder.open(tmp_path, clock, print)
    recorder.tick(dict)
    assert not (tmp_path / "report.json").exists()
    clock.now += 2.5
    recorder.tick(lambda: {"speaker": {"underruns": 3}})
    report = orjson.loads((tmp_path / "report.json").read_bytes())
    assert report["complete"] is False and report["underruns"] == 3
    assert not (tmp_path / "report.json.tmp").exists()
    recorder.close({})


class FullDisk:
    def write(self, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_write_that_fails_stops_the_recording_with_one_warning(tmp_path: Path) -> None:
    clock, warnings = Clock(), list[str]()
    recorder = SessionRecorder.open(tmp_path, clock, warnings.append)
    clock.now += 1.0
    recorder.sent(InputAudio.from_pcm(pcm(7)))
    recorder._log = FullDisk()  # type: ignore[assignment]
    for _ in range(3):
        clock.now += 0.02
        recorder.sent(InputAudio.from_pcm(pcm(7)))
    recorder.tick(dict)
    recorder.close({})
    assert warnings == [
        f"recording stopped: cannot write {tmp_path / 'messages.jsonl'}: No space left on device; "
        "the session goes on, the files keep what was written"
    ]
    assert len(lines(tmp_path)) == 1
    assert len(channels(tmp_path / "session.wav")) >= 480  # what came before the failure is there


def test_a_directory_that_cannot_be_used_is_a_session_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SessionError, match=r"^--record .*/file: not a directory"):
        SessionRecorder.open(blocker, Clock(), print)
    with pytest.raises(SessionError, match=r"^--record .*/file/rec: cannot write there \(Not a directory\)"):
        SessionRecorder.open(blocker / "rec", Clock(), print)
