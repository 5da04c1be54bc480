"""The virtual sound card (``scripts/virtual-audio``) from Python: start it, feed the mic, record the speaker.

:class:`VirtualCard` runs the script with a private state directory, so tests never touch the
user's sound setup: on a headless machine (CI) the script starts a private PulseAudio daemon; on a
desktop whose sound server already answers it loads three virtual devices into it (defaults
unchanged) and unloads them afterwards. :attr:`VirtualCard.env` is the environment a process
needs to use the card (the app, the seed example, ``paplay``/``parecord``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path
from types import TracebackType

import numpy as np
import numpy.typing as npt

__all__ = ["SCRIPT", "Recorder", "VirtualCard"]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "virtual-audio"
RECORD_RATE = 24_000


class VirtualCard:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.env: dict[str, str] = {}

    def _run(self, *args: str) -> str:
        env = {**os.environ, "VIRTUAL_AUDIO_DIR": str(self.state_dir)}
        result = subprocess.run(
            [str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=300, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"virtual-audio {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def start(self) -> VirtualCard:
        self._run("start")
        self.env = {**os.environ}
        for line in self._run("env").splitlines():
            for pair in line.removeprefix("export ").split():
                name, _, value = pair.partition("=")
                self.env[name] = value
        return self

    def stop(self) -> None:
        self._run("stop")

    def echo(self, on: bool) -> None:
        self._run("echo", "on" if on else "off")

    def __enter__(self) -> VirtualCard:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- using it ---------------------------------------------------------------------------------

    def speak(self, wav: Path) -> None:
        """Play ``wav`` into the virtual microphone; returns when it has been played."""
        subprocess.run(
            ["paplay", "--device=vmicfeed", str(wav)],
            env=self.env,
            check=True,
            timeout=60,
            capture_output=True,
        )

    def record(self, path: Path, source: str = "vspeaker.monitor") -> Recorder:
        """Record the virtual speaker (or ``source``: ``vmic`` is what the app captures) at 24 kHz
        mono into ``path`` until :meth:`Recorder.stop`."""
        return Recorder(self.env, path, source)


class Recorder:
    """``parecord`` of ``vspeaker.monitor`` (or another source) into a raw file.

    A file, not a pipe: a pipe nobody reads fills up after about a second of audio and then
    parecord stops recording.
    """

    def __init__(self, env: dict[str, str], path: Path, source: str = "vspeaker.monitor") -> None:
        self.path = path
        self._process = subprocess.Popen(
            [
                "parecord",
                f"--device={source}",
                f"--rate={RECORD_RATE}",
                "--channels=1",
                "--format=s16le",
                "--raw",
                "--latency-msec=10",
                str(path),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> npt.NDArray[np.float32]:
        """Stop recording; the samples as float32."""
        self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        out = self.path.read_bytes()
        out = out[: len(out) // 2 * 2]
        return np.frombuffer(out, "<i2").astype(np.float32) / 32768.0


def have(*programs: str) -> bool:
    return all(shutil.which(p) for p in programs)
