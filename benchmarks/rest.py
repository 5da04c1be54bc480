"""Session tokens per second and REST latency of one ``vatel serve`` process, on SQLite and PostgreSQL.

For each database a fresh server runs in a subprocess (``vatel serve`` on 127.0.0.1, so the load
generator does not share its GIL), with one agent (and ``--agents`` agents in all for the list):

* latency: ``--requests`` sequential requests on one keep-alive connection, each of
  ``POST /v1/session-token`` and ``GET /v1/agents``: p50, p99, mean and max in ms;
* throughput: ``POST /v1/session-token`` on ``--concurrency`` keep-alive connections at once
  (a minimal asyncio HTTP/1.1 client, so the load generator takes little of the two cores) for
  ``--tokens`` tokens: tokens/s, and the CPU the server and the load generator spent per token.

Everything is bounded: counts, and ``--max-seconds`` per phase. PostgreSQL is a private cluster
started (and removed) with ``scripts/postgres``. Targets (issue 4): p99 <= 10 ms and >= 500 tokens/s
on a 2-core machine. Prints the figures and writes benchmarks/results/rest.json.

    .venv/bin/python benchmarks/rest.py [--databases sqlite,postgresql] [--requests N] [--tokens N]
                                        [--concurrency C] [--profile DIR]

``--profile DIR`` runs the server under cProfile and writes ``DIR/server-<database>.prof`` (the
figures are then slower than without it; it is for finding where the time goes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
POSTGRES_SCRIPT = ROOT / "scripts" / "postgres"
TARGET_P99_MS = 10.0
TARGET_TOKENS_PER_S = 500.0
START_TIMEOUT = 60.0

# The server: `vatel serve`, optionally under cProfile (dumped when uvicorn returns on SIGINT).
SERVE = "from vatel.cli import entry_point; entry_point()"
SERVE_PROFILED = (
    "import cProfile, sys; from vatel.cli import main; out = sys.argv.pop(); "
    "profile = cProfile.Profile(); code = profile.runcall(main); profile.dump_stats(out); sys.exit(code)"
)


@dataclass
class Latency:
    requests: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    server_cpu_ms_per_request: float
    """CPU time (user + system) of the server process per request: independent of other load."""


@dataclass
class Throughput:
    tokens: int
    concurrency: int
    seconds: float
    tokens_per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms_per_request: float
    client_cpu_ms_per_request: float
    """CPU time of this load generator per token: with the server's, what two cores must share."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    index = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def latency_of(durations: list[float], cpu_seconds: float) -> Latency:
    ordered = sorted(durations)
    return Latency(
        requests=len(ordered),
        p50_ms=percentile(ordered, 0.50) * 1e3,
        p99_ms=percentile(ordered, 0.99) * 1e3,
        mean_ms=statistics.fmean(ordered) * 1e3,
        max_ms=ordered[-1] * 1e3,
        server_cpu_ms_per_request=cpu_seconds / len(ordered) * 1e3,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0.0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def postgres_cluster() -> Iterator[str]:
    directory = Path(tempfile.mkdtemp(prefix="vatel-bench-pg-"))
    try:
        done = subprocess.run(
            ["bash", str(POSTGRES_SCRIPT), "start", str(directory)],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise SystemExit(f"scripts/postgres start failed:\n{done.stderr}")
        yield done.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(
            ["bash", str(POSTGRES_SCRIPT), "stop", str(directory)],
            capture_output=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )


@contextmanager
def server(database_url: str | None, profile: Path | None) -> Iterator[tuple[str, str, int]]:
    """A ``vatel serve`` subprocess on a fresh data dir; yields (base URL, API key, its pid)."""
    with tempfile.TemporaryDirectory(prefix="vatel-bench-") as data_dir:
        port = free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith("VATEL_")}
        if database_url:
            env["VATEL_DATABASE_URL"] = database_url
        args = ["serve", "--port", str(port), "--data-dir", data_dir, "--log-level", "warning"]
        if profile is None:
            command = [sys.executable, "-c", SERVE, *args]
        else:
            command = [sys.executable, "-c", SERVE_PROFILED, *args, str(profile)]
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        try:
            url = f"http://127.0.0.1:{port}"
            key = wait_until_ready(process, url, Path(data_dir) / "api-key")
            yield url, key, process.pid
        finally:
            process.send_signal(2)  # SIGINT: uvicorn's graceful shutdown (and the profile dump)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_ready(process: subprocess.Popen[bytes], url: str, key_file: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode() if process.stderr else ""
            raise SystemExit(f"vatel serve exited with {process.returncode}:\n{error}")
        if key_file.is_file() and key_file.read_text().strip():
            key = key_file.read_text().strip()
            try:
                response = httpx.get(f"{url}/v1/llms", headers={"Authorization": f"Bearer {key}"}, timeout=2)
                if response.status_code == 200:
                    return key
            except httpx.TransportError:
                pass
        time.sleep(0.05)
    process.kill()
    raise SystemExit(f"vatel serve did not answer within {START_TIMEOUT} s")


def sequential(send: Callable[[], httpx.Response], count: int, max_seconds: float, pid: int) -> Latency:
    durations: list[float] = []
    deadline = time.monotonic() + max_seconds
    cpu_before = cpu_seconds(pid)
    for _ in range(count):
        began = time.perf_counter()
        response = send()
        durations.append(time.perf_counter() - began)
        if response.status_code >= 300:
            raise SystemExit(f"{response.request.method} {response.request.url}: {response.status_code}")
        if time.monotonic() > deadline:
            break
    return latency_of(durations, cpu_seconds(pid) - cpu_before)


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    """One request on a keep-alive HTTP/1.1 connection; the answer's status and body."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return int(head[9:12]), await reader.readexactly(length)


async def concurrent_tokens(
    url: str, key: str, pid: int, agent_id: str, total: int, concurrency: int, max_seconds: float
) -> Throughput:
    """``concurrency`` keep-alive connections minting tokens back to back.

    The load generator is a few lines of asyncio streams sending pre-built request bytes (about a
    tenth of httpx's CPU per request), so on two cores the server, not its client, is measured.
    """
    port = httpx.URL(url).port
    assert port is not None
    body = json.dumps({"agent_id": agent_id}).encode()
    request = (
        f"POST /v1/session-token HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    durations: list[float] = []
    failures: list[str] = []
    remaining = total
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(concurrency)]
    try:
        deadline = time.monotonic() + max_seconds

        async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal remaining
            while remaining > 0 and time.monotonic() < deadline:
                remaining -= 1
                began = time.perf_counter()
                status, answer = await exchange(reader, writer, request)
                durations.append(time.perf_counter() - began)
                if status != 200 or not answer.startswith(b'{"token":'):
                    failures.append(f"{status} {answer[:200]!r}")

        began, cpu_before, own_before = time.perf_counter(), cpu_seconds(pid), time.process_time()
        await asyncio.wait_for(
            asyncio.gather(*(worker(reader, writer) for reader, writer in connections)), max_seconds + 30
        )
        elapsed, cpu = time.perf_counter() - began, cpu_seconds(pid) - cpu_before
        own = time.process_time() - own_before
    finally:
        for _, writer in connections:
            writer.close()
    if failures:
        raise SystemExit(f"{len(failures)} token requests failed, e.g. {failures[0]}")
    ordered = sorted(durations)
    return Throughput(
        tokens=len(ordered),
        concurrency=concurrency,
        seconds=elapsed,
        tokens_per_s=len(ordered) / elapsed,
        p50_ms=percentile(ordered, 0.50) * 1e3,
        p99_ms=percentile(ordered, 0.99) * 1e3,
        server_cpu_ms_per_request=cpu / len(ordered) * 1e3,
        client_cpu_ms_per_request=own / len(ordered) * 1e3,
    )


def measure(url: str, key: str, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        agents = [
            client.post("/v1/agents", json={"name": f"Agent {i}", "prompt": "Be brief."}).json()
            for i in range(args.agents)
        ]
        agent_id = agents[0]["id"]
        body = {"agent_id": agent_id}

        def token() -> httpx.Response:
            return client.post("/v1/session-token", json=body)

        def agent_list() -> httpx.Response:
            return client.get("/v1/agents")

        for _ in range(args.warmup):
            token()
            agent_list()
        results: dict[str, Any] = {
            "session_token": asdict(sequential(token, args.requests, args.max_seconds, pid)),
            "list_agents": asdict(sequential(agent_list, args.requests, args.max_seconds, pid)),
        }
        assert len(agent_list().json()) == args.agents
    throughput = asyncio.run(
        concurrent_tokens(url, key, pid, agent_id, args.tokens, args.concurrency, args.max_seconds)
    )
    results["throughput"] = asdict(throughput)
    return results


def verdicts(results: dict[str, Any]) -> dict[str, bool]:
    return {
        "session_token_p99": results["session_token"]["p99_ms"] <= TARGET_P99_MS,
        "list_agents_p99": results["list_agents"]["p99_ms"] <= TARGET_P99_MS,
        "tokens_per_s": results["throughput"]["tokens_per_s"] >= TARGET_TOKENS_PER_S,
    }


def report(database: str, results: dict[str, Any], met: dict[str, bool]) -> None:
    def mark(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print(f"\n{database}")
    for name, key in (("POST /v1/session-token", "session_token"), ("GET /v1/agents", "list_agents")):
        figures = results[key]
        print(
            f"  {name:<24} sequential n={figures['requests']:<5} p50 {figures['p50_ms']:6.2f} ms"
            f"  p99 {figures['p99_ms']:6.2f} ms  mean {figures['mean_ms']:6.2f} ms"
            f"  max {figures['max_ms']:7.2f} ms  server CPU {figures['server_cpu_ms_per_request']:.2f} ms/req"
            f"  [p99 <= {TARGET_P99_MS:g} ms: {mark(met[key + '_p99'])}]"
        )
    flow = results["throughput"]
    print(
        f"  {'tokens/s':<24} {flow['concurrency']} clients, {flow['tokens']} tokens"
        f" in {flow['seconds']:.2f} s:"
        f" {flow['tokens_per_s']:7.1f} tokens/s (p50 {flow['p50_ms']:.2f} ms, p99 {flow['p99_ms']:.2f} ms"
        f" under load; CPU per token: server {flow['server_cpu_ms_per_request']:.2f} ms,"
        f" load generator {flow['client_cpu_ms_per_request']:.2f} ms)"
        f"  [>= {TARGET_TOKENS_PER_S:g}/s: {mark(met['tokens_per_s'])}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql"
    )
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests per endpoint")
    parser.add_argument("--tokens", type=int, default=5000, help="tokens minted in the throughput run")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients for throughput")
    parser.add_argument(
        "--agents", type=int, default=10, help="agents stored (GET /v1/agents lists them all)"
    )
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured requests per endpoint first")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time cap of each measured phase")
    parser.add_argument("--profile", type=Path, help="run the server under cProfile, dumps into this dir")
    parser.add_argument("--output", type=Path, default=RESULTS / "rest.json")
    args = parser.parse_args()
    databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    unknown = set(databases) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown databases: {sorted(unknown)}")

    runs: dict[str, Any] = {}
    for database in databases:
        profile = None
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
            profile = args.profile.resolve() / f"server-{database}.prof"
        if database == "sqlite":
            with server(None, profile) as (url, key, pid):
                results = measure(url, key, pid, args)
        else:
            with postgres_cluster() as database_url, server(database_url, profile) as (url, key, pid):
                results = measure(url, key, pid, args)
        met = verdicts(results)
        report(database, results, met)
        runs[database] = {**results, "targets_met": met}

    document = {
        "benchmark": "rest",
        "targets": {"p99_ms_at_most": TARGET_P99_MS, "tokens_per_s_at_least": TARGET_TOKENS_PER_S},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_end": os.getloadavg(),
        },
        "settings": {
            "requests": args.requests,
            "tokens": args.tokens,
            "concurrency": args.concurrency,
            "agents": args.agents,
            "warmup": args.warmup,
            "profiled": args.profile is not None,
        },
        "results": runs,
        "all_targets_met": all(all(run["targets_met"].values()) for run in runs.values()),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nall targets met: {document['all_targets_met']}  (written to {args.output})")


if __name__ == "__main__":
    main()
