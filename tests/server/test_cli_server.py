"""``vatel serve`` and ``vatel keys`` as a user runs them: real processes, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from support.serve_process import VATEL, Serve, free_port
from vatel.server.api.routing import KEY_CACHE_SECONDS

pytestmark = pytest.mark.loopback


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VATEL, *args], capture_output=True, text=True, timeout=120, env=env, check=False)


def test_first_start_prints_the_key_once_and_stops_gracefully(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = Serve(data)
    code, out, err = server.stop(signal.SIGTERM)
    assert code == 0, err
    key = out.strip().splitlines()[-1]
    assert key.startswith("vtl_") and "shown once" in out
    assert (data / "api-key").read_text().strip() == key
    assert "Traceback" not in err

    again = Serve(data)
    response = httpx.get(again.url + "/v1/agents", headers={"Authorization": f"Bearer {key}"})
    code, out, err = again.stop(signal.SIGINT)
    assert response.status_code == 200 and response.json() == []
    assert code == 0 and "vtl_" not in out  # not printed a second time


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    created = run("keys", "create", "--name", "ci robot", "--data-dir", data)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert created.stdout == key + "\n" and key.startswith("vtl_")  # only the key on stdout

    listing = run("keys", "list", "--data-dir", data)
    assert listing.returncode == 0
    lines = listing.stdout.strip().splitlines()
    assert len(lines) == 3  # header, the first key, ours
    assert "ci robot" in lines[2] and "active" in lines[2]
    assert key not in listing.stdout  # only a prefix is shown
    key_id = lines[2].split()[0]

    server = Serve(Path(data))
    try:
        ok = httpx.get(server.url + "/v1/agents", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200
        revoked = run("keys", "revoke", key_id, "--data-dir", data)
        assert revoked.returncode == 0 and key_id in revoked.stdout
        time.sleep(KEY_CACHE_SECONDS)  # a checked key is trusted this long without asking again
        refused = httpx.get(server.url + "/v1/agents", headers={"Authorization": f"Bearer {key}"})
        assert refused.status_code == 401  # revoked while the server runs
    finally:
        server.stop()
    assert "revoked" in run("keys", "list", "--data-dir", data).stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("keys", "revoke", "no-such-id"), "no API key with id no-such-id"),
        (("keys", "create", "--name", " "), "--name must be 1 to 200 characters"),
    ],
)
def test_key_command_errors_are_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = run(*args, "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {message}"


def test_a_bad_database_url_is_one_clear_line(tmp_path: Path) -> None:
    env = {**os.environ, "VATEL_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none"}
    result = run(
        "serve", "--rest-only", "--port", str(free_port()), "--data-dir", str(tmp_path / "d"), env=env
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot use the database")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("serve", "--port", "99999"),
        ("serve", "--port", "x"),
        ("serve", "--turn-model", "psychic"),
        ("keys",),
        ("keys", "zap"),
    ],
)
def test_bad_flags(args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.returncode == 2 and "usage: vatel" in result.stderr
