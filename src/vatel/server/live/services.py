"""What every live call of one server process shares: the engines, the brains, the worker pool."""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from vatel.server.engines.brain import Brain
from vatel.server.engines.fallback_brain import FallbackBrain
from vatel.server.engines.llm_brain import LLMBrain
from vatel.server.engines.loading import Engines
from vatel.server.live.usage import CpuUsage


def default_pool() -> ThreadPoolExecutor:
    """Blocking inference runs here, never on the event loop: two workers more than the cores, so a
    short job (the end-of-turn model, 50 ms) never queues behind two whisper decodes; the engines
    run in native code, which releases the GIL."""
    return ThreadPoolExecutor(max_workers=(os.cpu_count() or 2) + 2, thread_name_prefix="vatel-engine")


def interim_pool() -> ThreadPoolExecutor:
    """Interim transcripts are best-effort: one thread for every call's, so they never hold up
    what the caller waits for (the final transcript, the end-of-turn model, the voice). Under
    load they fall behind (pocketsphinx keeps the audio queued), they do not slow the turns down."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="vatel-interim")


def turn_pool() -> ThreadPoolExecutor:
    """The end-of-turn model on threads of its own (one per core): it decides when the caller is
    done, and on a busy server it queued behind the calls' whisper decodes in the shared pool
    (6 callers: the end of turn's p95 grew 1.6x)."""
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="vatel-turn")


@dataclass(frozen=True)
class LiveServices:
    engines: Engines
    brains: Mapping[str, Brain]
    pool: ThreadPoolExecutor = field(default_factory=default_pool)
    interim_pool: ThreadPoolExecutor = field(default_factory=interim_pool)
    turn_pool: ThreadPoolExecutor = field(default_factory=turn_pool)
    usage: CpuUsage = field(default_factory=CpuUsage)
    """CPU per component, counted by every call (``GET /debug/usage``)."""
    audio_chunk_seconds: float = 0.04
    """The length of each ``response_audio`` chunk: shorter stops faster on a barge-in at the client,
    longer costs less CPU per second of audio (``vatel serve --audio-chunk-ms``)."""

    def brain_for(self, llm: str, fallback_llm: str = "") -> Brain:
        """The agent's brain; an ``llm`` this server lacks gets the first one (the scripted brain).

        An LLM with a ``fallback_llm`` this server has is wrapped so the fallback answers a turn
        the LLM's server cannot (``FallbackBrain``)."""
        brain = self.brains.get(llm) or next(iter(self.brains.values()))
        fallback = self.brains.get(fallback_llm)
        if isinstance(brain, LLMBrain) and fallback is not None and fallback is not brain:
            return FallbackBrain(brain, fallback)
        return brain
