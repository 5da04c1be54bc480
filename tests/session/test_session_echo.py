"""Echo cancellation in ``vatel session`` on the virtual card with its echo route on (the speaker
looped into the microphone, 30 ms later, as laptop speakers are heard by their microphone).

1. ERLE: a scripted server plays a 12 s answer; what the app sends is at least 20 dB below what
   the microphone heard, from 2 s into the answer (``support.echo_run``; the benchmark runs 60 s).
2. Self-interruption, with the real ``vatel serve`` (Silero VAD decides barge-in): the agent's
   long first message comes back through the microphone. With AEC the agent is never interrupted;
   with ``--no-aec`` it interrupts itself, which shows the test can fail. The issue asks for a 60 s
   answer; here it is about 25 s (two sessions of it run, on a shared two-core CI machine): a
   self-interruption comes within the first seconds of an answer once echo gets through, and the
   benchmark's 60 s ERLE run covers the long tail.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

import vatel
from support.echo_run import answer_speech, erle_run
from support.serve_process import Serve
from support.signals import rms_windows
from support.virtual_card import VirtualCard

pytestmark = [pytest.mark.loopback, pytest.mark.audio]

VATEL = [sys.executable, "-c", "from vatel.cli import entry_point; entry_point()"]
LONG_ANSWER = (
    "Welcome to the harbour bakery. Let me tell you about our day. We open at seven in the morning, "
    "when the first loaves come out of the oven. By eight the croissants are ready, and by nine we "
    "have rye bread, seed bread and the famous walnut loaf. At noon we serve soup with fresh rolls. "
    "In the afternoon there are apple cakes, plum cakes and cheese cakes, and on Saturdays a large "
    "chocolate cake that is usually gone by three. We close at six, and whatever is left goes to the "
    "shelter down the road. Now, how can I help you today?"
)
ANSWER_SECONDS = 20.0
"""At least this much of the answer must have played (it is about 25 s long)."""
LIMIT_SECONDS = 120.0
"""A session is stopped after this long in any case (a busy machine synthesises slowly)."""


@pytest.fixture
def echo_route(virtual_card: VirtualCard) -> Iterator[VirtualCard]:
    virtual_card.echo(True)
    try:
        yield virtual_card
    finally:
        virtual_card.echo(False)


def test_the_echo_is_cancelled_by_20_db_after_two_seconds(echo_route: VirtualCard, tmp_path: Path) -> None:
    answer = answer_speech(tmp_path, 12.0)
    run = erle_run(echo_route, answer, tmp_path)
    assert run.exit_code == 0, run.stderr
    assert run.match > 0.4, f"the echo route is not on: the answer was not found in the mic ({run.match:.2f})"
    assert run.raw_rms > 0.02, f"the echo is too quiet to measure (RMS {run.raw_rms:.4f})"
    levels = f"echo RMS {run.raw_rms:.4f}, sent {run.sent_rms:.5f}"
    assert run.erle_db >= 20, f"ERLE {run.erle_db:.1f} dB ({levels})"
    echo = run.stats["echo"]
    assert echo["frames_cancelled"] > 0 and echo["frames_muted"] > 0  # it ran, and warmed up


# --- self-interruption through the real server ------------------------------------------------------


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    server = Serve(tmp_path_factory.mktemp("echo-serve") / "data", live=True)
    try:
        yield server
    finally:
        server.stop(signal.SIGTERM)


@pytest.fixture(scope="module")
def talker_agent(serve: Serve) -> str:
    key = serve.data_dir.joinpath("api-key").read_text().strip()
    with vatel.Client(api_key=key, base_url=serve.url) as client:
        agent = client.agents.create(
            {"name": "Talker", "prompt": 'default: I heard "{said}".', "first_message": LONG_ANSWER}
        )
    assert agent.id is not None
    return agent.id


def played_so_far(recording: Path) -> tuple[float, float]:
    """(seconds from the first sound to the last, seconds of quiet after it) in the virtual
    speaker's recording so far."""
    data = recording.read_bytes() if recording.exists() else b""
    samples = np.frombuffer(data[: len(data) // 2 * 2], "<i2").astype(np.float32) / np.float32(32768)
    levels = rms_windows(samples, 0.05)
    loud = np.flatnonzero(levels > 0.01)
    if not len(loud):
        return 0.0, len(levels) * 0.05
    return (loud[-1] - loud[0]) * 0.05, (len(levels) - 1 - loud[-1]) * 0.05


def session_stats(
    card: VirtualCard, serve: Serve, agent_id: str, work: Path, *extra: str, stop_after: float | None = None
) -> dict[str, Any]:
    """Run ``vatel session`` until the answer has played (:data:`ANSWER_SECONDS` of sound, then 1.5 s
    of quiet) or ``stop_after`` seconds, stop it with Ctrl-C, and return its counters."""
    stats = work / "stats.json"
    recorder = card.record(work / "speaker.raw")
    key = serve.data_dir.joinpath("api-key").read_text().strip()
    process = subprocess.Popen(
        [
            *VATEL,
            *["session", "--api-key", key, "--agent-id", agent_id, "--base-url", serve.url],
            *["--stats-file", str(stats), *extra],
        ],
        env=card.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        started = time.monotonic()
        limit = started + (stop_after or LIMIT_SECONDS)
        while time.monotonic() < limit and process.poll() is None:
            time.sleep(0.5)
            sound, quiet = played_so_far(recorder.path)
            if stop_after is None and sound >= ANSWER_SECONDS and quiet >= 1.5:
                break
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        recorder.stop()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode in (0, 130), stderr  # 0: the server ended the call first
    result: dict[str, Any] = orjson.loads(stats.read_bytes())
    return result


@pytest.mark.models
def test_the_agent_does_not_interrupt_itself_with_aec(
    echo_route: VirtualCard, serve: Serve, talker_agent: str, tmp_path: Path
) -> None:
    stats = session_stats(echo_route, serve, talker_agent, tmp_path)
    played = stats["speaker"]["played_seconds"]
    assert played >= ANSWER_SECONDS, f"the answer was meant to be long; {played:.1f} s played: {stats}"
    assert stats["interruptions"] == 0, f"the agent interrupted itself ({played:.1f} s played): {stats}"
    assert stats["echo"]["frames_cancelled"] > 0


@pytest.mark.models
def test_without_aec_the_agent_interrupts_itself(
    echo_route: VirtualCard, serve: Serve, talker_agent: str, tmp_path: Path
) -> None:
    stats = session_stats(echo_route, serve, talker_agent, tmp_path, "--no-aec", stop_after=25.0)
    assert "echo" not in stats
    assert stats["interruptions"] >= 1, "the echo of the agent's voice should have made it barge in"
