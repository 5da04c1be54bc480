"""Two ``vatel serve`` processes on one PostgreSQL serve the same data (the scale-out path)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import jwt
import pytest

from support.serve_process import Serve

pytestmark = pytest.mark.loopback


def test_two_replicas_share_one_database(tmp_path: Path, fresh_postgres_url: str) -> None:
    env = {**os.environ, "VATEL_DATABASE_URL": fresh_postgres_url}
    first = Serve(tmp_path / "one", env=env)
    second = Serve(tmp_path / "two", env=env)
    try:
        key = (tmp_path / "one" / "api-key").read_text().strip()
        assert not (tmp_path / "two" / "api-key").exists()  # one organization, one first key
        auth = {"Authorization": f"Bearer {key}"}
        created = httpx.post(first.url + "/v1/agents", json={"name": "Shared"}, headers=auth)
        assert created.status_code == 201
        agent_id = created.json()["id"]
        seen = httpx.get(second.url + f"/v1/agents/{agent_id}", headers=auth)
        assert seen.status_code == 200 and seen.json()["name"] == "Shared"
        version = httpx.get(second.url + f"/v1/agents/{agent_id}/versions", headers=auth).json()[0]["id"]
        publish = f"/v1/agents/{agent_id}/versions/{version}/publish"
        assert httpx.post(second.url + publish, headers=auth).status_code == 200
        assert httpx.post(first.url + publish, headers=auth).status_code == 409  # state is shared
        tokens = [
            httpx.post(server.url + "/v1/session-token", json={"agent_id": agent_id}, headers=auth).json()[
                "token"
            ]
            for server in (first, second)
        ]
        headers = {jwt.get_unverified_header(token)["alg"] for token in tokens}
        assert headers == {"HS256"}
        claims = [jwt.decode(t, options={"verify_signature": False}) for t in tokens]
        assert {c["version_id"] for c in claims} == {version}
    finally:
        for server in (first, second):
            code, _, err = server.stop(signal.SIGTERM)
            assert code == 0, err


def test_replicas_sign_with_one_secret(tmp_path: Path, fresh_postgres_url: str) -> None:
    import asyncio

    from vatel.server.store.database import migrate, open_engine
    from vatel.server.store.organizations import session_token_secret

    env = {**os.environ, "VATEL_DATABASE_URL": fresh_postgres_url}
    first, second = Serve(tmp_path / "one", env=env), Serve(tmp_path / "two", env=env)
    try:
        key = (tmp_path / "one" / "api-key").read_text().strip()
        auth = {"Authorization": f"Bearer {key}"}
        agent_id = httpx.post(first.url + "/v1/agents", json={"name": "A"}, headers=auth).json()["id"]
        token = httpx.post(
            second.url + "/v1/session-token", json={"agent_id": agent_id}, headers=auth
        ).json()["token"]

        async def secret() -> str:
            engine = open_engine(fresh_postgres_url)
            await migrate(engine)
            value = await session_token_secret(engine)
            await engine.dispose()
            return value

        claims = jwt.decode(token, asyncio.run(secret()), algorithms=["HS256"], issuer="vatel")
        assert claims["agent_id"] == agent_id
    finally:
        for server in (first, second):
            server.stop(signal.SIGTERM)


def replica(data_dir: Path, database_url: str, *, live: bool = False) -> Serve:
    """``vatel serve`` on the shared PostgreSQL; ``live`` with the tone engines (no models)."""
    tones = ["--engines", "tones", "--audio-chunk-ms", "20"] if live else []
    return Serve(data_dir, env={**os.environ, "VATEL_DATABASE_URL": database_url}, live=live, args=tones)


def test_a_call_recorded_by_one_replica_is_served_by_the_other(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    import asyncio

    import vatel

    first = replica(tmp_path / "one", fresh_postgres_url, live=True)
    second = replica(tmp_path / "two", fresh_postgres_url, live=True)
    try:
        key = (tmp_path / "one" / "api-key").read_text().strip()
        auth = {"Authorization": f"Bearer {key}"}

        async def call() -> str:
            async with vatel.Client(api_key=key, base_url=first.url) as client:
                agent = await client.agents.create_async(
                    {"name": "Recorded", "prompt": "default: ok.", "first_message": "One two three."}
                )
                assert agent.id is not None
                token = (await client.session.generate_token_async(agent.id)).token
                async with client.connect(token) as conn:
                    async for message in conn.stream_messages():
                        if message.type == "response_audio":
                            await conn.send_input_audio_bytes(bytes(960))
                            if message.data.is_final:  # type: ignore[union-attr]
                                break
            return agent.id

        agent_id = asyncio.run(call())
        calls: list[dict[str, object]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the call ends, then its WAV goes to the database
            calls = httpx.get(second.url + f"/v1/calls?agent_ids={agent_id}", headers=auth).json()["calls"]
            if (
                calls
                and calls[0]["status"] == "ended"
                and not list((tmp_path / "one").glob("recordings/*.wav"))
            ):
                break
            time.sleep(0.2)
        [row] = calls
        assert not list((tmp_path / "one").glob("recordings/*.wav"))  # moved, not copied
        wavs = [
            httpx.get(server.url + f"/v1/calls/{row['id']}/recording", headers=auth)
            for server in (first, second)
        ]
        assert [w.status_code for w in wavs] == [200, 200]
        assert wavs[0].content == wavs[1].content
        body = wavs[1].content
        assert body[:4] == b"RIFF" and body[8:12] == b"WAVE"
        assert int.from_bytes(body[22:24], "little") == 2 and int.from_bytes(body[24:28], "little") == 24_000
        assert len(body) > 44 + 24_000  # more than a quarter second of stereo audio
        assert wavs[1].headers["content-type"] == "audio/wav"
        assert int(wavs[1].headers["content-length"]) == len(body)
        missing = httpx.get(second.url + f"/v1/calls/{row['id']}x/recording", headers=auth)
        assert missing.status_code in (400, 404)
    finally:
        for server in (first, second):
            code, _, err = server.stop(signal.SIGTERM)
            assert code == 0, err


def test_a_replica_killed_mid_call_hands_its_recording_over_when_it_restarts(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    import asyncio
    import io
    import wave

    import vatel

    first = replica(tmp_path / "one", fresh_postgres_url, live=True)
    second = replica(tmp_path / "two", fresh_postgres_url)
    again: Serve | None = None
    try:
        key = (tmp_path / "one" / "api-key").read_text().strip()

        async def call_then_kill() -> str:
            async with vatel.Client(api_key=key, base_url=first.url) as client:
                agent = await client.agents.create_async(
                    {"name": "Killed", "prompt": "default: ok.", "first_message": " ".join(["la"] * 80) + "."}
                )
                assert agent.id is not None
                conn = await client.connect((await client.session.generate_token_async(agent.id)).token)
                started = await conn.receive()
                for _ in range(125):  # 2.5 s of audio: more than one recording flush
                    await conn.send_input_audio_bytes(bytes(960))
                    await asyncio.sleep(0.02)
                first.process.send_signal(signal.SIGKILL)
                first.process.wait(10)
                return str(started.data.id)  # type: ignore[union-attr]

        call_id = asyncio.run(call_then_kill())
        auth = {"Authorization": f"Bearer {key}"}
        assert httpx.get(second.url + f"/v1/calls/{call_id}/recording", headers=auth).status_code == 404
        again = replica(tmp_path / "one", fresh_postgres_url)  # the same data dir: its open call is its own
        call = httpx.get(second.url + f"/v1/calls/{call_id}", headers=auth).json()
        assert (call["status"], call["termination_reason"]) == ("ended", "server stopped during the call")
        wav = httpx.get(second.url + f"/v1/calls/{call_id}/recording", headers=auth)
        assert wav.status_code == 200
        with wave.open(io.BytesIO(wav.content)) as recording:  # flushed each second, up to 0.5 s ago
            assert recording.getnchannels() == 2 and recording.getnframes() > 12_000
        assert not list((tmp_path / "one").glob("recordings/*.wav"))
    finally:
        if first.process.poll() is None:
            first.stop(signal.SIGKILL)
        for server in (second, again):
            if server is not None:
                server.stop(signal.SIGTERM)
