"""From a callback thread to the event loop: order kept, bounded, never blocking the producer."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from vatel.audio.handoff import BlockHandoff

pytestmark = pytest.mark.unit


async def test_blocks_from_another_thread_arrive_in_order() -> None:
    handoff: BlockHandoff[int] = BlockHandoff(asyncio.get_running_loop(), capacity=10_000)

    def produce() -> None:
        for i in range(5000):
            handoff.push(i)
            if i % 500 == 0:
                time.sleep(0.001)

    thread = threading.Thread(target=produce)
    thread.start()
    got = [await handoff.get() for _ in range(5000)]
    thread.join()
    assert got == list(range(5000))
    assert handoff.dropped == 0


async def test_a_consumer_that_falls_behind_loses_the_oldest_blocks_counted() -> None:
    handoff: BlockHandoff[int] = BlockHandoff(asyncio.get_running_loop(), capacity=3)
    start = time.perf_counter()
    for i in range(10):
        handoff.push(i)  # never waits for the consumer
    assert time.perf_counter() - start < 0.05
    assert handoff.dropped == 7
    assert [await handoff.get() for _ in range(3)] == [7, 8, 9]


async def test_close_ends_a_waiting_get_after_the_queue_drains() -> None:
    handoff: BlockHandoff[int] = BlockHandoff(asyncio.get_running_loop(), capacity=3)
    waiting = asyncio.ensure_future(handoff.get())
    await asyncio.sleep(0)
    handoff.push(1)
    assert await waiting == 1
    handoff.push(2)
    handoff.close()
    handoff.push(3)  # after close: ignored
    assert await handoff.get() == 2
    assert await handoff.get() is None


def test_pushing_after_the_loop_closed_does_not_raise() -> None:
    loop = asyncio.new_event_loop()
    handoff: BlockHandoff[int] = BlockHandoff(loop, capacity=3)
    loop.close()
    handoff.push(1)
    handoff.push(2)
