"""Where a server's CPU goes: per component (VAD, STT, TTS, brain) and the transport around them.

Always on and cheap: one read of the calling thread's CPU clock before and after each engine call
(about a microsecond, against 100+ µs for the cheapest call timed). The components are timed in
the thread that runs them (the VAD and the brain on the event loop, recognition and synthesis in
the worker pool), so the transport is the event loop's CPU minus the VAD and the brain, and what
no timed call accounts for is "other threads": model libraries' own worker threads (Whisper
decodes on two), the database thread and the pool's idle bookkeeping. Read through
``GET /debug/usage``; ``benchmarks/density.py`` turns two snapshots into CPU seconds per
session-second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

COMPONENTS = ("vad", "stt_interim", "stt_final", "tts", "brain")
ON_THE_LOOP = ("vad", "brain")


@dataclass
class ComponentUsage:
    cpu_seconds: float = 0.0
    calls: int = 0


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

    def snapshot(self, loop_thread_cpu: float) -> dict[str, Any]:
        """The counters so far; ``loop_thread_cpu`` is ``time.thread_time()`` read on the event loop.

        Every figure only grows, so the difference of two snapshots covers the time between them.
        """
        now = time.monotonic()
        with self._lock:
            components = {
                name: {"cpu_seconds": usage.cpu_seconds, "calls": usage.calls}
                for name, usage in self.components.items()
            }
            call_seconds = self._ended_call_seconds + sum(now - since for since in self._open_since.values())
            open_calls = self.open_calls
        on_loop = sum(components[name]["cpu_seconds"] for name in ON_THE_LOOP)
        in_pool = sum(usage["cpu_seconds"] for name, usage in components.items() if name not in ON_THE_LOOP)
        process = time.process_time()
        return {
            "monotonic": now,
            "process_cpu_seconds": process,
            "event_loop_cpu_seconds": loop_thread_cpu,
            "transport_cpu_seconds": max(0.0, loop_thread_cpu - on_loop),
            "other_threads_cpu_seconds": max(0.0, process - loop_thread_cpu - in_pool),
            "components": components,
            "open_calls": open_calls,
            "call_seconds": call_seconds,
        }
