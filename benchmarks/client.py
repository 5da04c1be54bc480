"""The session app on the virtual sound card: CPU while listening, underruns, interruption to silence.

Runs ``vatel session`` as a subprocess against the scripted loopback server of the tests
(``tests/support/session_server.py``) on the project's virtual card (``scripts/virtual-audio``):

1. **Listening**: after ``session_started`` the app captures the (silent) virtual mic and streams it
   for ``--listen`` seconds; its CPU time (``/proc/PID/stat``, user + system) over that window is
   reported as % of one core. Target (issue 6): <= 3 %.
2. **Playing**: the server sends ``--play`` seconds of agent audio in 20 ms chunks at real-time
   pace; the app's jitter buffer (60 ms prebuffer) counts underruns (``--stats-file``), reported
   per minute. Target: 0.
3. **Interruption**: ``--trials`` times, the server sends 2 s of a 1 kHz tone four times faster than
   real time (the client buffers it), then ``interruption`` 0.3-0.6 s later; this process records
   ``vspeaker.monitor`` and finds when the tone stops. Reported: time from the ``interruption``
   frame leaving the server (loopback, well under 1 ms to the app) to the last loud sample at the
   virtual speaker, p50 / p95. The recording path's own latency is included, so the figure is an
   upper bound. Target: p95 <= 40 ms.
4. **Echo cancellation**: the CPU of :class:`EchoCanceller` (WebRTC AEC3) per 10 ms microphone
   frame, in this process on a simulated echo (``process_time``, far end included); then, on the
   virtual card with its echo route on (the speaker looped into the microphone), the server plays a
   ``--echo``-second answer and ERLE is measured from 2 s into it: the raw microphone's power over
   the power of what the app sent (``tests/support/echo_run.py``). Targets: ERLE >= 20 dB; the
   CPU well under a core's 1 % per frame rate (0.1 ms per 10 ms frame = 1 % of a core).
5. **Self-interruption**: ``vatel serve`` with its real models (Silero VAD decides barge-in)
   speaks a first message of about ``--answer`` seconds through the same echo route, once with
   echo cancellation and once with ``--no-aec``; the app's counters say how often the agent was
   interrupted. Target: 0 with AEC (and at least 1 without, or the check proves nothing).
6. **TUI CPU at idle**: the app with its live view on a pseudo-terminal, nothing happening, CPU %
   of a core over ``--tui`` seconds, beside the same session with ``--plain``; then both again
   while the agent talks (the meters move: the view redraws at its 10 Hz ceiling)
   (``benchmarks/tui_idle.py``).

Prints the figures and writes ``benchmarks/results/client.json``::

    .venv/bin/python benchmarks/client.py [--listen 20] [--play 60] [--trials 30] [--echo 60] [--answer 60]
        [--tui 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

import vatel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.echo_run import LONG_ANSWER, answer_session, answer_speech, erle_run  # noqa: E402
from support.serve_process import Serve  # noqa: E402
from support.session_server import LiveSession, SessionServer  # noqa: E402
from support.virtual_card import VirtualCard  # noqa: E402
from tui_idle import tui_idle  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
RATE = 24_000
VATEL = [sys.executable, "-c", "from vatel.cli import entry_point; entry_point()"]
TONE_HZ = 1000.0
TARGETS = {
    "listen_cpu_percent": 3.0,
    "underruns_per_minute": 0.0,
    "interrupt_to_silence_p95_ms": 40.0,
    "aec_erle_db": 20.0,
    "aec_self_interruptions": 0,
}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tone(seconds: float, level: float = 0.3) -> bytes:
    t = np.arange(round(seconds * RATE)) / RATE
    return bytes((level * np.sin(2 * np.pi * TONE_HZ * t) * 32767).astype("<i2").tobytes())


def run_app(server: SessionServer, card: VirtualCard, stats: Path, on_start: Callable[[int], None]) -> int:
    args = [
        *VATEL,
        *["session", "--api-key", server.api_key, "--agent-id", server.agent_id, "--base-url", server.url],
        *["--stats-file", str(stats)],
    ]
    process = subprocess.Popen(args, env=card.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    on_start(process.pid)
    try:
        _, stderr = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode != 0:
        raise SystemExit(f"vatel session failed ({process.returncode}): {stderr.decode()}")
    return process.returncode


# --- 1 and 2: listening and playing ---------------------------------------------------------------


def listen_and_play(card: VirtualCard, listen: float, play: float, work: Path) -> dict[str, Any]:
    pid: list[int] = []
    cpu: dict[str, float] = {}

    async def script(live: LiveSession) -> None:
        await live.send("session_started", {"id": "bench-listen"})
        await asyncio.sleep(2.0)  # start-up (imports, device warm-up) is not listening
        cpu["start"], cpu["t0"] = cpu_seconds(pid[0]), time.monotonic()
        await asyncio.sleep(listen)
        cpu["end"], cpu["t1"] = cpu_seconds(pid[0]), time.monotonic()
        await live.send_audio("p1", tone(play, level=0.1), pace=1.0)
        await asyncio.sleep(0.5)
        await live.end()

    stats_file = work / "listen.json"
    with SessionServer(script) as server:
        run_app(server, card, stats_file, pid.append)
        server.wait_done(timeout=listen + play + 60)
    stats = orjson.loads(stats_file.read_bytes())
    speaker = stats["speaker"]
    return {
        "listen_seconds": round(cpu["t1"] - cpu["t0"], 2),
        "listen_cpu_percent": round(100 * (cpu["end"] - cpu["start"]) / (cpu["t1"] - cpu["t0"]), 2),
        "play_seconds": play,
        "underruns": speaker["underruns"],
        "underruns_per_minute": round(speaker["underruns"] / (play / 60), 2),
        "device_underflows": speaker["device_underflows"],
        "device_rate": speaker["rate"],
        "mic_frames_sent": stats["mic_frames_sent"],
        "mic_overflows": stats["microphone"]["overflows"],
    }


# --- 3: interruption to silence -------------------------------------------------------------------


class SpeakerTap:
    """Records ``vspeaker.monitor`` in this process, each block stamped with ``time.monotonic()``."""

    def __init__(self) -> None:
        import sounddevice as sd

        self.blocks: list[tuple[float, np.ndarray]] = []
        self.rate = 48_000
        self._lock = threading.Lock()
        self._stream = sd.InputStream(
            samplerate=self.rate, channels=1, dtype="float32", blocksize=96, latency="low", callback=self._cb
        )
        self.latency = float(self._stream.latency)
        self._stream.start()

    def _cb(self, indata: np.ndarray, frames: int, when: Any, status: Any) -> None:
        now = time.monotonic()
        with self._lock:
            self.blocks.append((now, indata[:, 0].copy()))

    def stop(self) -> None:
        self._stream.close()

    def last_loud(self, after: float, until: float, threshold: float = 0.02) -> float | None:
        """The time of the last sample louder than ``threshold`` (1 ms envelope) in (after, until)."""
        with self._lock:
            blocks = [(t, b) for t, b in self.blocks if after - 0.1 < t < until + 0.1]
        if not blocks:
            return None
        times = np.concatenate([t - (len(b) - 1 - np.arange(len(b))) / self.rate for t, b in blocks])
        samples = np.abs(np.concatenate([b for _, b in blocks]))
        window = self.rate // 1000
        envelope = np.convolve(samples, np.ones(window) / window, mode="same")
        loud = np.flatnonzero((envelope > threshold) & (times > after - 0.05) & (times < until))
        return float(times[loud[-1]]) if len(loud) else None


def interruptions(card: VirtualCard, trials: int, work: Path) -> dict[str, Any]:
    marks: list[float] = []
    tap = SpeakerTap()
    rng = random.Random(6)

    async def script(live: LiveSession) -> None:
        await live.send("session_started", {"id": "bench-interrupt"})
        await asyncio.sleep(1.5)
        for trial in range(trials):
            turn = f"t{trial}"
            sending = asyncio.ensure_future(live.send_audio(turn, tone(2.0), final=False, pace=4))
            await asyncio.sleep(rng.uniform(0.3, 0.6))
            await sending
            marks.append(time.monotonic())
            await live.send("interruption")
            await asyncio.sleep(0.4)
        await live.end()

    try:
        with SessionServer(script) as server:
            run_app(server, card, work / "interrupt.json", lambda pid: None)
            server.wait_done(timeout=trials * 2 + 60)
        time.sleep(0.3)
    finally:
        tap.stop()
    delays = []
    for mark in marks:
        end = tap.last_loud(mark, mark + 0.35)
        if end is not None:
            delays.append(max(0.0, end - mark) * 1000)
    if not delays:
        raise SystemExit("the tone was never heard at the virtual speaker")
    return {
        "trials": trials,
        "measured": len(delays),
        "interrupt_to_silence_p50_ms": round(float(np.percentile(delays, 50)), 1),
        "interrupt_to_silence_p95_ms": round(float(np.percentile(delays, 95)), 1),
        "interrupt_to_silence_max_ms": round(max(delays), 1),
        "recording_latency_ms": round(tap.latency * 1000, 1),
    }


# --- 4: echo cancellation ------------------------------------------------------------------------------


def aec_cpu(seconds: float = 30.0) -> dict[str, Any]:
    """CPU per 10 ms microphone frame of the canceller on a simulated echo (48 kHz speaker)."""
    from vatel.audio.echo import EchoCanceller

    rate, speaker_rate = RATE, 48_000
    rng = np.random.default_rng(1)
    far = (rng.standard_normal(round(seconds * speaker_rate)) * 0.05).astype(np.float32)
    far_24k = far[::2]
    heard = np.concatenate([np.zeros(960, np.float32), 0.5 * far_24k[:-960]])
    pcm = (np.clip(heard, -1, 1) * 32767).astype("<i2").tobytes()
    canceller = EchoCanceller(speaker_rate, warmup=0.0)
    block, frame = speaker_rate // 100, rate // 50
    spent = 0.0
    frames = 0
    for step in range(round(seconds * 50) - 3):
        for k in (2 * step + 4, 2 * step + 5):  # the speaker writes 40-50 ms ahead
            canceller.tap.push(k * 0.01, block, far[k * block : (k + 1) * block].tobytes())
        start = time.process_time()
        canceller.process(pcm[step * frame * 2 : (step + 1) * frame * 2], step * 0.02)
        spent += time.process_time() - start
        frames += 2
    return {
        "aec_cpu_ms_per_frame": round(spent / frames * 1000, 4),
        "aec_cpu_percent_of_core": round(spent / seconds * 100, 2),
        "aec_cpu_frames": frames,
    }


def echo_path(card: VirtualCard, seconds: float, work: Path) -> dict[str, Any]:
    card.echo(True)
    try:
        run = erle_run(card, answer_speech(work, seconds), work)
    finally:
        card.echo(False)
    if run.exit_code != 0:
        raise SystemExit(f"vatel session failed ({run.exit_code}): {run.stderr}")
    echo = run.stats.get("echo", {})
    cancelled = max(1, echo.get("frames_cancelled", 0))
    return {
        "aec_answer_seconds": round(run.answer_seconds, 1),
        "aec_erle_db": round(run.erle_db, 1),
        "aec_echo_rms": round(run.raw_rms, 4),
        "aec_sent_rms": round(run.sent_rms, 6),
        "aec_session_ms_per_frame": round(echo.get("busy_seconds", 0.0) / cancelled * 1000, 4),
        "aec_frames_muted": echo.get("frames_muted"),
        "aec_frames_gated": echo.get("frames_gated"),
        "aec_glitches": echo.get("glitches"),
        "aec_device_underflows": run.stats.get("speaker", {}).get("device_underflows"),
    }


def self_interruption(card: VirtualCard, seconds: float, work: Path) -> dict[str, Any]:
    repeats = max(1, round(seconds / 28))  # LONG_ANSWER is about 28 s in hibari's voice
    serve = Serve(work / "serve-data", live=True)
    card.echo(True)
    try:
        key = serve.data_dir.joinpath("api-key").read_text().strip()
        with vatel.Client(api_key=key, base_url=serve.url) as client:
            agent = client.agents.create(
                {
                    "name": "Talker",
                    "prompt": 'default: I heard "{said}".',
                    "first_message": " ".join([LONG_ANSWER] * repeats),
                }
            )
        assert agent.id is not None
        figures: dict[str, Any] = {}
        for name, extra, limit in (("aec", [], seconds * 2 + 60), ("no_aec", ["--no-aec"], 30.0)):
            run = answer_session(
                card, serve.url, key, agent.id, work, *extra, answer=seconds - 8, limit=limit
            )
            if run.exit_code not in (0, 130):
                raise SystemExit(f"vatel session failed ({run.exit_code}): {run.stderr}")
            figures[f"{name}_self_interruptions"] = run.stats["interruptions"]
            figures[f"{name}_played_seconds"] = round(run.stats["speaker"]["played_seconds"], 1)
            figures[f"{name}_device_underflows"] = run.stats["speaker"]["device_underflows"]
    finally:
        card.echo(False)
        serve.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--listen", type=float, default=20.0, help="seconds of listening measured")
    parser.add_argument("--play", type=float, default=60.0, help="seconds of agent audio played")
    parser.add_argument("--trials", type=int, default=30, help="interruptions timed")
    parser.add_argument("--echo", type=float, default=60.0, help="seconds of agent answer for ERLE")
    parser.add_argument(
        "--answer", type=float, default=60.0, help="seconds of the real server's answer (0: skip that part)"
    )
    parser.add_argument(
        "--tui", type=float, default=10.0, help="seconds of the live view measured per run (0: skip)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vatel-bench-") as tmp:
        work = Path(tmp)
        with VirtualCard(work / "card") as card:
            os.environ.update(card.env)  # this process records the virtual speaker too
            os.environ["PULSE_SOURCE"] = "vspeaker.monitor"
            figures = listen_and_play(card, args.listen, args.play, work)
            figures |= interruptions(card, args.trials, work)
            if args.tui > 0:
                figures |= tui_idle(card, args.tui, work)
        with VirtualCard(work / "echo-card") as card:  # a fresh card: nothing of the parts above
            figures |= echo_path(card, args.echo, work)
            if args.answer > 0:
                figures |= self_interruption(card, args.answer, work)
    figures |= aec_cpu()

    result = {
        "benchmark": "client",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "system": platform.platform(),
        },
        "figures": figures,
        "targets": TARGETS,
    }
    print(f"CPU while listening:        {figures['listen_cpu_percent']:.2f} % of a core (target <= 3 %)")
    print(
        f"underruns (60 ms prebuffer): {figures['underruns']} in {args.play:g} s "
        f"= {figures['underruns_per_minute']:g}/min (target 0); "
        f"device underflows {figures['device_underflows']}"
    )
    print(
        f"interruption -> silence:    p50 {figures['interrupt_to_silence_p50_ms']} ms, "
        f"p95 {figures['interrupt_to_silence_p95_ms']} ms, max {figures['interrupt_to_silence_max_ms']} ms "
        f"over {figures['measured']} trials (target p95 <= 40 ms; includes the "
        f"{figures['recording_latency_ms']} ms recording latency)"
    )
    print(
        f"echo cancellation:          ERLE {figures['aec_erle_db']} dB over a "
        f"{figures['aec_answer_seconds']:g} s answer from 2 s in (target >= 20 dB); CPU "
        f"{figures['aec_cpu_ms_per_frame']} ms per 10 ms frame ({figures['aec_cpu_percent_of_core']} % "
        f"of a core while cancelling; in the session {figures['aec_session_ms_per_frame']} ms wall); "
        f"speaker underflows during it: {figures['aec_device_underflows']}"
    )
    if args.answer > 0:
        print(
            f"self-interruption:          {figures['aec_self_interruptions']} with AEC over a "
            f"{figures['aec_played_seconds']:g} s answer (target 0); {figures['no_aec_self_interruptions']} "
            f"with --no-aec ({figures['no_aec_played_seconds']:g} s played); speaker underflows "
            f"{figures['aec_device_underflows']} / {figures['no_aec_device_underflows']}"
        )
    if args.tui > 0:
        print(
            f"TUI CPU at idle:            {figures['tui_idle_cpu_percent']:.2f} % of a core with the live "
            f"view, {figures['tui_idle_plain_cpu_percent']:.2f} % with --plain over "
            f"{figures['tui_idle_seconds']:g} s ({figures['tui_idle_redraws']} redraws); agent talking: "
            f"{figures['tui_talking_cpu_percent']:.2f} % vs {figures['tui_talking_plain_cpu_percent']:.2f} % "
            f"({figures['tui_talking_redraws']} redraws)"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "client.json"
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
