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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import vatel
from support.echo_run import LONG_ANSWER, answer_session, answer_speech, erle_run
from support.serve_process import Serve
from support.virtual_card import VirtualCard

pytestmark = [pytest.mark.loopback, pytest.mark.audio]

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


def session_stats(
    card: VirtualCard, serve: Serve, agent_id: str, work: Path, *extra: str, stop_after: float | None = None
) -> dict[str, Any]:
    key = serve.data_dir.joinpath("api-key").read_text().strip()
    run = answer_session(
        card, serve.url, key, agent_id, work, *extra, answer=ANSWER_SECONDS, limit=stop_after or LIMIT_SECONDS
    )
    assert run.exit_code in (0, 130), run.stderr  # 0: the server ended the call first
    return run.stats


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
