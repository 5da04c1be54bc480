"""``vatel serve`` with a config file: its models are listed and accepted; a bad file stops it."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from support.serve_process import VATEL, Serve

pytestmark = pytest.mark.loopback

CONFIG = """
[llms."fake/model"]
base_url = "http://127.0.0.1:9/v1"
api_key_env = "FAKE_LLM_KEY"
"""


def test_configured_models_are_listed_and_agents_may_use_them(tmp_path: Path) -> None:
    config = tmp_path / "vatel.toml"
    config.write_text(CONFIG)
    env = {**os.environ, "VATEL_CONFIG": str(config), "FAKE_LLM_KEY": "sk-secret"}
    server = Serve(tmp_path / "data", env)
    try:
        key = (tmp_path / "data" / "api-key").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        listed = httpx.get(server.url + "/v1/llms", headers=headers)
        assert listed.json() == {"llms": ["fake/model", "vatel/scripted"]}
        made = httpx.post(server.url + "/v1/agents", headers=headers, json={"name": "A", "llm": "fake/model"})
        assert made.status_code in (200, 201), made.text
        refused = httpx.post(server.url + "/v1/agents", headers=headers, json={"name": "B", "llm": "nope/x"})
        assert refused.status_code == 400 and "fake/model" in refused.text
    finally:
        code, out, err = server.stop(signal.SIGTERM)
    assert code == 0
    assert "llm fake/model: model at http://127.0.0.1:9/v1" in err
    assert "sk-secret" not in out + err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[llms.x", "not valid TOML"),
        ('[llms."a/b"]\nmodel = "m"\n', 'base_url is required, e.g. "http://127.0.0.1:11434/v1"'),
        ('[llms."a/b"]\nbase_url = "http://h/v1"\napi_key_env = "VATEL_TEST_UNSET"\n', "is not set"),
        (None, "cannot read the config file"),
    ],
)
def test_a_bad_config_is_one_line_and_exit_1(tmp_path: Path, content: str | None, message: str) -> None:
    config = tmp_path / "vatel.toml"
    if content is not None:
        config.write_text(content)
    env = {key: value for key, value in os.environ.items() if key != "VATEL_TEST_UNSET"}
    result = subprocess.run(
        [*VATEL, "serve", "--rest-only", "--config", str(config), "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and str(config) in result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "data").exists()  # nothing was created
