"""What every live call of one server process shares: the engines, the brains, the worker pool."""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from vatel.server.engines.brain import Brain
from vatel.server.engines.loading import Engines


def default_pool() -> ThreadPoolExecutor:
    """Blocking inference runs here, never on the event loop; sized to the cores."""
    return ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="vatel-engine")


@dataclass(frozen=True)
class LiveServices:
    engines: Engines
    brains: Mapping[str, Brain]
    pool: ThreadPoolExecutor = field(default_factory=default_pool)

    def brain_for(self, llm: str) -> Brain:
        """The agent's brain; an ``llm`` this server lacks gets the first one (the scripted brain)."""
        return self.brains.get(llm) or next(iter(self.brains.values()))
