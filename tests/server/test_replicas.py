"""Two ``vatel serve`` processes on one PostgreSQL serve the same data (the scale-out path)."""

from __future__ import annotations

import os
import signal
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
