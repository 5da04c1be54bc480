"""From a PortAudio callback thread to the event loop, without ever blocking the callback.

The callback calls :meth:`BlockHandoff.push`, which appends to a bounded deque (the oldest block
is dropped, and counted, when the loop falls behind) and wakes the loop only when no wake-up is
already on its way, so a busy loop gets one ``call_soon_threadsafe`` per batch, not per block.
The loop side awaits :meth:`BlockHandoff.get`.

Safe without locks under the GIL: ``deque.append`` and ``popleft`` are atomic, and each counter
has a single writer.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

__all__ = ["BlockHandoff"]

T = TypeVar("T")


class BlockHandoff(Generic[T]):
    """A bounded single-producer (any thread) single-consumer (the event loop) queue."""

    def __init__(self, loop: asyncio.AbstractEventLoop, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._loop = loop
        self._items: deque[T] = deque(maxlen=capacity)
        self._ready = asyncio.Event()
        self._wake_pending = False
        self._closed = False
        self.dropped = 0
        """Blocks lost because the consumer fell more than ``capacity`` blocks behind."""

    # --- producer side (any thread) ---------------------------------------------------------------

    def push(self, item: T) -> None:
        if self._closed:
            return
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append(item)
        if not self._wake_pending:
            self._wake_pending = True
            try:
                self._loop.call_soon_threadsafe(self._wake)
            except RuntimeError:  # the loop is closed: the session is over
                self._closed = True

    # --- consumer side (the event loop) -----------------------------------------------------------

    def _wake(self) -> None:
        self._wake_pending = False
        self._ready.set()

    def close(self) -> None:
        """No more blocks: a waiting :meth:`get` returns ``None``."""
        self._closed = True
        self._ready.set()

    async def get(self) -> T | None:
        """The next block, or ``None`` once closed and drained."""
        while not self._items:
            if self._closed:
                return None
            self._ready.clear()
            if self._items or self._closed:
                continue
            await self._ready.wait()
        return self._items.popleft()

    async def wait_nonempty(self) -> None:
        """Return once a block is waiting (without taking it)."""
        while not self._items and not self._closed:
            self._ready.clear()
            if self._items or self._closed:
                return
            await self._ready.wait()

    def get_nowait(self) -> T | None:
        return self._items.popleft() if self._items else None
