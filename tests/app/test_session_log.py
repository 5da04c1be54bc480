"""The session log's format: messages minus audio, audio by reference, and reading a damaged log."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from vatel.app.session_log import AudioRef, LogEntry, LogError, entry_for, read_log
from vatel.protocol import InputAudio, ResponseAudio, ToolCall, encode_pcm, parse_server_message

pytestmark = pytest.mark.unit


def test_audio_messages_are_logged_without_their_audio() -> None:
    chunk = parse_server_message(
        {
            "type": "response_audio",
            "data": {"turn_id": "t1", "audio": encode_pcm(bytes(960)), "is_final": True},
        }
    )
    assert isinstance(chunk, ResponseAudio)
    line = orjson.loads(entry_for(1.5, "in", chunk, AudioRef("right", 480, 480)).to_json())
    assert line == {
        "t": 1.5,
        "dir": "in",
        "type": "response_audio",
        "data": {"turn_id": "t1", "is_final": True},
        "audio": {"channel": "right", "offset": 480, "samples": 480},
    }
    sent = entry_for(0.25, "out", InputAudio.from_pcm(bytes(960)), AudioRef("left", 0, 480, -120.0))
    assert orjson.loads(sent.to_json())["data"] == {}
    assert b"AAAA" not in sent.to_json()


def test_other_messages_keep_their_data_and_lines_round_trip() -> None:
    call = parse_server_message(
        {
            "type": "tool_call",
            "data": {"toolCallId": "c1", "toolName": "f", "arguments": [{"name": "x", "value": 2}]},
        }
    )
    assert isinstance(call, ToolCall)
    entry = entry_for(2.0, "in", call)
    assert entry.data["toolName"] == "f" and entry.data["arguments"][0]["value"] == 2
    assert LogEntry.from_json(orjson.loads(entry.to_json())) == entry
    unknown = parse_server_message({"type": "brand_new", "data": {"a": 1}})
    assert orjson.loads(entry_for(3.0, "in", unknown).to_json())["type"] == "brand_new"
    with_ref = LogEntry(1.0, "out", "input_audio", {}, AudioRef("left", None, 10, -3.25))
    assert LogEntry.from_json(orjson.loads(with_ref.to_json())) == LogEntry(
        1.0, "out", "input_audio", {}, AudioRef("left", None, 10, -3.2)
    )


def write(path: Path, *lines: bytes) -> Path:
    path.write_bytes(b"".join(lines))
    return path


GOOD = b'{"t": 0.1, "dir": "in", "type": "session_started", "data": {"id": "x"}}\n'


def test_a_log_cut_mid_line_reads_up_to_the_cut(tmp_path: Path) -> None:
    read = read_log(write(tmp_path / "m.jsonl", GOOD, GOOD, b'{"t": 0.3, "dir": "i'))
    assert len(read.entries) == 2
    assert read.problem == f"{tmp_path / 'm.jsonl'} line 3 is cut short (the session was killed?)"
    assert read_log(write(tmp_path / "ok.jsonl", GOOD, GOOD)).problem is None


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"not json\n", "line 2 is not valid JSON"),
        (b"[1, 2]\n", "line 2: not a JSON object"),
        (b'{"t": -1, "dir": "in", "type": "x"}\n', "line 2: 't' is -1"),
        (b'{"t": true, "dir": "in", "type": "x"}\n', "line 2: 't' is True"),
        (b'{"t": 1, "dir": "sideways", "type": "x"}\n', "line 2: 'dir' is 'sideways'"),
        (b'{"t": 1, "dir": "in", "type": ""}\n', "line 2: 'type' is ''"),
        (
            b'{"t": 1, "dir": "in", "type": "x", "audio": {"channel": "center"}}\n',
            "'audio.channel' is 'center'",
        ),
        (
            b'{"t": 1, "dir": "in", "type": "x", "audio": {"channel": "left", "offset": -5, "samples": 1}}\n',
            "offset",
        ),
        (
            b'{"t": 1, "dir": "in", "type": "x", "audio": {"channel": "left", "offset": 1, "samples": "9"}}'
            b"\n",
            "samples",
        ),
        (b'{"t": 1, "dir": "in", "type": "x", "audio": [1]}\n', "'audio' is not an object"),
        (b'{"t": 0.05, "dir": "in", "type": "x"}\n', "line 2: 't' goes back in time"),
    ],
)
def test_a_bad_line_ends_the_read_and_is_named(tmp_path: Path, line: bytes, problem: str) -> None:
    read = read_log(write(tmp_path / "m.jsonl", GOOD, line, GOOD))
    assert len(read.entries) == 1
    assert read.problem is not None and problem in read.problem and str(tmp_path / "m.jsonl") in read.problem


def test_a_missing_log_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LogError, match=f"cannot read {tmp_path / 'none.jsonl'}"):
        read_log(tmp_path / "none.jsonl")
