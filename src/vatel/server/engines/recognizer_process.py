"""A streaming recogniser in a child process, for an engine that holds the GIL while it decodes.

pocketsphinx decodes with the GIL held. On a server with several calls its interim transcripts
(about 50 ms of CPU per second of speech, per call) kept the event loop and the other engines'
threads waiting for the GIL: with four callers, voice-to-voice p95 rose 1.4-1.6x over one caller,
and 1.0x with interims off (benchmarks/density.py pipeline). In a process of its own it only
takes its share of the cores.

The child builds the recogniser from ``module:factory`` and keeps one stream per id; each request
is one message and one answer on a pipe. A child that dies is started again on the next request
(its streams begin again: interim transcripts are best-effort), and the failure is logged.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import logging
import multiprocessing
import os
import threading
import time
import weakref
from collections import deque
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from vatel.audio.pcm import Float32
from vatel.server.engines.samples import checked_samples

log = logging.getLogger("vatel.server.engines")

START_TIMEOUT = 60.0
"""Seconds the child may take to import and load its recogniser."""
REQUEST_TIMEOUT = 10.0
"""Seconds one request may take (a quarter second of audio takes about 15 ms)."""
RESTART_EVERY = 5.0
"""The least time between two starts of a child that died."""


class RecognizerProcessError(RuntimeError):
    """The child failed to start, or died."""


CHILD_NICE = 10
"""Interim transcripts are best-effort: the child yields the CPU to the calls' turns."""


def _serve(connection: Connection, factory: str) -> None:
    """The child: build the recogniser, then answer requests until ``stop`` or the pipe closes."""
    with contextlib.suppress(OSError):
        os.nice(CHILD_NICE)
    try:
        module, _, attribute = factory.partition(":")
        recognizer = getattr(importlib.import_module(module), attribute)()
    except BaseException as error:  # the parent shows why the engine cannot load
        connection.send(("error", f"{type(error).__name__}: {error}", 0.0))
        return
    connection.send(("ready", f"{recognizer.name}\n{recognizer.sample_rate}", 0.0))
    streams: dict[int, Any] = {}
    while True:
        try:
            operation, stream_id, payload = connection.recv()
        except (EOFError, OSError):
            return
        started = time.thread_time()
        try:
            if operation == "stop":
                return
            if operation == "feed":
                stream = streams.get(stream_id)
                if stream is None:
                    stream = streams[stream_id] = recognizer.start()
                text = stream.feed(np.frombuffer(payload, dtype=np.float32))
            elif operation == "finish":
                stream = streams.pop(stream_id, None)
                text = stream.finish() if stream is not None else ""
            elif operation == "drop":
                for dropped in payload:
                    stream = streams.pop(dropped, None)
                    if stream is not None:
                        stream.finish()
                text = ""
            else:
                raise ValueError(f"unknown request {operation!r}")
        except Exception as error:
            connection.send(("error", f"{type(error).__name__}: {error}", time.thread_time() - started))
        else:
            connection.send(("ok", text, time.thread_time() - started))


