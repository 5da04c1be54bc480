"""A few seconds of ``benchmarks/density.py transport`` against an in-process server on the tones.

Not a speed test (nothing here asserts a latency): it keeps the benchmark's harness and the
server's CPU accounting working together, so the full run does not break unnoticed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import vatel
from vatel.server import ServerSettings, create_app
from vatel.server.engines.scripted_brain import ScriptedBrain
from vatel.server.engines.tones import tone_engines
from vatel.server.live.services import LiveServices
from vatel.server.runner import ServerThread

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import density

pytestmark = pytest.mark.loopback


@pytest.fixture
def tones_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    keys: list[str] = []
    live = LiveServices(tone_engines(), {"vatel/scripted": ScriptedBrain()}, audio_chunk_seconds=0.02)
    app = create_app(
        ServerSettings(data_dir=tmp_path / "data", database_url=None), live=live, on_first_key=keys.append
    )
    runner = ServerThread(app).start()
    try:
        yield runner.url, keys[0]
    finally:
        runner.stop()


async def test_five_transport_sessions_for_a_second(tones_server: tuple[str, str]) -> None:
    url, key = tones_server
    async with vatel.Client(api_key=key, base_url=url) as client:
        agent = await client.agents.create_async(
            {"name": "smoke", "prompt": "default: ok.", "first_message": " ".join(["la"] * 40) + "."}
        )
    assert agent.id is not None
    paths = await density.mint_paths(url, key, agent.id, 5)
    level = await density.transport_level(
        url,
        paths,
        1.0,
        lambda: density.usage(url, key),
        density.cpu_per_session_second,
        settle=0.5,
    )
    assert level["sessions"] == 5 and level["frames_in_window"] > 0
    assert 30 < level["frames_out_per_session_second"] < 70  # 20 ms chunks: 50 a second
    assert level["lateness_ms"]["p50"] >= 0
    cpu = level["server_cpu"]
    assert cpu["session_seconds"] > 4 * 0.9  # five calls open through the window
    assert cpu["per_session_second"]["transport"] > 0 and cpu["per_session_second"]["vad"] > 0
