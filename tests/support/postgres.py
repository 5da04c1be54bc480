"""A private PostgreSQL cluster for the tests, started and stopped by ``scripts/postgres``.

The script installs Debian's ``postgresql`` when it is missing (as root), runs ``initdb`` in a fresh
directory and starts the server on a free port on 127.0.0.1; ``postgres_cluster()`` wraps it for one
test session. ``create_database``/``drop_database`` give each test its own empty database.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "postgres"

# apt-get update + install on a clean CI machine takes a minute or two; initdb + start about a second.
START_TIMEOUT = 900.0
STOP_TIMEOUT = 120.0

_T = TypeVar("_T")


class PostgresUnavailable(RuntimeError):
    """``scripts/postgres`` could not install or start PostgreSQL; the message says why."""


@dataclass(frozen=True)
class PostgresCluster:
    directory: Path
    url: str  # postgresql+asyncpg://postgres@127.0.0.1:PORT/postgres
    start_seconds: float  # wall time of `scripts/postgres start` (includes any apt install)
    log: str  # what the script said on stderr

    @property
    def installed_postgresql(self) -> bool:
        """Whether this start had to install PostgreSQL with apt first (and so was slow)."""
        return "installing Debian's postgresql" in self.log

    @property
    def port(self) -> int:
        port = make_url(self.url).port
        assert port is not None
        return port


def run_script(command: str, directory: Path, timeout: float) -> tuple[str, str]:
    """Run ``scripts/postgres COMMAND DIRECTORY``; returns its last stdout line and its stderr."""
    try:
        done = subprocess.run(
            ["bash", str(SCRIPT), command, str(directory)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise PostgresUnavailable(
            f"`scripts/postgres {command} {directory}` took over {timeout:.0f} s"
        ) from exc
    if done.returncode != 0:
        said = done.stderr.strip()
        raise PostgresUnavailable(
            f"`scripts/postgres {command} {directory}` failed (exit {done.returncode}):\n{said}"
        )
    lines = done.stdout.strip().splitlines()
    return (lines[-1] if lines else ""), done.stderr


def start_cluster(directory: Path | None = None) -> PostgresCluster:
    """Start a cluster in ``directory`` (a new directory under the temp dir by default)."""
    if directory is None:
        # Not pytest's tmp_path: its parents are 0700 and root's, so the `postgres` user could not reach it.
        directory = Path(tempfile.mkdtemp(prefix="vatel-pg-"))
    began = time.perf_counter()
    try:
        url, log = run_script("start", directory, START_TIMEOUT)
    except PostgresUnavailable:
        stop_cluster(directory, missing_ok=True)
        raise
    elapsed = time.perf_counter() - began
    if not url.startswith("postgresql+asyncpg://"):
        stop_cluster(directory, missing_ok=True)
        raise PostgresUnavailable(f"`scripts/postgres start` printed no URL as its last line: {url!r}")
    return PostgresCluster(directory=directory, url=url, start_seconds=elapsed, log=log)


def stop_cluster(directory: Path, *, missing_ok: bool = False) -> None:
    """Fast-stop the cluster in ``directory`` and remove the directory."""
    try:
        run_script("stop", directory, STOP_TIMEOUT)
    except PostgresUnavailable:
        if not missing_ok:
            raise


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A running cluster for the ``with`` block; stopped and removed afterwards."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        stop_cluster(cluster.directory)


def postgres_required() -> bool:
    """Whether a cluster that cannot start must fail the tests rather than skip them.

    Always in CI, and always as root (the script can install and start PostgreSQL there); only a
    developer's machine without root may skip the PostgreSQL-backed tests.
    """
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"} or os.geteuid() == 0


# --- one database per test ------------------------------------------------------------------------


def run_in_thread(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion on a private event loop in a private thread.

    Fixtures are synchronous; ``asyncio.run`` on the test thread would reset that thread's event
    loop under pytest-asyncio, so the loop gets a thread of its own.
    """
    result: list[_T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(factory()))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name="postgres-admin", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


async def _execute_autocommit(server_url: str, statement: str) -> None:
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def create_database(server_url: str) -> str:
    """Create an empty database with a random name on the cluster; returns its URL."""
    name = f"vatel_test_{uuid.uuid4().hex[:16]}"
    run_in_thread(lambda: _execute_autocommit(server_url, f'CREATE DATABASE "{name}"'))
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(database_url: str) -> None:
    """Drop the database named in ``database_url``, closing any connection a test left open."""
    url = make_url(database_url)
    name = url.database
    if not name or not name.startswith("vatel_test_"):
        raise ValueError(f"refusing to drop {name!r}: not a database made by create_database")
    server_url = url.set(database="postgres").render_as_string(hide_password=False)
    run_in_thread(lambda: _execute_autocommit(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
