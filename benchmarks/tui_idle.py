"""The live terminal view's cost when nothing happens: ``vatel session`` on a pseudo-terminal, idle.

The app runs on the virtual sound card (silent microphone, nothing played) with its stdin and
stdout on a pty, against the scripted loopback server, which starts the session and then sends
nothing. After 2 s of start-up, the app's CPU time (``/proc/PID/stat``) over ``seconds`` is taken,
once with the live view and once with ``--plain`` (the same session printing lines): the
difference is what the view costs at idle. The view's redraw count comes from ``--stats-file``.

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


def idle_run(card: VirtualCard, seconds: float, work: Path, *extra: str) -> dict[str, Any]:
    """One idle session on a pty: CPU % of a core over ``seconds`` and the view's redraws."""
    pid: list[int] = []
    cpu: dict[str, float] = {}

    async def script(live: LiveSession) -> None:
        await live.send("session_started", {"id": "bench-tui"})
        await asyncio.sleep(SETTLE_SECONDS)
        cpu["start"], cpu["t0"] = cpu_seconds(pid[0]), time.monotonic()
        await asyncio.sleep(seconds)
        cpu["end"], cpu["t1"] = cpu_seconds(pid[0]), time.monotonic()
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

    stats = work / f"tui{'-'.join(extra)}.json"
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
    return {
        "tui_idle_seconds": view["seconds"],
        "tui_idle_cpu_percent": view["cpu_percent"],
        "tui_idle_plain_cpu_percent": plain["cpu_percent"],
        "tui_idle_redraws": view["view_redraws"],
        "tui_idle_bytes_written": view["bytes_written"],
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
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "system": platform.platform()}
    result = {"benchmark": "tui_idle", "machine": machine, "figures": figures}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "tui_idle.json"
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
