"""``vatel serve --engines tones --audio-chunk-ms 20`` as a user runs it, and ``GET /debug/usage``."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx
import pytest

import vatel
from support.serve_process import VATEL, Serve

pytestmark = pytest.mark.loopback

FRAME = 960  # 20 ms of PCM16 at 24 kHz


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--engines", "whisper"), "invalid choice: 'whisper'"),
        (("--audio-chunk-ms", "5"), "audio chunks must be 10..200 ms"),
        (("--audio-chunk-ms", "fast"), "not a whole number of milliseconds"),
    ],
)
def test_bad_engine_flags(args: tuple[str, ...], message: str) -> None:
    result = subprocess.run([*VATEL, "serve", *args], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_call_on_the_tone_engines_and_its_cpu_accounting(tmp_path: Path) -> None:
    server = Serve(tmp_path / "data", live=True, args=["--engines", "tones", "--audio-chunk-ms", "20"])
    try:
        key = (tmp_path / "data" / "api-key").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=server.url) as http:
            assert (await http.get("/debug/usage")).status_code == 401
            before = (await http.get("/debug/usage", headers=headers)).json()
        async with vatel.Client(api_key=key, base_url=server.url) as client:
            agent = await client.agents.create_async(
                {"name": "tones", "prompt": "default: I heard {said}.", "first_message": "One two three."}
            )
            assert agent.id is not None
            token = (await client.session.generate_token_async(agent.id)).token
            async with client.connect(token) as conn:
                sizes: list[int] = []
                async for message in conn.stream_messages():
                    if message.type == "response_audio":
                        sizes.append(len(message.data.pcm))  # type: ignore[union-attr]
                        await conn.send_input_audio_bytes(bytes(FRAME))
                        if message.data.is_final:  # type: ignore[union-attr]
                            break
        async with httpx.AsyncClient(base_url=server.url) as http:
            after = (await http.get("/debug/usage", headers=headers)).json()
    finally:
        code, _, err = server.stop(signal.SIGTERM)
    assert code == 0, err
    # Three words of 0.25 s (36 000 bytes) in 20 ms chunks; an empty final chunk may close the turn.
    audio = [size for size in sizes if size]
    assert audio == [FRAME] * 37 + [FRAME // 2]
    assert after["components"]["tts"]["calls"] > before["components"]["tts"]["calls"]
    assert after["components"]["vad"]["calls"] > 0
    assert after["call_seconds"] > before["call_seconds"] + 0.5
    assert after["process_cpu_seconds"] >= after["event_loop_cpu_seconds"] > 0


def test_usage_without_live_calls_is_503(tmp_path: Path) -> None:
    server = Serve(tmp_path / "data")
    try:
        key = (tmp_path / "data" / "api-key").read_text().strip()
        answer = httpx.get(server.url + "/debug/usage", headers={"Authorization": f"Bearer {key}"})
    finally:
        server.stop(signal.SIGTERM)
    assert answer.status_code == 503 and "disabled" in answer.json()["error"]