class ProcessRecognizer:
    """A :class:`~vatel.server.engines.stt.StreamingRecognizer` whose decoding runs in a child.

    ``factory`` is ``"module:callable"``, called in the child with no arguments. Requests are
    serialised (one pipe); the interim transcripts of every call take turns in it anyway.
    """

    def __init__(self, factory: str, *, wait: bool = True) -> None:
        """Start the child; with ``wait=False`` it loads while the caller does other work (the
        server loads its other engines meanwhile), and :meth:`wait_ready` or the first request
        waits for it."""
        self.factory = factory
        self._context = multiprocessing.get_context("spawn")  # safe beside the server's threads
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._dropped: deque[int] = deque()
        self._cpu = 0.0
        self._process: Any = None
        self._pipe: Connection | None = None
        self._name = ""
        self._rate = 0
        self._restart_at = 0.0
        self._launching: tuple[Any, Connection] | None = self._launch()
        if wait:
            self.wait_ready()

    def _launch(self) -> tuple[Any, Connection]:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(child, self.factory), name="vatel-recognizer", daemon=True
        )
        process.start()
        child.close()
        return process, parent

    def wait_ready(self) -> None:
        """Wait until the child has loaded its recogniser (``RecognizerProcessError`` if it cannot)."""
        with self._lock:
            self._ready()

    def _ready(self) -> None:
        if self._launching is None:
            return
        process, parent = self._launching
        self._launching = None
        if not parent.poll(START_TIMEOUT):
            process.kill()
            raise RecognizerProcessError(f"{self.factory} did not load within {START_TIMEOUT:g} s")
        try:
            status, text, _ = parent.recv()
        except (EOFError, OSError):
            status, text = "error", f"the process exited with code {process.exitcode}"
        if status != "ready":
            process.join(5)
            raise RecognizerProcessError(f"{self.factory} could not load in its process: {text}")
        self._process, self._pipe = process, parent
        name, rate = text.split("\n")
        self._name, self._rate = name, int(rate)

    @property
    def name(self) -> str:
        self.wait_ready()
        return self._name

    @property
    def sample_rate(self) -> int:
        self.wait_ready()
        return self._rate

    def start(self) -> ProcessStream:
        return ProcessStream(self, next(self._ids))

    @property
    def child_cpu_seconds(self) -> float:
        """CPU the child spent decoding so far (counted for this engine by the server's usage)."""
        return self._cpu

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def request(self, operation: str, stream_id: int, payload: Any = None) -> str:
        with self._lock:
            self._ready()
            if self._pipe is None or not self._process.is_alive():
                self._restart()
            pipe = self._pipe
            assert pipe is not None
            try:
                if self._dropped:
                    dropped = [self._dropped.popleft() for _ in range(len(self._dropped))]
                    pipe.send(("drop", 0, dropped))
                    self._answer(pipe)
                pipe.send((operation, stream_id, payload))
                return self._answer(pipe)
            except (EOFError, OSError) as error:
                self._forget_child()
                raise RecognizerProcessError(f"the {self._name} recogniser process died: {error}") from None

    def _restart(self) -> None:
        """A new child for a dead one; at most one start per :data:`RESTART_EVERY` seconds, so a
        recogniser that cannot start does not cost a process per request."""
        now = time.monotonic()
        if now < self._restart_at:
            raise RecognizerProcessError(f"the {self._name} recogniser process is down; one starts soon")
        self._restart_at = now + RESTART_EVERY
        log.error("the %s recogniser process is gone; starting it again", self._name)
        self._forget_child()
        self._dropped.clear()  # its streams went with it
        self._launching = self._launch()
        self._ready()

    def _forget_child(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None

    def _answer(self, pipe: Connection) -> str:
        if not pipe.poll(REQUEST_TIMEOUT):  # a stuck child would stop every call's interims
            self._process.kill()
            raise OSError(f"no answer within {REQUEST_TIMEOUT:g} s; the process was stopped")
        status, text, cpu = pipe.recv()
        self._cpu += cpu
        if status != "ok":
            raise ValueError(text)
        return str(text)

    def drop(self, stream_id: int) -> None:
        """Forget a stream that was never finished (sent with the next request; safe from any
        thread, the garbage collector's too)."""
        self._dropped.append(stream_id)

    def close(self) -> None:
        with self._lock:
            if self._launching is not None:
                self._launching[0].kill()
                self._launching = None
            if self._pipe is not None:
                with contextlib.suppress(OSError):
                    self._pipe.send(("stop", 0, None))
                self._pipe.close()
                self._pipe = None
            if self._process is not None:
                self._process.join(5)
                if self._process.is_alive():
                    self._process.kill()


class ProcessStream:
    """One utterance in the child (a :class:`~vatel.server.engines.stt.RecognizerStream`)."""

    def __init__(self, owner: ProcessRecognizer, stream_id: int) -> None:
        self._owner = owner
        self._id = stream_id
        self._finished = False
        self._release = weakref.finalize(self, owner.drop, stream_id)

    def feed(self, audio: Float32) -> str:
        if self._finished:
            raise RuntimeError("this utterance is finished; start a new stream")
        samples = np.ascontiguousarray(checked_samples(audio), dtype=np.float32)
        return self._owner.request("feed", self._id, samples.tobytes())

    def finish(self) -> str:
        if self._finished:
            return ""
        self._finished = True
        self._release.detach()
        return self._owner.request("finish", self._id)
