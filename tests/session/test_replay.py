"""``vatel replay DIR``: a recorded session sent again to the scripted server, the same or changed.

One session is recorded (``vatel session --input-file ... --record``) against the scripted
``booking`` session; the replays run against the same script (no differences, the same audio
arrives) and a changed one (the differences are listed); damaged recordings fail in one line or
replay their valid part with a warning.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import orjson
import pytest

from support.recorded_sessions import SPOKEN, TOOL_OUTPUT, booking, booking_changed
from support.session_server import LiveSession, SessionServer
from support.signals import RATE, to_pcm16
from vatel.audio.wav import write_wav

pytestmark = pytest.mark.loopback

VATEL = [sys.executable, "-c", "from vatel.cli import entry_point; entry_point()"]


def run(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VATEL_")}
    return subprocess.run(
        [*VATEL, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def server_args(server: SessionServer) -> list[str]:
    return ["--api-key", server.api_key, "--agent-id", server.agent_id, "--base-url", server.url]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A recording of the ``booking`` session, and the audio the server received in it."""
    base = tmp_path_factory.mktemp("recorded")
    spoken, tools = base / "in.wav", base / "tools.json"
    write_wav(spoken, to_pcm16(SPOKEN), RATE)
    tools.write_text(json.dumps({"book_table": TOOL_OUTPUT}))
    with SessionServer(booking) as server:
        result = run(
            [
                *["session", *server_args(server), "--input-file", str(spoken)],
                *[
                    "--output-file",
                    str(base / "out.wav"),
                    "--tools",
                    str(tools),
                    "--record",
                    str(base / "rec"),
                ],
            ]
        )
        live = server.wait_done()
    assert result.returncode == 0, result.stderr
    return base / "rec", bytes(live.input_pcm)


def replay(
    recording: Path, script: object, *extra: str
) -> tuple[subprocess.CompletedProcess[str], LiveSession]:
    with SessionServer(script) as server:  # type: ignore[arg-type]
        result = run(["replay", str(recording), *server_args(server), *extra])
        live = server.wait_done()
    return result, live


def test_the_same_server_gives_no_differences_and_hears_the_same_audio(
    recorded: tuple[Path, bytes], tmp_path: Path
) -> None:
    recording, heard_then = recorded
    result, live = replay(recording, booking, "--json", "--record", str(tmp_path / "again"))
    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads(result.stdout)
    assert out["same"] is True and out["differences"] == []
    assert out["messages"]["in"]["tool_call"] == [1, 1]
    assert out["now"]["user_transcripts"] == ["book a table for two"]
    assert out["now"]["turns"][1]["latency"] is not None
    # The audio sent is the recorded audio, frame for frame; the tool got the recorded output.
    assert bytes(live.input_pcm) == heard_then
    assert live.tool_outputs == {"c1": TOOL_OUTPUT}
    # The new run is recorded like a session.
    again = orjson.loads((tmp_path / "again" / "report.json").read_bytes())
    assert again["complete"] is True and again["interruptions"] == 1
    with wave.open(str(tmp_path / "again" / "session.wav")) as wav:
        assert wav.getnchannels() == 2


def test_a_changed_server_gets_its_differences_listed(recorded: tuple[Path, bytes]) -> None:
    result, _ = replay(recorded[0], booking_changed)
    assert result.returncode == 3, result.stdout + result.stderr
    text = result.stdout
    assert "differences" in text.splitlines()[0]
    assert "book a [-table-] {+cable+} for two" in text
    assert "[-Done. table for 2 at 19:00-] {+Sorry, we are closed.+}" in text
    assert "interruptions: 1 recorded, 0 now" in text
    assert "tool calls: book_table recorded, none now" in text


def test_a_log_cut_mid_line_is_replayed_up_to_the_cut_with_a_warning(
    recorded: tuple[Path, bytes], tmp_path: Path
) -> None:
    copy = tmp_path / "cut"
    shutil.copytree(recorded[0], copy)
    log = copy / "messages.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    keep = next(i for i, line in enumerate(lines) if b'"tool_call"' in line)  # cut before the tool call
    log.write_bytes(b"".join(lines[:keep]) + lines[keep][:25])
    result, live = replay(copy, booking_changed, "--json")
    assert result.returncode == 3  # the changed server: differences, but a replay all the same
    assert f"{log} line {keep + 1} is cut short" in result.stderr
    assert f"replaying the {keep} lines before it" in result.stderr
    assert "Traceback" not in result.stderr
    out = json.loads(result.stdout)
    assert out["recorded"]["messages"]["in"].get("tool_call") is None
    assert len(live.input_pcm) > 0


