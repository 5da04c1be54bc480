"""The live terminal view's cost when nothing happens: ``vatel session`` on a pseudo-terminal, idle.

The app runs on the virtual sound card (silent microphone, nothing played) with its stdin and
stdout on a pty, against the scripted loopback server, which starts the session and then sends
nothing. After 2 s of start-up, the app's CPU time (``/proc/PID/stat``) over ``seconds`` is taken,
once with the live view and once with ``--plain`` (the same session printing lines): the
difference is what the view costs at idle. The view's redraw count comes from ``--stats-file``.
The same pair is then measured while the agent talks (a tone at real-time pace for the whole
window): the meters move, so the view redraws at its 10 Hz ceiling.

Used by ``benchmarks/client.py``; alone (writes ``benchmarks/results/tui_idle.json``)::

    .venv/bin/python benchmarks/tui_idle.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import platform
import pty
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.session_server import LiveSession, SessionServer  # noqa: E402
from support.virtual_card import VirtualCard  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
VATEL = [sys.executable, "-c", "from vatel.cli import entry_point; entry_point()"]
SETTLE_SECONDS = 2.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tone(seconds: float) -> bytes:
    """A tone whose loudness swells and fades twice a second, like syllables: the meter moves."""
    t = np.arange(round(seconds * 24_000)) / 24_000
    envelope = 0.01 + 0.3 * np.abs(np.sin(2 * np.pi * 2 * t))
    return (envelope * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2").tobytes()


def idle_run(
    card: VirtualCard, seconds: float, work: Path, *extra: str, talking: bool = False
) -> dict[str, Any]:
    """One session on a pty: CPU % of a core over ``seconds`` and the view's redraws (``talking``:
    the agent talks all along)."""
    pid: list[int] = []
    cpu: dict[str, float] = {}

    async def script(live: LiveSession) -> None:
        await live.send("session_started", {"id": "bench-tui"})
        await asyncio.sleep(SETTLE_SECONDS)
        playing = asyncio.ensure_future(live.send_audio("a1", tone(seconds + 1.0))) if talking else None
        await asyncio.sleep(0.5 if talking else 0.0)
        cpu["start"], cpu["t0"] = cpu_seconds(pid[0]), time.monotonic()
        await asyncio.sleep(seconds)
        cpu["end"], cpu["t1"] = cpu_seconds(pid[0]), time.monotonic()
        if playing is not None:
            await playing
        await live.end()

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    written = bytearray()

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            written.extend(data)

    stats = work / f"tui{'-'.join(extra)}{'-talking' if talking else ''}.json"
    env = {**card.env, "TERM": "xterm-256color"}
    with SessionServer(script) as server:
        login = ["--api-key", server.api_key, "--agent-id", server.agent_id, "--base-url", server.url]
        args = [*VATEL, "session", *login, "--stats-file", str(stats), *extra]
        process = subprocess.Popen(args, env=env, stdin=slave, stdout=slave, stderr=slave)
        pid.append(process.pid)
        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        try:
            code = process.wait(timeout=seconds + 60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        server.wait_done(timeout=10)
    os.close(slave)
    reader.join(5)
    os.close(master)
    if code != 0:
        raise SystemExit(f"vatel session failed ({code}): {bytes(written[-2000:])!r}")
    figures = orjson.loads(stats.read_bytes())
    return {
        "cpu_percent": round(100 * (cpu["end"] - cpu["start"]) / (cpu["t1"] - cpu["t0"]), 2),
        "seconds": round(cpu["t1"] - cpu["t0"], 2),
        "view_redraws": figures.get("view_redraws"),
        "bytes_written": len(written),
    }


def tui_idle(card: VirtualCard, seconds: float, work: Path) -> dict[str, Any]:
    view = idle_run(card, seconds, work)
    plain = idle_run(card, seconds, work, "--plain")
    view_talking = idle_run(card, seconds, work, talking=True)
    plain_talking = idle_run(card, seconds, work, "--plain", talking=True)
    return {
        "tui_idle_seconds": view["seconds"],
        "tui_idle_cpu_percent": view["cpu_percent"],
        "tui_idle_plain_cpu_percent": plain["cpu_percent"],
        "tui_idle_redraws": view["view_redraws"],
        "tui_idle_bytes_written": view["bytes_written"],
        "tui_talking_cpu_percent": view_talking["cpu_percent"],
        "tui_talking_plain_cpu_percent": plain_talking["cpu_percent"],
        "tui_talking_redraws": view_talking["view_redraws"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of idle measured per run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vatel-bench-") as tmp, VirtualCard(Path(tmp) / "card") as card:
        figures = tui_idle(card, args.seconds, Path(tmp))
    print(
        f"TUI CPU at idle:            {figures['tui_idle_cpu_percent']:.2f} % of a core with the live view, "
        f"{figures['tui_idle_plain_cpu_percent']:.2f} % with --plain, over {figures['tui_idle_seconds']:g} s "
        f"({figures['tui_idle_redraws']} redraws)"
    )
    print(
        f"TUI CPU, agent talking:     {figures['tui_talking_cpu_percent']:.2f} % with the live view, "
        f"{figures['tui_talking_plain_cpu_percent']:.2f} % with --plain "
        f"({figures['tui_talking_redraws']} redraws)"
    )
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "system": platform.platform()}
    result = {"benchmark": "tui_idle", "machine": machine, "figures": figures}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "tui_idle.json"
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
