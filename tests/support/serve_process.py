"""``vatel serve`` as a real subprocess on a free loopback port, for tests that need processes."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

VATEL = [sys.executable, "-c", "from vatel.cli import entry_point; entry_point()"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class Serve:
    """``vatel serve`` in a subprocess on a free port."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        *,
        live: bool = False,
        args: Sequence[str] = (),
        prefix: Sequence[str] = (),
    ) -> None:
        """``args`` go after ``serve``; ``prefix`` runs it under a wrapper (``taskset -c 0``)."""
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                *prefix,
                *VATEL,
                "serve",
                *args,
                "--port",
                str(self.port),
                "--data-dir",
                str(data_dir),
                *([] if live else ["--rest-only"]),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(self.url + "/v1/llms", timeout=1)
                break
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    out, err = self.process.communicate(timeout=10)
                    raise AssertionError(f"vatel serve did not come up:\n{out}\n{err}") from None
                time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
        self.process.send_signal(sig)
        out, err = self.process.communicate(timeout=30)
        return self.process.returncode, out, err
