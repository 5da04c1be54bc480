"""The ``vatel`` command: it installs, answers ``--version``, and fails with one clear line."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

import vatel

pytestmark = pytest.mark.loopback


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from vatel.cli import entry_point; entry_point()", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"vatel {vatel.__version__}"


def test_unreachable_server_is_one_clear_line() -> None:
    result = run(
        "check", "--base-url", f"http://127.0.0.1:{closed_port()}", "--api-key", "k", "--timeout", "2"
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: GET /v1/organization: cannot reach")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("check", "--timeout", "-1"),
        ("check", "--timeout", "soon"),
        ("check", "--base-url"),
        ("token",),
        ("no-such-command",),
    ],
)
def test_bad_flags_are_refused_by_the_parser(args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert "usage: vatel" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_base_url_is_a_clear_error() -> None:
    result = run("check", "--base-url", "ftp://nowhere", "--api-key", "k")
    assert result.returncode == 1
    assert "base_url must look like" in result.stderr
    assert "Traceback" not in result.stderr


SDK_ONLY = """
import sys
for name in ("numpy", "sqlalchemy", "starlette", "sounddevice", "soxr", "platformdirs", "uvicorn"):
    sys.modules[name] = None  # as if only `pip install vatel` (the SDK) were installed
from vatel.cli import main
sys.exit(main(sys.argv[1:]))
"""


def sdk_only(*args: str) -> subprocess.CompletedProcess[str]:
    """``vatel`` with only the SDK importable (the server, audio and app extras hidden)."""
    return subprocess.run(
        [sys.executable, "-c", SDK_ONLY, *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("args", "extra", "package"),
    [
        (["serve"], "server", "sqlalchemy"),
        (["devices"], "audio", "numpy"),
        (["session", "--text"], "all", "numpy"),
    ],
)
def test_with_only_the_sdk_a_command_says_which_extra_to_install(
    args: list[str], extra: str, package: str
) -> None:
    result = sdk_only(*args)
    assert result.returncode == 1, result.stderr
    assert f"pip install 'vatel[{extra}]'" in result.stderr and "Traceback" not in result.stderr
    help_text = sdk_only("--help")
    assert help_text.returncode == 0 and f"needs vatel[{extra}]" in help_text.stdout


def test_with_only_the_sdk_the_api_commands_run() -> None:
    result = sdk_only("check", "--api-key", "k", "--base-url", "http://127.0.0.1:9")
    assert result.returncode == 1 and "cannot reach http://127.0.0.1:9" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "needs vatel" not in result.stderr
    imported = sdk_only("agents", "import", "nodes.json", "--agent-id", "a")
    assert imported.returncode == 1 and "pip install 'vatel[server]'" in imported.stderr, imported.stderr
