"""Latency-critical work wins a busy CPU: Whisper's own threads and the interims' process run at a
lower priority (a higher nice value) than the event loop and the end-of-turn model."""

from __future__ import annotations

import os
import threading

import pytest

from vatel.server.engines.loading import DECODE_NICE, Engines
from vatel.server.engines.native_threads import lower_priority
from vatel.server.engines.recognizer_process import CHILD_NICE, ProcessRecognizer


def _nice(tid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, tid)


@pytest.mark.unit
def test_lower_priority_changes_only_the_threads_it_is_given() -> None:
    ready, done = threading.Event(), threading.Event()
    ids: list[int] = []

    def idle() -> None:
        ids.append(threading.get_native_id())
        ready.set()
        done.wait(10)

    worker = threading.Thread(target=idle)
    worker.start()
    ready.wait(10)
    try:
        [tid] = ids
        before = _nice(tid)
        mine = _nice(threading.get_native_id())
        assert lower_priority([tid, 2**22 + 12345], before + 3) == 1  # a thread that is gone is skipped
        assert _nice(tid) == before + 3
        assert _nice(threading.get_native_id()) == mine
        assert lower_priority([tid], before + 1) == 0  # never raises a priority back
        assert _nice(tid) == before + 3
    finally:
        done.set()
        worker.join()


@pytest.mark.models
def test_whisper_threads_and_the_interim_process_yield_to_the_turns(engines: Engines) -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    threads = [
        tid
        for tid in getattr(engines.final_stt, "native_threads", ())
        if os.path.exists(f"/proc/self/task/{tid}")
    ]
    assert threads, "Whisper's native threads were not found"
    assert all(_nice(tid) >= max(base, DECODE_NICE) for tid in threads)
    interim = engines.interim_stt
    assert isinstance(interim, ProcessRecognizer) and interim.pid is not None
    assert os.getpriority(os.PRIO_PROCESS, interim.pid) == min(19, base + CHILD_NICE)
    assert _nice(threading.get_native_id()) == base  # the caller's thread (the event loop's) is untouched
