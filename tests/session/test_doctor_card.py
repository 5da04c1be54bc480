"""``vatel doctor`` through the virtual sound card, as a user runs it (a subprocess with the card's env).

What the virtual microphone hears is set by what is played into ``vmicfeed`` while the doctor runs:
nothing (the card then delivers exact zeros, as a microphone the OS denies does), hiss far under
the noise floor of a real microphone, speech-band noise at a speaking level, or a clipped tone.
``echo on`` loops the speaker into the microphone (PulseAudio module-loopback, 30 ms).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import orjson
import pytest

from support.signals import RATE, noise_burst, to_pcm16
from support.virtual_card import VirtualCard
from vatel.audio.wav import write_wav

pytestmark = pytest.mark.audio

VATEL = [sys.executable, "-c", "from vatel.cli import entry_point; entry_point()"]
FEED_SECONDS = 40.0
"""Longer than any doctor run; the feed is stopped when the run ends."""


def run_doctor(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = subprocess.run(
        [*VATEL, "doctor", *args],
        env={**env, "PYTHONFAULTHANDLER": "1"},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout, result.stderr


@contextmanager
def feeding(card: VirtualCard, wav: Path | None) -> Iterator[None]:
    """Play ``wav`` into the virtual microphone for the duration (nothing when ``None``)."""
    if wav is None:
        yield
        return
    player = subprocess.Popen(
        ["paplay", "--device=vmicfeed", str(wav)],
        env=card.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        player.kill()
        player.wait()


@contextmanager
def echo(card: VirtualCard) -> Iterator[None]:
    card.echo(True)
    try:
        yield
    finally:
        card.echo(False)


def write(path: Path, signal: np.ndarray) -> Path:
    write_wav(path, to_pcm16(signal.astype(np.float32)), RATE)
    return path


@pytest.fixture
def speaking(tmp_path: Path) -> Path:
    """Speech-band noise at a speaking level (peak 0.3, about -17 dBFS RMS)."""
    return write(tmp_path / "speaking.wav", noise_burst(FEED_SECONDS, seed=5, level=0.3))


def section(out: str, title: str) -> list[str]:
    blocks = [block for block in out.split("\n\n") if block.startswith(title)]
    assert blocks, f"no {title} section in:\n{out}"
    return blocks[0].splitlines()


def test_a_silent_feed_is_no_signal_at_all(virtual_card: VirtualCard) -> None:
    code, out, err = run_doctor(virtual_card.env, "--skip", "server")
    assert code == 1, out + err
    devices = section(out, "Devices")
    rates = "in 8 16 22.05 24 44.1 48 / out 8 16 22.05 24 44.1 48"  # PulseAudio resamples anything
    [default] = [line for line in devices if line.startswith("  ><")]  # both defaults
    assert " default " in default and default.endswith(rates)
    assert devices[-1] == "  OK    2 input devices and 2 output devices"
    mic = section(out, "Microphone")
    assert mic[1].startswith("  FAIL  no signal at all: 1.0 s of exact zeros")
    assert mic[2].startswith("        fix: the OS probably denies microphone access, or the device is muted")
    echo_lines = section(out, "Speaker -> microphone")
    assert echo_lines[1].startswith("  SKIP  no echo found, but the microphone delivered only exact zeros")
    assert out.rstrip().endswith("1 failed, 0 warned (exit 1)")


@pytest.mark.parametrize(
    ("rms_dbfs", "verdict", "fix"),
    [(-75.0, "silent", "speak during the probe"), (-50.0, "too_quiet", "raise the input gain")],
)
def test_hiss_is_silent_and_a_murmur_too_quiet(
    virtual_card: VirtualCard, tmp_path: Path, rms_dbfs: float, verdict: str, fix: str
) -> None:
    rng = np.random.default_rng(3)
    hiss = write(
        tmp_path / "hiss.wav", rng.standard_normal(round(FEED_SECONDS * RATE)) * 10 ** (rms_dbfs / 20)
    )
    with feeding(virtual_card, hiss):
        code, out, err = run_doctor(virtual_card.env, "--skip", "server", "--skip", "echo", "--json")
    assert code == 1, out + err
    [mic] = [f for f in orjson.loads(out)["findings"] if f["section"] == "microphone"]
    assert mic["status"] == "fail" and mic["verdict"] == verdict, mic
    assert rms_dbfs - 5 < mic["level_dbfs"] < rms_dbfs + 10  # the loudest 50 ms of the hiss
    assert fix in mic["fix"]


def test_a_clipped_feed_is_clipping(virtual_card: VirtualCard, tmp_path: Path) -> None:
    t = np.arange(round(FEED_SECONDS * RATE)) / RATE
    clipped = write(tmp_path / "clipped.wav", np.clip(2.0 * np.sin(2 * np.pi * 440 * t), -1.0, 1.0))
    with feeding(virtual_card, clipped):
        code, out, err = run_doctor(virtual_card.env, "--skip", "server", "--skip", "echo")
    assert code == 1, out + err
    mic = section(out, "Microphone")
    assert mic[1].startswith("  FAIL  clipping: ")
    assert mic[2].startswith("        fix: lower the input gain")


def test_speaking_into_the_mic_without_echo_passes(virtual_card: VirtualCard, speaking: Path) -> None:
    with feeding(virtual_card, speaking):
        code, out, err = run_doctor(virtual_card.env, "--skip", "server")
    assert code == 0, out + err
    mic = section(out, "Microphone")
    assert mic[1].startswith("  OK    level fine: loudest ")
    loudest = float(mic[1].split("loudest ")[1].split(" dBFS")[0])
    assert -25 < loudest < -10
    echo_lines = section(out, "Speaker -> microphone")
    assert echo_lines[1].startswith("  OK    no echo path: the chirp did not come back")
    assert out.rstrip().endswith("vatel doctor: all good (exit 0)")


def test_the_echo_route_is_measured(virtual_card: VirtualCard, speaking: Path) -> None:
    with echo(virtual_card), feeding(virtual_card, speaking):
        code, out, err = run_doctor(virtual_card.env, "--skip", "server", "--json")
        strict_code, strict_out, _ = run_doctor(
            virtual_card.env, "--skip", "server", "--skip", "microphone", "--strict"
        )
    document = orjson.loads(out)
    assert code == 0, out + err  # an echo path warns; it does not fail
    [found] = [f for f in document["findings"] if f["section"] == "echo"]
    assert found["status"] == "warn" and found["found"] is True, found
    # 30 ms of loopback plus PulseAudio's buffering; the loopback copies the speaker at unity gain.
    assert 20 <= found["delay_ms"] <= 150, found
    assert -15 <= found["level_db"] <= 3, found
    assert "use headphones" in found["fix"] and "echo cancellation" in found["fix"]
    assert strict_code == 1, strict_out
    assert "echo: the speaker comes back into the microphone" in strict_out
    assert strict_out.rstrip().endswith("0 failed, 1 warned (--strict: warnings fail) (exit 1)")


def test_bad_device_names_fail_in_their_section(virtual_card: VirtualCard) -> None:
    code, out, _ = run_doctor(virtual_card.env, "--skip", "server", "--input-device", "nosuchmic")
    assert code == 1
    mic = section(out, "Microphone")
    assert mic[1] == """  FAIL  no input device matches 'nosuchmic'; input devices: 0 "pulse", 1 "default\""""
    assert mic[2] == "        fix: pick a microphone from the Devices table with --input-device"
    assert "SKIP  not checked: no usable input device" in section(out, "Speaker -> microphone")[1]
    code, out, _ = run_doctor(
        virtual_card.env, "--skip", "server", "--skip", "microphone", "--output-device", "99"
    )
    assert code == 1
    assert "FAIL  there is no device 99; output devices: 0 " in out


def test_no_sound_device_at_all(virtual_card: VirtualCard) -> None:
    env = {**virtual_card.env, "PULSE_SERVER": f"unix:{os.devnull}-no-sound-server"}
    code, out, err = run_doctor(env, "--skip", "server")
    assert code == 1, out + err
    devices = section(out, "Devices")
    assert devices[1] == "  FAIL  no sound devices at all: PortAudio lists nothing"
    assert "scripts/virtual-audio start" in devices[2]
    assert "SKIP  not checked: no sound devices" in section(out, "Microphone")[1]
    assert "SKIP  not checked: no sound devices" in section(out, "Speaker -> microphone")[1]
