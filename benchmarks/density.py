"""Session density of ``vatel serve``: how many calls one core carries, and where the CPU goes.

transport
    ``vatel serve --engines tones --audio-chunk-ms 20`` pinned to one core (``taskset``), and a load
    generator pinned to the other: N sessions, each sending a 20 ms ``input_audio`` frame 50 times
    a second while the agent speaks a long answer (50 ``response_audio`` frames a second). Every
    frame the server sends has a schedule (the server paces audio ``lead`` = 0.2 s ahead of
    playout, so chunk i is due ``i x 20 ms - lead`` after the turn's first chunk); its lateness is
    its arrival minus that schedule, relative to the session's least-delayed frame. Reported per N:
    lateness p50/p99/p99.9, inter-arrival p99.9 (the anchor's measure), frames later than the lead
    (the client would run dry), the server's share of its core, and CPU per session-second from
    ``GET /debug/usage``. "Sessions per core" is the largest N with lateness p99.9 <= 25 ms.

pipeline
    ``vatel serve`` with the real models on both cores: 1 and then 4 callers at once, each a
    sequence of voice_to_voice.py's turns (its fixtures and measurement), started at random
    offsets so they are independent. Reported: voice-to-voice p50/p95 for each, the ratio of the
    p95s (target <= 1.2), and CPU seconds per session-second per component.

    .venv/bin/python benchmarks/density.py transport [--levels 50,100,200,300,400] [--seconds 10]
    .venv/bin/python benchmarks/density.py pipeline [--rounds 4] [--sessions 4]

Writes benchmarks/results/density.json (each mode updates its own part).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import vatel  # noqa: E402
import voice_to_voice  # noqa: E402
from support.serve_process import Serve  # noqa: E402
from vatel.protocol import InputAudio  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
OUT = RESULTS / "density.json"
FRAME_SECONDS = 0.02
FRAME_BYTES = 960
LEAD = 0.2
"""The server's pacing lead (CallConfig.lead): agent audio goes out this far ahead of playout."""
LATE_TARGET_MS = 25.0
PHASES = 20
"""Sessions are spread over this many 1 ms phases of the 20 ms frame period."""
COMPONENTS = ("vad", "turn", "stt_interim", "stt_final", "tts", "brain")


