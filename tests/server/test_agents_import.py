"""``vatel agents import FILE``: the version's graph nodes, set from the shell (no REST endpoint)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest

from support.live_server import LiveServer

pytestmark = pytest.mark.loopback

VATEL = [sys.executable, "-c", "from vatel.cli import entry_point; entry_point()"]
NODES = [
    {"type": "rule", "when": ["parking", "park"], "say": "There is free parking behind the restaurant."},
    {"type": "default", "say": "I heard {said}."},
    {"type": "menu", "items": ["soup"]},  # not the brain's: kept, and reported as skipped
]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VATEL, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_import_sets_the_nodes_the_api_then_returns(live: LiveServer, tmp_path: Path) -> None:
    with live.client() as client:
        agent = client.agents.create({"name": "Nodes"})
        assert agent.id is not None
        version = client.agents.list_versions(agent.id)[0]
    nodes_file = tmp_path / "nodes.json"
    nodes_file.write_bytes(orjson.dumps(NODES))
    data = str(live.settings.data_dir)
    result = run("agents", "import", str(nodes_file), "--agent-id", agent.id, "--data-dir", data)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"imported 3 nodes into version {version.id} of agent {agent.id}"
    assert "menu" in result.stderr  # the skipped node type is reported
    with live.client() as client:
        assert version.id is not None
        detail = client.agents.get_version(agent.id, version.id)
    assert [node.model_dump() for node in detail.nodes] == NODES


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "is not JSON"),
        (b'{"nodes": 5}', "must hold a JSON array of node objects"),
        (b"[1, 2]", "must hold a JSON array of node objects"),
    ],
)
def test_bad_files_are_one_clear_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "nodes.json"
    path.write_bytes(content)
    result = run(
        "agents", "import", str(path), "--agent-id", str(uuid.uuid4()), "--data-dir", str(tmp_path / "d")
    )
    assert result.returncode == 1
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_an_unknown_agent_or_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nodes.json"
    path.write_bytes(b"[]")
    result = run(
        "agents", "import", str(path), "--agent-id", str(uuid.uuid4()), "--data-dir", str(tmp_path / "d")
    )
    assert (result.returncode, result.stderr.strip()) == (1, "error: agent not found")
    missing = run(
        "agents", "import", str(tmp_path / "nope.json"), "--agent-id", "x", "--data-dir", str(tmp_path)
    )
    assert missing.returncode == 1 and "cannot read" in missing.stderr