def damage(recording: Path, target: Path, how: str) -> Path:
    shutil.copytree(recording, target)
    if how == "no log":
        (target / "messages.jsonl").unlink()
    elif how == "no wav":
        (target / "session.wav").unlink()
    elif how == "garbage wav":
        (target / "session.wav").write_bytes(b"RIFF not really a wav")
    elif how == "mono wav":
        write_wav(target / "session.wav", bytes(4800), RATE)
    elif how == "8-bit wav":
        with wave.open(str(target / "session.wav"), "wb") as wav:
            wav.setnchannels(2)
            wav.setsampwidth(1)
            wav.setframerate(RATE)
            wav.writeframes(bytes(4800))
    elif how == "empty log":
        (target / "messages.jsonl").write_bytes(b"")
    elif how == "garbage log":
        (target / "messages.jsonl").write_bytes(b"\x00\xff not json\n")
    elif how == "no dir":
        shutil.rmtree(target)
    return target


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("no log", "cannot read {dir}/messages.jsonl"),
        ("no wav", "cannot read {dir}/session.wav"),
        ("garbage wav", "{dir}/session.wav is not a WAV file"),
        ("mono wav", "{dir}/session.wav is 1 channel(s) of 16-bit samples at 24000 Hz"),
        (
            "8-bit wav",
            "{dir}/session.wav is 2 channel(s) of 8-bit samples at 24000 Hz, not the 16-bit stereo",
        ),
        ("empty log", "{dir}/messages.jsonl has no session_started"),
        ("garbage log", "{dir}/messages.jsonl line 1 is not valid JSON, and no session_started before it"),
        ("no dir", "{dir} is not a recording directory"),
    ],
)
def test_a_damaged_recording_is_one_line_naming_the_file(
    recorded: tuple[Path, bytes], tmp_path: Path, how: str, says: str
) -> None:
    target = damage(recorded[0], tmp_path / "damaged", how)
    result = run(
        ["replay", str(target), "--api-key", "k", "--agent-id", "a", "--base-url", "http://127.0.0.1:9"]
    )
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("error: ") and says.format(dir=target) in lines[-1], result.stderr
    assert "Traceback" not in result.stderr


def test_recording_the_replay_over_its_own_recording_is_refused(recorded: tuple[Path, bytes]) -> None:
    result = run(
        ["replay", str(recorded[0]), "--api-key", "k", "--agent-id", "a", "--record", str(recorded[0])]
    )
    assert result.returncode == 1
    assert result.stderr == "error: --record must name another directory than the recording being replayed\n"


async def listen_only(live: LiveSession) -> None:
    await live.send("session_started", {"id": "call-listen"})
    await live.wait_until(lambda: live.closed, 30, "the replay to close")


def test_frames_past_the_end_of_a_cut_wav_are_not_sent_and_say_so(
    recorded: tuple[Path, bytes], tmp_path: Path
) -> None:
    copy = tmp_path / "short"
    shutil.copytree(recorded[0], copy)
    with wave.open(str(recorded[0] / "session.wav")) as wav:
        half = wav.readframes(wav.getnframes() // 2)
    with wave.open(str(copy / "session.wav"), "wb") as wav:  # as a session killed half way leaves it
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(half)
    result, live = replay(copy, listen_only, "--json")
    assert result.returncode == 3
    assert f"of {copy}/messages.jsonl are past the end of {copy}/session.wav" in result.stderr
    out = json.loads(result.stdout)
    sent_then, sent_now = out["messages"]["out"]["input_audio"]
    assert 0 < sent_now < sent_then and len(live.input_frames) == sent_now


def test_a_base_url_without_a_key_is_refused(recorded: tuple[Path, bytes]) -> None:
    result = run(["replay", str(recorded[0]), "--base-url", "http://127.0.0.1:9"])
    assert result.returncode == 1
    assert (
        result.stderr == "error: no API key for http://127.0.0.1:9: pass --api-key (or set VATEL_API_KEY)\n"
    )
