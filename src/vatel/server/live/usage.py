"""Where a server's CPU goes: per component (VAD, end-of-turn model, STT, TTS, brain) and the transport.

Always on and cheap: one read of the calling thread's CPU clock before and after each engine call
(about a microsecond, against 100+ µs for the cheapest call timed). The components are timed in
the thread that runs them (the VAD and the brain on the event loop, recognition and synthesis in
the worker pool), so the transport is the event loop's CPU minus the VAD and the brain. An engine
that computes on its own native threads (Whisper: CTranslate2's workers) names them
(``native_threads``) and their CPU is added to its component; what remains is "other threads"
(the database thread, the pool's bookkeeping, idle spinning of model thread pools). An engine in
a child process (the interims' pocketsphinx) reports the CPU of its decodes, added to its
component and to the process. Read through
``GET /debug/usage``; ``benchmarks/density.py`` turns two snapshots into CPU seconds per
session-second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from vatel.server.engines.loading import Engines
from vatel.server.engines.native_threads import threads_cpu_seconds

P = ParamSpec("P")
T = TypeVar("T")

COMPONENTS = ("vad", "turn", "stt_interim", "stt_final", "tts", "brain")
ON_THE_LOOP = ("vad", "brain")


@dataclass
class ComponentUsage:
    cpu_seconds: float = 0.0
    calls: int = 0


def native_cpu(engines: Engines) -> dict[str, float]:
    """CPU spent so far on the native threads of each component's engines."""
    interim: Any = engines.interim_stt  # the final recogniser itself when it gives interims too
    owners: dict[str, list[Any]] = {
        "vad": [engines.vad],
        "stt_final": [engines.final_stt],
        "stt_interim": [interim] if interim is not None and interim is not engines.final_stt else [],
        "tts": list(engines.synthesizers),
    }
    out: dict[str, float] = {}
    for component, models in owners.items():
        threads: set[int] = set()
        for model in models:
            threads |= getattr(model, "native_threads", frozenset())
        if threads:
            out[component] = threads_cpu_seconds(threads)
        children = sum(child_cpu(model) for model in models)
        if children:
            out[component] = out.get(component, 0.0) + children
    return out


def child_cpu(model: Any) -> float:
    """CPU an engine spent in a process of its own (``child_cpu_seconds``), e.g. the interims'."""
    return float(getattr(model, "child_cpu_seconds", 0.0))


def children_cpu(engines: Engines) -> float:
    models = {
        id(model): model
        for model in (engines.vad, engines.final_stt, engines.interim_stt, *engines.synthesizers)
    }
    return sum(child_cpu(model) for model in models.values() if model is not None)


class _Pass:
    """Hands what a coroutine yielded to the task driving it, and the task's answer back."""

    def __init__(self, item: Any) -> None:
        self.item = item

    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield self.item)


class CpuUsage:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.components = {name: ComponentUsage() for name in COMPONENTS}
        self.open_calls = 0
        self._ended_call_seconds = 0.0
        self._open_since: dict[int, float] = {}

    def add(self, component: str, seconds: float) -> None:
        with self._lock:
            usage = self.components[component]
            usage.cpu_seconds += seconds
            usage.calls += 1

    def run(self, component: str, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``work(*args)`` with its CPU time (in this thread) counted for ``component``."""
        start = time.thread_time()
        try:
            return work(*args, **kwargs)
        finally:
            self.add(component, time.thread_time() - start)

    async def steps(self, component: str, events: AsyncIterator[T]) -> AsyncIterator[T]:
        """``events`` with the CPU of its own steps counted, not that of the tasks that ran while it
        waited (an LLM brain awaits its HTTP answer): each step between two waits is timed."""
        iterator = events.__aiter__()
        while True:
            try:
                event = await self._timed(component, iterator.__anext__())
            except StopAsyncIteration:
                return
            yield event

    async def _timed(self, component: str, awaitable: Any) -> Any:
        steps = awaitable.__await__()
        value: Any = None
        error: BaseException | None = None
        spent = 0.0
        try:
            while True:
                start = time.thread_time()
                try:
                    yielded = steps.throw(error) if error is not None else steps.send(value)
                except StopIteration as done:
                    return done.value
                finally:
                    spent += time.thread_time() - start
                try:
                    value, error = await _Pass(yielded), None
                except BaseException as raised:  # cancellation too: the awaited code decides
                    value, error = None, raised
        finally:
            self.add(component, spent)

    # --- calls ----------------------------------------------------------------------------------

    def call_opened(self, key: int, now: float) -> None:
        with self._lock:
            self.open_calls += 1
            self._open_since[key] = now

    def call_closed(self, key: int, now: float) -> None:
        with self._lock:
            since = self._open_since.pop(key, None)
            if since is not None:
                self.open_calls -= 1
                self._ended_call_seconds += now - since

    def snapshot(self, loop_thread_cpu: float, engines: Engines | None = None) -> dict[str, Any]:
        """The counters so far; ``loop_thread_cpu`` is ``time.thread_time()`` read on the event loop,
        and ``engines`` are asked for their native threads.

        Every figure only grows, so the difference of two snapshots covers the time between them.
        """
        native = native_cpu(engines) if engines is not None else {}
        now = time.monotonic()
        with self._lock:
            components = {
                name: {
                    "cpu_seconds": usage.cpu_seconds + native.get(name, 0.0),
                    "calls": usage.calls,
                    "native_threads_cpu_seconds": native.get(name, 0.0),
                }
                for name, usage in self.components.items()
            }
            call_seconds = self._ended_call_seconds + sum(now - since for since in self._open_since.values())
            open_calls = self.open_calls
        timed = {
            name: usage["cpu_seconds"] - usage["native_threads_cpu_seconds"]
            for name, usage in components.items()
        }
        on_loop = sum(timed[name] for name in ON_THE_LOOP)
        elsewhere = sum(usage["cpu_seconds"] for usage in components.values()) - on_loop
        # The engines' child processes are part of the server's CPU (and their components' above).
        process = time.process_time() + (children_cpu(engines) if engines is not None else 0.0)
        return {
            "monotonic": now,
            "process_cpu_seconds": process,
            "event_loop_cpu_seconds": loop_thread_cpu,
            "transport_cpu_seconds": max(0.0, loop_thread_cpu - on_loop),
            "other_threads_cpu_seconds": max(0.0, process - loop_thread_cpu - elsewhere),
            "components": components,
            "open_calls": open_calls,
            "call_seconds": call_seconds,
        }
