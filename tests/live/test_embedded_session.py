"""``vatel session`` with no API key: a local server, the demo agent, and, with no sound device,
the announced demo turn from and to WAV files (what the README's first command shows)."""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.loopback, pytest.mark.models]

VATEL = [sys.executable, "-c", "from vatel.cli import entry_point; entry_point()"]


def no_sound_env(tmp_path: Path) -> dict[str, str]:
    """PulseAudio unreachable (an empty runtime dir): the machine has no usable sound device."""
    runtime = tmp_path / "no-pulse"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VATEL_", "PULSE_"))}
    return {**env, "XDG_RUNTIME_DIR": str(runtime)}


def test_no_key_and_no_sound_device_runs_the_announced_demo(tmp_path: Path) -> None:
    result = subprocess.run(
        [*VATEL, "session", "--data-dir", str(tmp_path / "data")],
        cwd=tmp_path,
        env=no_sound_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "starting a local server" in result.stderr
    assert "no usable sound device" in result.stderr and "demo turn" in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Session started:")
    assert any(line.startswith("You:") and "hours" in line.lower() for line in lines)
    assert any(line.startswith("Agent:") and "We are open" in line for line in lines)
    assert lines[-2] == "Session ended."
    assert lines[-1].startswith("turn latency p50 ")  # each question's end to the answer's first sound
    with wave.open(str(tmp_path / "vatel-demo-answer.wav")) as answer:
        audio = np.frombuffer(answer.readframes(answer.getnframes()), dtype="<i2")
    assert answer.getframerate() == 24_000 and audio.size > 24_000 * 3
    assert np.abs(audio).max() > 3000  # the agent really spoke


def test_a_base_url_without_a_key_is_refused_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [*VATEL, "session", "--base-url", "https://api.example.test"],
        env=no_sound_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "error: no API key for https://api.example.test: pass --api-key (or set VATEL_API_KEY)"
    )
