"""``vatel session --record DIR``: the stereo WAV, the message log and the report of a scripted session.

The scripted loopback server says what happened on its side; the three files must say the same:
the left channel holds exactly the frames the server received, at the offsets the log gives; the
right channel the agent audio that was played; the report counts what the script did.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from support.recorded_sessions import SPOKEN, TOOL_OUTPUT, TURN1, TURN2, booking
from support.session_server import LiveSession, SessionServer
from support.signals import RATE, noise_burst, to_pcm16
from vatel.audio.wav import read_wav, write_wav

pytestmark = pytest.mark.loopback

VATEL = [sys.executable, "-c", "from vatel.cli import entry_point; entry_point()"]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("VATEL_")}


def run(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=clean_env(), capture_output=True, text=True, timeout=timeout, check=False)


def record_args(server: SessionServer, tmp_path: Path, record: Path, *extra: str) -> list[str]:
    spoken, tools = tmp_path / "in.wav", tmp_path / "tools.json"
    write_wav(spoken, to_pcm16(SPOKEN), RATE)
    tools.write_text(json.dumps({"book_table": TOOL_OUTPUT}))
    return [
        *VATEL,
        *["session", "--api-key", server.api_key, "--agent-id", server.agent_id, "--base-url", server.url],
        *["--input-file", str(spoken), "--output-file", str(tmp_path / "out.wav"), "--tools", str(tools)],
        *["--record", str(record), *extra],
    ]


def channels(path: Path) -> tuple[bytes, bytes]:
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, RATE, 2)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    return frames[:, 0].tobytes(), frames[:, 1].tobytes()


def log_lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def audio_at(channel: bytes, ref: dict[str, Any]) -> bytes:
    return channel[ref["offset"] * 2 : (ref["offset"] + ref["samples"]) * 2]


def test_the_three_files_say_what_the_scripted_server_did(tmp_path: Path) -> None:
    record = tmp_path / "new" / "rec"  # created, parents too
    with SessionServer(booking) as server:
        result = run(record_args(server, tmp_path, record))
        live = server.wait_done()
    assert result.returncode == 0, result.stderr
    left, right = channels(record / "session.wav")
    lines = log_lines(record / "messages.jsonl")
    assert all(line["dir"] in ("in", "out") for line in lines)
    times = [float(line["t"]) for line in lines]
    assert times == sorted(times)

    # Left: every frame the server received, at the offsets of the log, in order.
    sent = [line for line in lines if line["type"] == "input_audio"]
    assert len(sent) == len(live.input_frames)
    assert all(line["data"] == {} and line["audio"]["channel"] == "left" for line in sent)
    assert b"".join(audio_at(left, line["audio"]) for line in sent) == bytes(live.input_pcm)
    # ... and at the times of the log: the offset is the send time (session clock) less the frame.
    for line in sent:
        ref = line["audio"]
        assert abs(ref["offset"] + ref["samples"] - float(line["t"]) * RATE) < 0.11 * RATE

    # Right: the agent audio that was played, where the log says; the late chunks nowhere.
    received = [line for line in lines if line["type"] == "response_audio"]
    played = [line for line in received if line["audio"]["offset"] is not None]
    skipped = [line for line in received if line["audio"]["offset"] is None]
    assert b"".join(audio_at(right, line["audio"]) for line in played) == TURN1 + TURN1 + TURN2
    assert len(skipped) == len(TURN1) // 960 and all(line["data"]["turn_id"] == "t2" for line in skipped)
    assert "audio" not in str(received[0]["data"])
    # The greeting starts when it arrived (session clock = WAV clock).
    first = played[0]
    assert abs(first["audio"]["offset"] - float(first["t"]) * RATE) < RATE // 100

    report = orjson.loads((record / "report.json").read_bytes())
    assert report["complete"] is True
    assert report["session_id"] == "call-rec"
    assert report["messages"]["out"] == {"input_audio": len(live.input_frames), "tool_call_output": 1}
    assert report["messages"]["in"]["response_audio"] == len(received)
    assert report["messages"]["in"]["interruption"] == 1
    assert report["interruptions"] == 1
    assert report["user_transcripts"] == ["book a table for two"]
    assert [t["turn_id"] for t in report["turns"]] == ["t0", "t1", "t2"]
    assert [t["interrupted"] for t in report["turns"]] == [False, False, True]
    assert report["turns"][1]["text"] == f"Done. {TOOL_OUTPUT}"
    assert report["voiced_seconds"] == pytest.approx(len(SPOKEN) / RATE)
    [call] = report["tool_calls"]
    assert (call["name"], call["output"]) == ("book_table", TOOL_OUTPUT)
    assert live.tool_outputs == {"c1": TOOL_OUTPUT}
    assert 0 <= call["seconds"] < live.mark_at("answer") - live.mark_at("t0:last")
    # No latency for the greeting; for the answer, the client's figure agrees with the server's
    # clock: from the arrival of the last voiced frame to the first chunk of t1 (one machine, one
    # monotonic clock), within the network and frame resolution.
    assert report["turns"][0]["latency"] is None
    last_voiced = live.input_frames[len(SPOKEN) // 480 - 1][0]
    server_side = live.mark_at("t1:first") - last_voiced
    # (80 ms: two event loops on a shared machine; the last frame sent, 0.2 s later, would be off)
    assert report["turns"][1]["latency"] == pytest.approx(server_side, abs=0.08)
    assert report["latency"]["count"] == 1
    assert report["stats"]["late_chunks_dropped"] == len(skipped)


async def endless(live: LiveSession) -> None:
    await live.send("session_started", {"id": "call-long"})
    burst = to_pcm16(noise_burst(0.2, seed=5))
    for index in range(200):  # the agent talks now and then, until the client goes away
        if live.closed:
            return
        await live.send_audio(f"t{index}", burst, pace=1.0)
        await asyncio.sleep(0.3)


def test_kill_9_leaves_a_readable_wav_and_a_log_that_parses(tmp_path: Path) -> None:
    record = tmp_path / "rec"
    with SessionServer(endless) as server:
        process = subprocess.Popen(
            record_args(server, tmp_path, record),
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            log = record / "messages.jsonl"
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and (not log.exists() or log.read_bytes().count(b"\n") < 250):
                time.sleep(0.05)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    raw = (record / "messages.jsonl").read_bytes()
    lines = raw.split(b"\n")
    parsed = [orjson.loads(line) for line in lines[:-1]]  # every whole line parses
    assert len(parsed) >= 250
    sent = [line for line in parsed if line["type"] == "input_audio"]
    # The WAV plays (stdlib reader and ours) and holds all but the last half second or so.
    left, _ = channels(record / "session.wav")
    audio = read_wav(record / "session.wav")
    assert audio.channels == 2 and audio.rate == RATE
    last = sent[-1]["audio"]
    assert len(left) // 2 >= last["offset"] + last["samples"] - 0.8 * RATE
    written = [line for line in sent if line["audio"]["offset"] + line["audio"]["samples"] <= len(left) // 2]
    assert written and all(audio_at(left, line["audio"]) for line in written)
    # The report written along the way parses and says it is not the end.
    report = orjson.loads((record / "report.json").read_bytes())
    assert report["complete"] is False and report["session_id"] == "call-long"


async def no_server_needed(live: LiveSession) -> None:
    raise AssertionError("no session should open")


@pytest.mark.parametrize("where", ["under-a-file", "a-file", "proc"])
def test_a_record_dir_that_cannot_be_written_is_one_line_before_connecting(
    tmp_path: Path, where: str
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    record = {"under-a-file": blocker / "rec", "a-file": blocker, "proc": Path("/proc/vatel-rec")}[where]
    with SessionServer(no_server_needed) as server:
        result = run(record_args(server, tmp_path, record))
        assert server.sessions == [] and server.token_requests == 0
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: --record {record}"), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert blocker.read_text() == "a file, not a directory"


def test_ctrl_c_writes_the_final_report_and_closes_the_files(tmp_path: Path) -> None:
    record = tmp_path / "rec"
    with SessionServer(endless) as server:
        process = subprocess.Popen(
            record_args(server, tmp_path, record),
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            log = record / "messages.jsonl"
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and (not log.exists() or log.read_bytes().count(b"\n") < 100):
                time.sleep(0.05)
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert code == 130
    lines = log_lines(record / "messages.jsonl")  # every line parses, the last one too
    report = orjson.loads((record / "report.json").read_bytes())
    assert report["complete"] is True and report["session_id"] == "call-long"
    assert sum(report["messages"]["out"].values()) + sum(report["messages"]["in"].values()) == len(lines)
    left, _ = channels(record / "session.wav")
    last = [line for line in lines if line["type"] == "input_audio"][-1]["audio"]
    assert len(left) // 2 >= last["offset"] + last["samples"]  # all of it, not just up to half a second ago