def percentile(values: Sequence[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def usage(url: str, key: str) -> dict[str, Any]:
    answer = httpx.get(url + "/debug/usage", headers={"Authorization": f"Bearer {key}"}, timeout=30)
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


def cpu_per_session_second(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """CPU seconds per session-second between two ``/debug/usage`` snapshots, per component."""
    session_seconds = after["call_seconds"] - before["call_seconds"]
    wall = after["monotonic"] - before["monotonic"]

    def delta(path: Sequence[str]) -> float:
        a: Any = after
        b: Any = before
        for key in path:
            a, b = a[key], b[key]
        return float(a - b)

    per = {name: delta(("components", name, "cpu_seconds")) for name in COMPONENTS}
    per["transport"] = delta(("transport_cpu_seconds",))
    per["other_threads"] = delta(("other_threads_cpu_seconds",))
    process = delta(("process_cpu_seconds",))
    return {
        "wall_seconds": wall,
        "session_seconds": session_seconds,
        "process_cpu_seconds": process,
        "cores_busy": process / wall if wall > 0 else float("nan"),
        "per_session_second": {
            name: value / session_seconds if session_seconds > 0 else float("nan")
            for name, value in {**per, "total": process}.items()
        },
    }


# --- transport -----------------------------------------------------------------------------------

AUDIO_HEAD = b'{"type":"response_audio"'
TURN_KEY = b'"turn_id":"'
AUDIO_KEY = b'"audio":"'


def masked_text_frame(payload: bytes) -> bytes:
    """A client's text frame (RFC 6455 5.2), masked once: the same bytes are sent every time, so a
    frame costs the generator one write. (A fixed mask is fine for a benchmark, not for a client.)"""
    mask = os.urandom(4)
    size = len(payload)
    head = bytes([0x81, 0x80 | size]) if size < 126 else bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
    body = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return head + mask + body


class RawSession(asyncio.Protocol):
    """One session of the load generator: the handshake, then a minimal frame parser that notes the
    arrival time and length of each ``response_audio`` (about 2 µs a message, where the websockets
    client takes 20+: with hundreds of sessions the generator, not the server, would be measured)."""

    def __init__(self, path: str, host: str, listener: Listener) -> None:
        self.listener = listener
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.buffer = bytearray()
        self.upgraded = False
        self.started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.started.done():
            self.started.set_exception(ConnectionError(f"connection lost before session_started: {exc}"))

    def send(self, frame: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(frame)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(masked_close)
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buffer = self.buffer
        buffer += data
        position = 0
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self.started.set_exception(ConnectionError(bytes(buffer[: buffer.find(b"\r\n")]).decode()))
                return
            self.upgraded = True
            position = end + 4
        size_all = len(buffer)
        while size_all - position >= 2:
            size = buffer[position + 1] & 0x7F
            head = 2
            if size == 126:
                if size_all - position < 4:
                    break
                size = int.from_bytes(buffer[position + 2 : position + 4], "big")
                head = 4
            elif size == 127:
                if size_all - position < 10:
                    break
                size = int.from_bytes(buffer[position + 2 : position + 10], "big")
                head = 10
            start = position + head
            if size_all < start + size:
                break
            opcode = buffer[position] & 0x0F
            if opcode == 1:
                self._text(buffer, start, start + size, now)
            elif opcode == 9 and self.transport is not None:  # ping: answer with the same payload
                self.transport.write(pong(buffer[start : start + size]))
            elif opcode == 8:
                self.closed = True
            position = start + size
        del buffer[:position]

    def _text(self, buffer: bytearray, start: int, end: int, now: float) -> None:
        listener = self.listener
        if not buffer.startswith(AUDIO_HEAD, start):
            if not self.started.done():
                self.started.set_result(None)  # session_started
            listener.other += 1
            return
        turn_at = buffer.find(TURN_KEY, start, end) + len(TURN_KEY)
        turn = bytes(buffer[turn_at : buffer.find(b'"', turn_at, end)]).decode()
        audio_at = buffer.find(AUDIO_KEY, start, end) + len(AUDIO_KEY)
        chars = buffer.find(b'"', audio_at, end) - audio_at
        if listener.turn is None:
            listener.turn = turn
        if turn != listener.turn or chars <= 0:
            return
        listener.arrivals.append(now)
        listener.seconds.append(chars * 3 / 4 / 2 / 24_000)


def pong(payload: bytes | bytearray) -> bytes:
    mask = os.urandom(4)
    return bytes([0x8A, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


masked_close = bytes([0x88, 0x82]) + b"\0\0\0\0" + (1000).to_bytes(2, "big")


@dataclass
class Listener:
    """One session's received agent audio: arrival times and chunk lengths of its first turn."""

    arrivals: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    turn: str | None = None
    other: int = 0


def lateness(listener: Listener, start: float, end: float) -> tuple[list[float], list[float]]:
    """Each frame's lateness against the pacing schedule, and the gaps between arrivals, for the
    frames that arrived in ``[start, end)`` (seconds)."""
    if not listener.arrivals:
        return [], []
    arrivals = np.array(listener.arrivals)
    starts = np.concatenate([[0.0], np.cumsum(listener.seconds)[:-1]])
    due = np.maximum(0.0, starts - LEAD)
    offset = float(np.min(arrivals - due))
    late = arrivals - due - offset
    window = (arrivals >= start) & (arrivals < end)
    gaps = np.diff(arrivals)[window[1:] & (due[1:] > 0)]
    return [float(v) for v in late[window]], [float(v) for v in gaps]


async def mint_paths(url: str, key: str, agent_id: str, sessions: int) -> list[str]:
    """A fresh session token per session (each is good for one connection)."""
    async with vatel.Client(api_key=key, base_url=url) as client:
        limit = asyncio.Semaphore(16)

        async def mint() -> str:
            async with limit:
                token = (await client.session.generate_token_async(agent_id)).token
                return f"/v1/connection?token={token}"

        return list(await asyncio.gather(*(mint() for _ in range(sessions))))


Snapshot = Callable[[], dict[str, Any]]
Compare = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


def process_cpu(pid: int) -> Snapshot:
    """A snapshot of one process's CPU from ``/proc`` (for the floor app, which has no usage API)."""
    ticks = os.sysconf("SC_CLK_TCK")

    def snapshot() -> dict[str, Any]:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return {"monotonic": time.monotonic(), "cpu": (int(fields[11]) + int(fields[12])) / ticks}

    return snapshot


def process_cpu_per_session_second(sessions: int) -> Compare:
    def compare(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        wall = after["monotonic"] - before["monotonic"]
        cpu = after["cpu"] - before["cpu"]
        return {
            "wall_seconds": wall,
            "session_seconds": wall * sessions,
            "process_cpu_seconds": cpu,
            "cores_busy": cpu / wall,
            "per_session_second": {"total": cpu / (wall * sessions)},
        }

    return compare


async def transport_level(
    url: str, paths: list[str], seconds: float, snapshot: Snapshot, compare: Compare, settle: float = 2.0
) -> dict[str, Any]:
    """One level: a session per path, streaming both ways; measured for ``seconds`` after ``settle``."""
    sessions = len(paths)
    noise = np.random.default_rng(1).normal(0, 30, FRAME_BYTES // 2).astype("<i2").tobytes()
    frame = masked_text_frame(InputAudio.from_pcm(noise).to_json())
    listeners = [Listener() for _ in range(sessions)]
    sockets: list[RawSession] = []
    opening = asyncio.Semaphore(32)
    host, port = url.removeprefix("http://").split(":")
    loop = asyncio.get_running_loop()

    async def connect(index: int) -> None:
        async with opening:
            session = RawSession(paths[index], host, listeners[index])
            await loop.create_connection(lambda: session, host, int(port))
            await asyncio.wait_for(session.started, 60)
            sockets.append(session)

    connect_started = time.monotonic()
    await asyncio.gather(*(connect(i) for i in range(sessions)))
    connected = time.monotonic()
    groups = [sockets[phase::PHASES] for phase in range(PHASES)]
    send_lag: list[float] = []
    base = time.monotonic()
    stop = base + settle + seconds
    tick = 0
    window: tuple[float, float] = (0.0, 0.0)
    first: asyncio.Task[dict[str, Any]] | None = None
    while True:
        due = base + tick * FRAME_SECONDS / PHASES
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        now = time.monotonic()
        if now >= stop:
            break
        send_lag.append(now - due)
        for session in groups[tick % PHASES]:
            session.send(frame)
        tick += 1
        if first is None and now >= base + settle:
            first = asyncio.create_task(asyncio.to_thread(snapshot))  # the ticks go on
            window = (now, stop)
    after = await asyncio.to_thread(snapshot)
    assert first is not None
    before = await first
    for session in sockets:
        session.close()
    closed_early = sum(session.closed for session in sockets)

    late: list[float] = []
    gaps: list[float] = []
    for listener in listeners:
        one_late, one_gaps = lateness(listener, *window)
        late += one_late
        gaps += one_gaps
    late_ms = [value * 1000 for value in late]
    frames_out = len(late_ms) / max(1e-9, (window[1] - window[0]) * sessions)
    return {
        "sessions": sessions,
        "window_seconds": window[1] - window[0],
        "connect_seconds": connected - connect_started,
        "frames_in_window": len(late_ms),
        "sessions_closed_by_server": closed_early,
        "server_open_calls": before.get("open_calls", sessions),
        "frames_out_per_session_second": frames_out,
        "lateness_ms": {
            "p50": percentile(late_ms, 0.5),
            "p99": percentile(late_ms, 0.99),
            "p99.9": percentile(late_ms, 0.999),
            "max": max(late_ms, default=float("nan")),
        },
        "interarrival_ms": {
            "p50": percentile(gaps, 0.5) * 1000,
            "p99": percentile(gaps, 0.99) * 1000,
            "p99.9": percentile(gaps, 0.999) * 1000,
        },
        "frames_later_than_lead": int(sum(value > LEAD * 1000 for value in late_ms)),
        "generator_send_lag_ms": {
            "p99": percentile(send_lag, 0.99) * 1000,
            "max": max(send_lag, default=0.0) * 1000,
        },
        "server_cpu": compare(before, after),
    }


def run_floor(args: argparse.Namespace, levels: list[int]) -> list[dict[str, Any]]:
    """The same levels against ``transport_floor.py`` under the same uvicorn, on the same core."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = ["taskset", "-c", str(args.server_core), sys.executable, "-m", "uvicorn", "transport_floor:app"]
    command += ["--app-dir", str(ROOT / "benchmarks"), "--port", str(port), "--log-level", "error"]
    server = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the floor app did not start") from None
                time.sleep(0.1)
        results = []
        for sessions in levels:
            load = Path("/proc/loadavg").read_text().split()[0]
            level = asyncio.run(
                transport_level(
                    url,
                    ["/floor"] * sessions,
                    args.seconds,
                    process_cpu(server.pid),
                    process_cpu_per_session_second(sessions),
                )
            )
            level["loadavg_before"] = float(load)
            results.append(level)
            print_level(level, "floor")
            time.sleep(1)
        return results
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)


def run_transport(args: argparse.Namespace) -> dict[str, Any]:
    levels = [int(level) for level in args.levels.split(",")]
    os.sched_setaffinity(0, {args.client_core})
    words = " ".join(["la"] * 20) + "."
    first_message = " ".join([words] * max(4, int((args.seconds + 30) / 5)))  # 5 s per sentence
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as data:
        server = Serve(
            Path(data) / "data",
            live=True,
            args=["--engines", "tones", "--audio-chunk-ms", "20", "--log-level", "error"],
            prefix=["taskset", "-c", str(args.server_core)],
        )
        try:
            key = (Path(data) / "data" / "api-key").read_text().strip()
            with vatel.Client(api_key=key, base_url=server.url) as client:
                agent = client.agents.create(
                    {
                        "name": "density",
                        "prompt": "default: I heard {said}.",
                        "first_message": first_message,
                        "vad_settings": {"silence_timeout_secs": 600},
                    }
                )
            assert agent.id is not None
            for sessions in levels:
                load = Path("/proc/loadavg").read_text().split()[0]
                paths = asyncio.run(mint_paths(server.url, key, agent.id, sessions))
                level = asyncio.run(
                    transport_level(
                        server.url,
                        paths,
                        args.seconds,
                        lambda: usage(server.url, key),
                        cpu_per_session_second,
                    )
                )
                level["loadavg_before"] = float(load)
                results.append(level)
                print_level(level, "vatel")
                time.sleep(2)  # let the server close the calls
        finally:
            server.stop(signal.SIGTERM)
    floor = run_floor(args, levels) if args.floor else []
    passing = [r["sessions"] for r in results if r["lateness_ms"]["p99.9"] <= LATE_TARGET_MS]
    per_core = max(passing, default=0)
    print(f"sessions per core (lateness p99.9 <= {LATE_TARGET_MS:g} ms): {per_core}")
    ratios = []
    for ours, base in zip(results, floor, strict=False):
        ratio = (
            ours["server_cpu"]["per_session_second"]["total"]
            / base["server_cpu"]["per_session_second"]["total"]
        )
        ratios.append({"sessions": ours["sessions"], "cpu_ratio_to_floor": ratio})
        print(f"N={ours['sessions']}: CPU per session-second {ratio:.2f}x the uvicorn floor")
    return {
        "mode": "transport: --engines tones, 20 ms frames each way, server on one core",
        "seconds_per_level": args.seconds,
        "sessions_per_core": per_core,
        "levels": results,
        "floor": {"app": "benchmarks/transport_floor.py under the same uvicorn", "levels": floor},
        "cpu_ratio_to_floor": ratios,
    }


def print_level(level: dict[str, Any], name: str) -> None:
    late, gaps, cpu = level["lateness_ms"], level["interarrival_ms"], level["server_cpu"]
    per = cpu["per_session_second"]
    parts = (
        f" (transport {per['transport'] * 1000:4.2f}, vad {per['vad'] * 1000:4.2f})" if "vad" in per else ""
    )
    print(
        f"{name:5s} N={level['sessions']:4d}  late p50 {late['p50']:5.1f}  p99 {late['p99']:6.1f}  "
        f"p99.9 {late['p99.9']:6.1f}  max {late['max']:6.1f} ms | gaps p99.9 {gaps['p99.9']:5.1f} ms | "
        f">lead {level['frames_later_than_lead']} | out {level['frames_out_per_session_second']:4.1f}/s | "
        f"server core {cpu['cores_busy']:.0%} | {per['total'] * 1000:5.2f} ms CPU/session-s{parts} | "
        f"gen lag p99 {level['generator_send_lag_ms']['p99']:.1f} ms | load {level['loadavg_before']} | "
        f"calls open {level['server_open_calls']}",
        flush=True,
    )


# --- the full pipeline ---------------------------------------------------------------------------


async def caller(client: vatel.Client, agent_id: str, rounds: int, offset: float) -> list[dict[str, Any]]:
    await asyncio.sleep(offset)
    turns = []
    for _ in range(rounds):
        for text in voice_to_voice.UTTERANCES:
            speech = voice_to_voice.speech_of(text, "natural")  # the voice_to_voice benchmark's caller
            turns.append(await voice_to_voice.one_turn(client, agent_id, text, hear_out=True, speech=speech))
    return turns


async def pipeline_level(url: str, key: str, agent_id: str, sessions: int, rounds: int) -> dict[str, Any]:
    rng = random.Random(sessions)
    for text in voice_to_voice.UTTERANCES:  # synthesise before the callers start, not while they talk
        voice_to_voice.speech_of(text, "natural")
    async with vatel.Client(api_key=key, base_url=url) as client:
        await voice_to_voice.one_turn(client, agent_id, "Hello.")  # warm-up, not counted
        before = await asyncio.to_thread(usage, url, key)
        started = time.monotonic()
        offsets = [0.0] + [rng.uniform(0.0, 3.0) for _ in range(sessions - 1)]
        per_caller = await asyncio.gather(*(caller(client, agent_id, rounds, o) for o in offsets))
        wall = time.monotonic() - started
        after = await asyncio.to_thread(usage, url, key)
    turns = [turn for turns in per_caller for turn in turns]
    latencies = [turn["voice_to_voice_ms"] for turn in turns]
    errors = [voice_to_voice.word_errors(turn["text"], turn["transcript"]) for turn in turns]
    return {
        "sessions": sessions,
        "turns": len(turns),
        "wall_seconds": wall,
        "voice_to_voice_ms": {
            "p50": statistics.median(latencies),
            "p95": percentile(latencies, 0.95),
            "max": max(latencies),
        },
        "stages_ms": {
            stage: {
                "p50": statistics.median(turn["stages_ms"][stage] for turn in turns),
                "p95": percentile([turn["stages_ms"][stage] for turn in turns], 0.95),
            }
            for stage in turns[0]["stages_ms"]
        },
        "word_error_rate": sum(e for e, _ in errors) / max(1, sum(n for _, n in errors)),
        "server_cpu": cpu_per_session_second(before, after),
        "latencies_ms": latencies,
    }


def run_pipeline(args: argparse.Namespace) -> dict[str, Any]:
    levels: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as data:
        server = Serve(Path(data) / "data", live=True, args=["--log-level", "error"])
        try:
            key = (Path(data) / "data" / "api-key").read_text().strip()
            with vatel.Client(api_key=key, base_url=server.url) as client:
                agent = client.agents.create(
                    {"name": "density", "prompt": voice_to_voice.PROMPT, "vad_settings": {"stop_secs": 0.2}}
                )
            assert agent.id is not None
            for sessions in (1, args.sessions):
                load = float(Path("/proc/loadavg").read_text().split()[0])
                level = asyncio.run(pipeline_level(server.url, key, agent.id, sessions, args.rounds))
                level["loadavg_before"] = load
                levels.append(level)
                v2v, per = level["voice_to_voice_ms"], level["server_cpu"]["per_session_second"]
                print(
                    f"{sessions} session(s): {level['turns']} turns, voice-to-voice p50 {v2v['p50']:.0f} ms "
                    f"p95 {v2v['p95']:.0f} ms, WER {level['word_error_rate']:.1%}, "
                    f"server {level['server_cpu']['cores_busy']:.2f} cores, load {load}",
                    flush=True,
                )
                print(
                    "   stages p50/p95 ms: "
                    + ", ".join(
                        f"{name} {v['p50']:.0f}/{v['p95']:.0f}" for name, v in level["stages_ms"].items()
                    ),
                    flush=True,
                )
                print(
                    "   CPU ms per session-second: "
                    + ", ".join(f"{name} {value * 1000:.1f}" for name, value in per.items()),
                    flush=True,
                )
        finally:
            server.stop(signal.SIGTERM)
    ratio = levels[-1]["voice_to_voice_ms"]["p95"] / levels[0]["voice_to_voice_ms"]["p95"]
    print(f"p95 ratio {args.sessions} sessions / 1 session: {ratio:.2f} (target <= 1.2)")
    return {
        "mode": "pipeline: the offline models, scripted brain, both cores",
        "rounds_per_caller": args.rounds,
        "p95_ratio": ratio,
        "levels": levels,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    modes = parser.add_subparsers(dest="mode", required=True)
    transport = modes.add_parser("transport")
    transport.add_argument("--levels", default="50,100,200,300,400")
    transport.add_argument("--seconds", type=float, default=10.0)
    transport.add_argument("--server-core", type=int, default=0)
    transport.add_argument("--client-core", type=int, default=1)
    transport.add_argument(
        "--no-floor", dest="floor", action="store_false", help="skip the uvicorn floor (transport_floor.py)"
    )
    pipeline = modes.add_parser("pipeline")
    pipeline.add_argument("--rounds", type=int, default=4, help="passes over the 5 utterances per caller")
    pipeline.add_argument("--sessions", type=int, default=4)
    args = parser.parse_args()

    result = run_transport(args) if args.mode == "transport" else run_pipeline(args)
    RESULTS.mkdir(exist_ok=True)
    previous = json.loads(OUT.read_text()) if OUT.exists() else {}
    previous.update(
        {
            "benchmark": "density",
            "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
            args.mode: {**result, "command": " ".join(["benchmarks/density.py", *sys.argv[1:]])},
        }
    )
    OUT.write_text(json.dumps(previous, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
