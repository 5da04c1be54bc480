"""The native threads a model library starts for itself, and the CPU they spend (Linux).

Some engines compute outside the thread that calls them: CTranslate2 (Whisper) decodes on its own
worker threads, so a clock read in the caller sees a few milliseconds of a 0.5 s decode. Such an
engine notes the threads that appeared while it loaded and first ran (``native_threads``), and the
server's CPU accounting reads their clocks. Elsewhere than Linux there is no ``/proc``: no
threads are found and their CPU reads as zero.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

_TASKS = Path("/proc/self/task")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def native_thread_ids() -> frozenset[int]:
    """Every thread of this process, by kernel id (empty without ``/proc``)."""
    try:
        return frozenset(int(name) for name in os.listdir(_TASKS))
    except OSError:
        return frozenset()


def threads_started_by(work: Callable[[], T]) -> tuple[T, frozenset[int]]:
    """``work()`` and the threads that exist after it and did not before."""
    before = native_thread_ids()
    result = work()
    return result, native_thread_ids() - before


def threads_cpu_seconds(threads: Iterable[int]) -> float:
    """User + system CPU of these threads so far (10 ms resolution); gone threads count as zero."""
    total = 0
    for tid in threads:
        try:
            stat = (_TASKS / str(tid) / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return total / _TICKS


def lower_priority(threads: Iterable[int], nice: int) -> int:
    """Give these threads at least ``nice`` (Linux sets it per thread); how many were changed.

    Used to let latency-critical work win a busy CPU: the end-of-turn model decides when the
    caller is done (46 ms), while a speculative Whisper decode of the same pause can wait.
    """
    changed = 0
    for tid in threads:
        try:
            current = os.getpriority(os.PRIO_PROCESS, tid)
            if current < nice:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
                changed += 1
        except OSError:  # gone, or not ours to change
            continue
    return changed
